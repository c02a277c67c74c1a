//! The SQL functions of metering, billing and metrics (migrations/20261130002200_metering.sql,
//! …002300_billing_reads.sql, …002400_metrics_functions.sql).
use super::rpc;
use crate::domain::Cents;
use crate::runner::Delivery;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// What one meter run did: charges written, machines stopped for want of credits, and
/// their stop jobs to deliver.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Metered {
    pub charges: i64,
    pub charged_cents: Cents,
    /// Machines owing a cent that a transition had locked: the next run charges them.
    pub skipped: Vec<Uuid>,
    pub stopped: Vec<Uuid>,
    pub deliveries: Vec<Delivery>,
}

rpc! {
    /// The meter (service role): charges what billed machines owe up to `now` (absent:
    /// the database clock), then stops the machines of accounts at or below zero.
    /// `account_id` limits it to one account (tests, operators).
    Meter => "hangar_meter" -> Metered { now: Option<String>, account_id: Option<Uuid> }
}

rpc! {
    /// The scheduler's pruning of samples older than 8 days: `{pruned}`.
    PruneMetrics => "hangar_prune_metrics" -> Value {}
}

/// A page of billing records, the balance and the month's usage.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BillingPage {
    pub balance_cents: Cents,
    pub records: Vec<super::Raw>,
    pub usage: super::Raw,
    pub next: Option<Value>,
}

rpc! {
    /// `get-billing`: keyset pages of records, newest first; `period` is a month's first day.
    GetBilling => "hangar_get_billing" -> BillingPage {
        limit: i64,
        cursor_ts: Option<String>,
        cursor_id: Option<Uuid>,
        period: Option<String>,
    }
}

/// What record-metrics stored.
#[derive(Deserialize)]
pub(crate) struct Recorded {
    pub accepted: i64,
}

rpc! {
    /// `record-metrics` (service role): the machine whose agent token hashes to
    /// `token_hash` (and is `machine_id`, when the agent names it) gets `samples`.
    RecordMetrics => "hangar_record_metrics" -> Recorded {
        token_hash: String,
        machine_id: Option<Uuid>,
        samples: Value,
    }
}

rpc! {
    /// `insights`: series and summary of the caller's machine over `period` (1h, 24h, 7d);
    /// without a machine, a summary of each machine the caller sees.
    Insights => "hangar_insights" -> super::Raw { machine_id: Option<Uuid>, period: String }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Rpc;
    use serde_json::json;

    #[test]
    fn the_meter_outcome_decodes_and_its_arguments_are_prefixed() {
        let m: Metered = serde_json::from_value(json!({
            "at": "2026-11-30T10:00:00.000Z", "charges": 2, "chargedCents": 15,
            "skipped": [], "stopped": ["6e603a27-0dc1-484d-a15e-5a13e402ded0"],
            "deliveries": [{"jobId": "6e603a27-0dc1-484d-a15e-5a13e402ded1", "action": "stop", "payload": "{}"}]
        }))
        .unwrap();
        assert_eq!((m.charges, m.stopped.len(), m.deliveries.len()), (2, 1, 1));
        assert!(serde_json::from_value::<Metered>(json!({"charges": 1, "chargedCents": 1.5, "skipped": [], "stopped": [], "deliveries": []})).is_err(),
            "cents are integers");
        assert_eq!(Meter::FUNCTION, "hangar_meter");
        let args = serde_json::to_value(Meter { now: None, account_id: Some(Uuid::nil()) }).unwrap();
        assert_eq!(args, json!({"p_now": null, "p_account_id": Uuid::nil()}));
    }
}
