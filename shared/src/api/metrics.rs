//! Metrics in and out (API.md §4). `record-metrics` is the agent's: a public route whose
//! bearer token is the machine's agent token (handed to the runner once, on create; the
//! database keeps only its SHA-256, as for refresh tokens), checked by the same SQL call
//! that stores the samples, so a wrong token, or another machine's when the agent names
//! its machine (`?machineId=`), is 401. `insights` is the owner's: the series and the
//! averages and peaks of one machine over the last hour, day or week, computed in SQL.
use crate::auth::{bearer_token, refresh, Caller};
use crate::db::{self, Db, Who};
use crate::domain::{parse_id, MetricsPeriod, Sample};
use crate::error::ApiError;
use crate::http::{Call, Reply};
use serde_json::json;

/// Longer than any token we hand out (43 characters): not worth hashing.
const MAX_TOKEN_LEN: usize = 256;

/// `record-metrics`: one sample or an array of up to 100 → 202 `{ accepted }`.
pub async fn record(mut call: Call) -> Result<Reply, ApiError> {
    let token = bearer_token(call.header("authorization").as_deref()).ok_or(ApiError::Unauthorized)?;
    if token.len() > MAX_TOKEN_LEN {
        return Err(ApiError::InvalidToken);
    }
    let machine_id = call.query("machineId").map(|m| parse_id("machineId", Some(&m))).transpose()?;
    let samples = Sample::parse_body(&call.body().await?, crate::clock::now())?;
    let args = db::RecordMetrics {
        token_hash: refresh::hash(&token),
        machine_id,
        samples: serde_json::to_value(&samples).map_err(|e| ApiError::Internal(format!("encode samples: {e}")))?,
    };
    let recorded = Db::new(&call.config).rpc(&args, Who::Service).await?;
    crate::http::rate_limit::agent_verified(&args.token_hash);
    Ok(Reply::accepted(json!({ "accepted": recorded.accepted })))
}

/// `insights` `?machineId=&period=1h|24h|7d` (default 1h); without `machineId`, one
/// `{ machineId, name, status, summary }` per machine the caller sees (seed 000's overview).
pub async fn insights(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let machine_id = call.query("machineId").map(|m| parse_id("machineId", Some(&m))).transpose()?;
    let period = MetricsPeriod::parse(call.query("period").as_deref())?;
    let args = db::Insights { machine_id, period: period.as_str().to_string() };
    let data = Db::new(&call.config).rpc(&args, Who::User(&caller.token)).await?;
    Ok(Reply::ok(data))
}
