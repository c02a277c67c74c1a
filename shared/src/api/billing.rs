//! `get-billing` (API.md §4): the caller's balance, a page of their billing records
//! (charges, credits, the signup grant; newest first, keyset cursor) and the usage of
//! one month per machine, in one SQL function (one PostgREST round trip). Money is
//! integer cents; charges come from the meter (migrations/20261130002200_metering.sql).
use crate::auth::Caller;
use crate::db::{self, Db, Who};
use crate::domain::{Month, PageCursor, PageQuery};
use crate::error::ApiError;
use crate::http::{Call, Reply};
use serde::Serialize;

/// `get-billing` `?limit=(1..100, default 50)&cursor=&period=YYYY-MM` (default: this month, UTC).
pub async fn get(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let asked = PageQuery::parse(call.query("limit").as_deref(), call.query("cursor").as_deref())?;
    let period = call.query("period").map(|p| Month::parse("period", &p)).transpose()?;
    let args = db::GetBilling {
        limit: asked.limit,
        cursor_ts: asked.cursor_ts(),
        cursor_id: asked.cursor_id(),
        period: period.map(Month::first_day),
    };
    let page = Db::new(&call.config).rpc(&args, Who::User(&caller.token)).await?;
    let message = format!("Balance: {}", page.balance_cents);
    Ok(Reply::ok(Billing {
        balance_cents: page.balance_cents,
        next_cursor: page.next.as_ref().map(PageCursor::encode),
        records: page.records,
        usage: page.usage,
    })
    .message(message))
}

/// get-billing's data (records and usage copied as SQL wrote them).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Billing {
    balance_cents: crate::domain::Cents,
    records: Vec<db::Raw>,
    usage: db::Raw,
    next_cursor: Option<String>,
}
