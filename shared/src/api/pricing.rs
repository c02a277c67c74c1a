//! `get-pricing` (API.md §4): the tiers and their prices, without signing in. One
//! PostgREST call with the anon key (anon may read the tiers table), so the price list
//! is the table the balance checks use, never a copy.
use crate::db::{self, Db, Who};
use crate::error::ApiError;
use crate::http::{Call, Reply};

pub async fn pricing(call: Call) -> Result<Reply, ApiError> {
    let prices = Db::new(&call.config).rpc(&db::Pricing {}, Who::User(call.config.anon_key.expose())).await?;
    Ok(Reply::ok(prices))
}
