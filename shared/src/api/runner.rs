//! The runner's entry points: `runner-callback` (signed reports, API.md §5) and the
//! `scheduler` (cron, or POST with the service-role key for operators and tests), whose
//! tick also meters usage and prunes metrics (API.md §4).
use crate::config::Config;
use crate::error::ApiError;
use crate::http::{Call, Reply};
use crate::log;
use crate::runner::{callback, scheduler};
use serde_json::json;
use worker::Env;

/// `runner-callback` (public: the signature is the authentication).
pub async fn callback(call: Call) -> Result<Reply, ApiError> {
    callback::receive(call).await
}

/// `scheduler` POST: one tick, answered with its report.
pub async fn tick(mut call: Call) -> Result<Reply, ApiError> {
    call.no_body().await?;
    let report = scheduler::tick(&call.config, &call.request_id).await?;
    Ok(Reply::ok(report))
}

/// `scheduler` cron: one tick, logged.
pub async fn cron(env: Env) {
    let request_id = format!("cron-{}", crate::clock::now_millis());
    let outcome = match Config::from_env(&env) {
        Ok(config) => scheduler::tick(&config, &request_id).await,
        Err(e) => Err(e),
    };
    let line = match outcome {
        Ok(report) => json!({"level": "info", "request_id": request_id, "function": "scheduler", "report": report}),
        Err(e) => json!({"level": "error", "request_id": request_id, "function": "scheduler",
            "error": e.internal_detail().unwrap_or_else(|| e.code().into())}),
    };
    log::line(&line);
}
