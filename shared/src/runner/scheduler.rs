//! The `scheduler` tick (cron every minute, and the service-role POST): meters usage
//! (charges, and stops the machines of accounts at or below zero), prunes old metrics,
//! and delivers the meter's stop jobs together with the due jobs of the outbox.
//! Metering comes first and is not held up by delivery; a meter that fails does not
//! hold up delivery either (its error is the tick's, after the jobs have gone).
use crate::config::Config;
use crate::db::{self, Db, Metered, Who};
use crate::domain::Cents;
use crate::runner::deliver::{deliver, Delivered, Delivery};
use crate::error::ApiError;
use serde::Serialize;
use serde_json::Value;

/// Jobs one tick takes (the lease they get is the database's `job_lease_seconds`).
const BATCH: i64 = 50;

#[derive(Serialize, Default, Debug)]
#[serde(rename_all = "camelCase")]
pub struct TickReport {
    /// Jobs this tick sent: the outbox's due jobs and the meter's stop jobs.
    pub claimed: usize,
    /// The reaper, first: lifecycle jobs past their timeout (failed, machine in error), and
    /// jobs whose runner went quiet, back in the queue (and in `claimed`).
    pub timed_out: i64,
    pub requeued: i64,
    pub delivered: usize,
    pub refused: usize,
    /// Charge records the meter wrote, and their total.
    pub charges: i64,
    pub charged_cents: Cents,
    /// Machines owing a cent that were locked by a transition: charged by the next tick.
    pub skipped: usize,
    /// Machines the meter stopped because their account is at or below zero.
    pub stopped: usize,
    /// Metric samples older than 8 days removed.
    pub pruned: i64,
    /// Secrets resealed under `SECRETS_KEY` during a key rotation (runner/rotation.rs).
    pub reencrypted: usize,
    /// Secrets that rotation could not open, set aside by this tick (`health` counts all).
    pub unopenable: usize,
}

pub async fn tick(config: &Config, request_id: &str) -> Result<TickReport, ApiError> {
    let db = Db::new(config);
    // The database's clock: the one the status-change trigger uses too.
    let metered = db.rpc(&db::Meter { now: None, account_id: None }, Who::Service).await;
    let pruned = db.rpc(&db::PruneMetrics {}, Who::Service).await;
    // Without a runner every job waits in the outbox, the meter's stop jobs too.
    let mut sends: Vec<Delivery> = Vec::new();
    let (mut timed_out, mut requeued) = (0, 0);
    if !config.runners.is_empty() {
        if let Ok(m) = &metered {
            sends.extend(m.deliveries.iter().cloned());
        }
        // Each job's payload is its own JSON text: one that cannot be decoded fails alone.
        let due = db.rpc(&db::ClaimDueJobs { limit: BATCH }, Who::Service).await?;
        (timed_out, requeued) = (due.timed_out, due.requeued);
        sends.extend(due.jobs);
    }
    let outcomes = futures_util::future::join_all(sends.into_iter().map(|d| deliver(config.clone(), d, request_id.to_string()))).await;
    let rotation = crate::runner::rotation::reencrypt(config, request_id).await;
    let metered: Metered = metered?;
    Ok(TickReport {
        claimed: outcomes.len(),
        timed_out,
        requeued,
        delivered: outcomes.iter().filter(|o| **o == Delivered::Accepted).count(),
        refused: outcomes.iter().filter(|o| **o != Delivered::Accepted).count(),
        charges: metered.charges,
        charged_cents: metered.charged_cents,
        skipped: metered.skipped.len(),
        stopped: metered.stopped.len(),
        pruned: pruned?.get("pruned").and_then(Value::as_i64).unwrap_or(0),
        reencrypted: rotation.reencrypted,
        unopenable: rotation.unopenable,
    })
}
