//! `runner-callback`: the runner's signed reports on a job, applied in one SQL call.
use crate::clock;
use crate::db::{self, Db, Who};
use crate::error::ApiError;
use crate::http::{parse_json, Call};
use crate::http::Reply;
use protocol::signing;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum JobStatus {
    Running,
    Succeeded,
    Failed,
}

impl JobStatus {
    fn as_str(&self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        }
    }
}

/// These types come from our own definitions, so serializing them cannot fail.
fn to_value(v: &impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Outputs {
    #[serde(default)]
    ip_address: Option<String>,
    #[serde(default)]
    provider_instance_id: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct LogLine {
    #[serde(default)]
    level: Option<String>,
    message: String,
    #[serde(default)]
    ts: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Report {
    job_id: Uuid,
    status: JobStatus,
    #[serde(default)]
    outputs: Option<Outputs>,
    #[serde(default)]
    logs: Vec<LogLine>,
    #[serde(default)]
    result: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    error: Option<String>,
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
    let mut report: Report = parse_json(&raw)?;
    for line in &mut report.logs {
        if line.message.len() > MAX_MESSAGE {
            let cut = (0..=MAX_MESSAGE).rev().find(|i| line.message.is_char_boundary(*i)).unwrap_or(0);
            line.message.truncate(cut);
        }
    }
    let args = db::JobCallback {
        job_id: report.job_id,
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
