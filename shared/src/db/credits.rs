//! The SQL functions of money in: the price list (`get-pricing`, migrations/20261130001200_pricing.sql)
//! and an operator's credits (`add-credits`, migrations/20261130001300_credits.sql).
use super::rpc;
use serde::Deserialize;
use uuid::Uuid;

rpc! {
    /// `get-pricing`: `{tiers, currency}`, callable with the anon key.
    Pricing => "hangar_pricing" -> super::Raw {}
}

/// The `credit` record written, and the balance it led to.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Credited {
    pub record: super::Raw,
    pub balance_cents: i64,
}

rpc! {
    /// `add-credits` (service role only): the balance and its record, in one transaction.
    AddCredits => "hangar_add_credits" -> Credited { user_id: Uuid, amount_cents: i64, description: String }
}
