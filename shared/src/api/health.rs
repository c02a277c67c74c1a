//! `health`: can this function reach the database (through PostgREST) and the runner?
use crate::db::{self, Db, Who};
use crate::error::ApiError;
use crate::http::Call;
use crate::http::Reply;
use serde_json::json;

pub async fn check(call: Call) -> Result<Reply, ApiError> {
    let (database, unopenable) = match Db::new(&call.config).rpc(&db::Health {}, Who::Service).await {
        Ok(data) => ("ok", data.get("unopenableSecrets").and_then(serde_json::Value::as_u64)),
        Err(e) => {
            crate::log::line(&json!({"level": "warn", "request_id": call.request_id, "check": "database",
                "error": e.internal_detail().unwrap_or_else(|| e.code().into())}));
            ("error", None)
        }
    };
    // A runner being down delays provisioning (jobs wait in the outbox) but the API
    // works: it is reported, not counted against health. A runner in another mode than the
    // stage expects (simulate in production: fake machines reported as running) is.
    let runner = crate::runner::deliver::runners_health(&call.config).await;
    let healthy = database == "ok";
    let status = match (healthy, runner.wrong_mode) {
        (false, _) => "unhealthy",
        (true, true) => "degraded",
        (true, false) => "healthy",
    };
    let report = json!({
        "status": status,
        // Secrets a key rotation could not open (runner/rotation.rs): reported, not counted
        // against health (null when the database did not answer).
        "checks": { "database": database, "runner": runner.report, "secrets": { "unopenable": unopenable } },
        "version": call.config.version,
    });
    Ok(if healthy {
        Reply::ok(report)
    } else {
        Reply::failing(report, ApiError::Unavailable("database check failed".into()))
    })
}
