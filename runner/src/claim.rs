//! The claim of a job (API.md §5, "Claims"): a signed `{jobId, status: claimed, runnerId}`
//! to the job's callback URL before it runs. The database answers with the lease and the
//! fencing number the reports then carry, or why the job is not this runner's to run.
use crate::callback::{Callbacks, Delivery};
use protocol::payload::{Callback, ClaimAnswer};
use std::time::Duration;

/// What a claim came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Claimed {
    /// Run it, under this fence; the lease is `lease_seconds`.
    Yes { fence: u64, lease_seconds: u64 },
    /// An earlier job of the machine is not done: ask again in a while.
    Busy,
    /// Not to be run here: finished, terminated, or leased by another runner.
    No(String),
    /// No usable answer (unreachable, refused, malformed): not run; the reaper gives the
    /// job out again.
    Unanswered(String),
}

/// How long to wait before asking again after `busy`: doubling up to the max.
pub const BUSY_RETRY: Duration = Duration::from_secs(1);
pub const BUSY_RETRY_MAX: Duration = Duration::from_secs(8);

pub async fn claim(callbacks: &Callbacks, url: &str, job_id: &str, runner_id: &str) -> Claimed {
    let body = serde_json::to_value(Callback::claim(job_id, runner_id)).expect("serialisable");
    match callbacks.deliver(url, &body).await {
        Delivery::Delivered(data) => match serde_json::from_value::<ClaimAnswer>(data) {
            Ok(ClaimAnswer { claimed: true, fence: Some(fence), lease_seconds, .. }) => Claimed::Yes { fence, lease_seconds },
            Ok(ClaimAnswer { claimed: false, reason: Some(reason), .. }) if reason == "busy" => Claimed::Busy,
            Ok(ClaimAnswer { claimed: false, reason, .. }) => Claimed::No(reason.unwrap_or_else(|| "refused".into())),
            Ok(answer) => Claimed::Unanswered(format!("a claim answer without its fence: {answer:?}")),
            Err(e) => Claimed::Unanswered(format!("not a claim answer: {e}")),
        },
        Delivery::Rejected(status, text) => Claimed::Unanswered(format!("claim refused ({status}): {text}")),
        Delivery::Failed(e) => Claimed::Unanswered(e),
    }
}
