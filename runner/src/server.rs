//! The HTTP side: `POST /` (or `/webhook`) takes signed jobs, `GET /health` reports.
//! A webhook must carry a signature made for the webhook direction (a callback's signature
//! is refused as a mismatch) and a body that is exactly the wire contract (`protocol`).
use crate::callback::now_secs;
use crate::job::{self, Job};
use crate::journal::Admission;
use crate::pool::Pool;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use protocol::signing::{self, Direction};
use std::sync::Arc;

/// Jobs are small (the machine's configuration is at most 16 KiB), but a create or deploy
/// carries the machine's secrets: up to 50 (max_secrets_per_account) of 8 KiB, which JSON
/// escaping may grow up to sixfold.
const MAX_JOB_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone)]
pub struct App {
    pub pool: Arc<Pool>,
    pub secret: Arc<str>,
}

pub fn router(app: App) -> Router {
    Router::new()
        .route("/", post(webhook))
        .route("/webhook", post(webhook))
        .route("/health", get(health))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "No such endpoint", Value::Null) })
        .layer(DefaultBodyLimit::max(MAX_JOB_BYTES))
        .with_state(app)
}

fn error(status: StatusCode, code: &str, message: &str, details: Value) -> Response {
    let mut body = json!({"success": false, "error_code": code, "message": message, "timestamp": crate::job::now_rfc3339()});
    if !details.is_null() {
        body["details"] = details;
    }
    (status, Json(body)).into_response()
}

async fn health(State(app): State<App>) -> Response {
    let mode = app.pool.ctx().executor.mode().as_str();
    Json(json!({
        "status": "ok",
        "mode": mode,
        "runnerId": app.pool.ctx().runner_id,
        "running": app.pool.running(),
        "queued": app.pool.queued(),
        "version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response()
}

async fn webhook(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let header = headers.get(signing::HEADER).and_then(|v| v.to_str().ok());
    if let Err(e) = signing::verify(&app.secret, Direction::Webhook, header, &body, now_secs()) {
        let reason = e.reason();
        crate::log_event!("warn", "webhook_refused", {"reason": reason, "bytes": body.len()});
        let message = format!("Invalid {} header ({reason})", signing::HEADER);
        return error(StatusCode::UNAUTHORIZED, "unauthorized", &message, json!({"reason": reason}));
    }
    if app.pool.ctx().cancel.is_cancelled() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "The runner is shutting down", Value::Null);
    }
    let job: Job = match serde_json::from_slice(&body) {
        Ok(job) => job,
        Err(e) => {
            let code = if e.is_syntax() || e.is_eof() { "invalid_json" } else { "validation_error" };
            crate::log_event!("warn", "webhook_invalid", {"error": e.to_string()});
            return error(StatusCode::BAD_REQUEST, code, &format!("Not a job: {e}"), Value::Null);
        }
    };
    if let Err((field, why)) = job::validate(&job) {
        crate::log_event!("warn", "webhook_invalid", {"jobId": job.job_id, "field": field, "error": why});
        return error(StatusCode::BAD_REQUEST, "validation_error", &format!("`{field}` {why}"), json!({"field": field}));
    }
    // Only what this process holds is a duplicate here; anything else is the claim's to refuse.
    let duplicate = match app.pool.ctx().journal.admit(&job.job_id, &body) {
        Ok(Admission::New) => false,
        Ok(Admission::Duplicate) => true,
        Err(e) => {
            crate::log_event!("error", "journal_error", {"jobId": job.job_id, "error": e.to_string()});
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "The job could not be recorded", Value::Null);
        }
    };
    crate::log_event!("info", if duplicate { "job_duplicate" } else { "job_accepted" }, {
        "jobId": job.job_id, "action": job.action.as_str(), "machineId": job.machine.id, "attempt": job.attempt,
    });
    let data = json!({"jobId": job.job_id, "duplicate": duplicate});
    let message = if duplicate { "Job already accepted" } else { "Job accepted" };
    if !duplicate {
        app.pool.submit(job);
    }
    (StatusCode::ACCEPTED, Json(json!({"success": true, "data": data, "message": message}))).into_response()
}
