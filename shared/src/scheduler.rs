//! The `scheduler` cron: re-delivers due jobs from the outbox.
use crate::config::Config;
use crate::db::{As, Db};
use crate::dispatch::{self, Delivered, Delivery};
use crate::error::ApiError;
use serde::Serialize;
use serde_json::json;

/// Jobs one tick takes, and how long they stay leased to it.
const BATCH: i64 = 50;
const LEASE_SECS: i64 = 60;

#[derive(Serialize, Default, Debug)]
#[serde(rename_all = "camelCase")]
pub struct TickReport {
    pub claimed: usize,
    pub delivered: usize,
    pub refused: usize,
}

pub async fn tick(config: &Config, request_id: &str) -> Result<TickReport, ApiError> {
    if config.runner_url.is_none() {
        return Ok(TickReport::default());
    }
    let args = json!({ "p_limit": BATCH, "p_lease_seconds": LEASE_SECS });
    // Each job's payload is its own JSON text: one that cannot be decoded fails alone.
    let due: Vec<Delivery> = Db::new(config).call("hangar_claim_due_jobs", &args, As::Service).await?;
    let sends = due
        .into_iter()
        .map(|d| dispatch::deliver(config.clone(), d, request_id.to_string()));
    let outcomes = futures_util::future::join_all(sends).await;
    Ok(TickReport {
        claimed: outcomes.len(),
        delivered: outcomes.iter().filter(|o| **o == Delivered::Accepted).count(),
        refused: outcomes.iter().filter(|o| **o != Delivered::Accepted).count(),
    })
}
