//! `runner-callback`: the runner's signed reports on a job, applied in one SQL call. The
//! report is the wire contract's own type (`protocol::payload::Callback`), the one the
//! runner sends; what the database needs beyond it (a UUID job id, RFC 3339 times) is
//! checked here, so a malformed report is a 400 and never a failed SQL cast.
use crate::clock;
use crate::db::{self, Db, Who};
use crate::error::ApiError;
use crate::http::{parse_json, Call, Reply};
use protocol::payload::Callback;
use protocol::signing;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// Our own types serialize without fail.
fn to_value(v: &impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Log messages are kept to 4 KiB each.
const MAX_MESSAGE: usize = 4096;

pub(crate) async fn receive(mut call: Call) -> Result<Reply, ApiError> {
    let secret = call.config.runner_secret()?.to_string();
    let raw = call.body().await?;
    let header = call.header(signing::HEADER);
    // The runner's own context: a webhook body the Workers signed never verifies here.
    let signature = signing::verify(&secret, signing::Direction::Callback, header.as_deref(), &raw, clock::now_millis() / 1000)
        .map_err(|_| ApiError::InvalidToken)?;
    let mut report: Callback = parse_json(&raw)?;
    let job_id = Uuid::parse_str(&report.job_id).map_err(|_| ApiError::validation("jobId", "`jobId` must be a UUID"))?;
    for (i, line) in report.logs.iter_mut().enumerate() {
        if line.ts.as_deref().is_some_and(|ts| chrono::DateTime::parse_from_rfc3339(ts).is_err()) {
            return Err(ApiError::validation(format!("logs[{i}].ts"), "`ts` must be an RFC 3339 timestamp"));
        }
        if line.message.len() > MAX_MESSAGE {
            let cut = (0..=MAX_MESSAGE).rev().find(|i| line.message.is_char_boundary(*i)).unwrap_or(0);
            line.message.truncate(cut);
        }
    }
    let args = db::JobCallback {
        job_id,
        status: report.status.as_str().to_string(),
        outputs: report.outputs.as_ref().map(to_value),
        logs: to_value(&report.logs),
        result: report.result.map(Value::Object),
        error: report.error,
        // The parsed (t, v1) identifies this exact report whatever the header's spelling:
        // a replay carries the same pair again.
        signature: signature.canonical(),
    };
    let applied = Db::new(&call.config).rpc(&args, Who::Service).await?;
    // A report for a cancelled create queues a terminate (API.md §5): hand it over now.
    crate::runner::hand_over(&call, applied.delivery);
    Ok(Reply::ok(applied.report))
}
