//! `runner-callback`: the runner's signed calls on a job, each applied in one SQL call:
//! the claim (`status: claimed`, hangar_job_claim) and the reports under it (with its
//! `fence`, hangar_job_callback). The body is the wire contract's own type
//! (`protocol::payload::Callback`), the one the runner sends; what the database needs
//! beyond it (a UUID job id, RFC 3339 times, the field each kind of call needs) is checked
//! here, so a malformed call is a 400 and never a failed SQL cast.
use crate::clock;
use crate::db::{self, Db, Who};
use crate::error::ApiError;
use crate::http::{parse_json, Call, Reply};
use protocol::payload::{Callback, JobStatus};
use protocol::signing;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// Our own types serialize without fail.
fn to_value(v: &impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

pub(crate) async fn receive(mut call: Call) -> Result<Reply, ApiError> {
    let secret = call.config.runner_secret()?.to_string();
    let raw = call.body().await?;
    let header = call.header(signing::HEADER);
    // The runner's own context: a webhook body the Workers signed never verifies here.
    let signature = signing::verify(&secret, signing::Direction::Callback, header.as_deref(), &raw, clock::now_millis() / 1000)
        .map_err(|_| ApiError::InvalidToken)?;
    let mut report: Callback = parse_json(&raw)?;
    let job_id = Uuid::parse_str(&report.job_id).map_err(|_| ApiError::validation("jobId", "`jobId` must be a UUID"))?;
    if report.status == JobStatus::Claimed {
        let runner_id = match (report.runner_id, report.fence) {
            (_, Some(_)) => return Err(ApiError::validation("fence", "a claim carries no `fence`")),
            (Some(id), None) => id,
            (None, None) => return Err(ApiError::validation("runnerId", "a claim needs `runnerId`")),
        };
        let claim = db::JobClaim { job_id, runner_id };
        return Ok(Reply::ok(Db::new(&call.config).rpc(&claim, Who::Service).await?));
    }
    if report.runner_id.is_some() {
        return Err(ApiError::validation("runnerId", "only a claim carries `runnerId`"));
    }
    let fence = report.fence.ok_or_else(|| ApiError::validation("fence", "a report needs the `fence` of its claim"))?;
    let fence = i64::try_from(fence).map_err(|_| ApiError::validation("fence", "`fence` is out of range"))?;
    let mut logs = std::mem::take(&mut report.logs);
    for (i, line) in logs.iter().enumerate() {
        if line.ts.as_deref().is_some_and(|ts| chrono::DateTime::parse_from_rfc3339(ts).is_err()) {
            return Err(ApiError::validation(format!("logs[{i}].ts"), "`ts` must be an RFC 3339 timestamp"));
        }
    }
    logs = logs.into_iter().map(|l| l.capped()).collect();
    let args = db::JobCallback {
        job_id,
        status: report.status.as_str().to_string(),
        outputs: report.outputs.as_ref().map(to_value),
        logs: to_value(&logs),
        result: report.result.map(Value::Object),
        error: report.error,
        // The parsed (t, v1) identifies this exact report whatever the header's spelling:
        // a replay carries the same pair again.
        signature: signature.canonical(),
        fence,
    };
    let applied = Db::new(&call.config).rpc(&args, Who::Service).await?;
    // A report for a cancelled create queues a terminate (API.md §5): hand it over now.
    crate::runner::hand_over(&call, applied.delivery);
    Ok(Reply::ok(applied.report))
}
