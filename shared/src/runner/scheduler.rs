//! The `scheduler` cron: re-delivers due jobs from the outbox.
use crate::config::Config;
use crate::db::{self, Db, Who};
use crate::runner::deliver::{deliver, Delivered, Delivery};
use crate::error::ApiError;
use serde::Serialize;

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
    // Each job's payload is its own JSON text: one that cannot be decoded fails alone.
    let due: Vec<Delivery> = Db::new(config).rpc(&db::ClaimDueJobs { limit: BATCH, lease_seconds: LEASE_SECS }, Who::Service).await?;
    let sends = due
        .into_iter()
        .map(|d| deliver(config.clone(), d, request_id.to_string()));
    let outcomes = futures_util::future::join_all(sends).await;
    Ok(TickReport {
        claimed: outcomes.len(),
        delivered: outcomes.iter().filter(|o| **o == Delivered::Accepted).count(),
        refused: outcomes.iter().filter(|o| **o != Delivered::Accepted).count(),
    })
}
