//! Delivery of jobs to the runner (API.md §5): a signed webhook, then one SQL call that
//! records the outcome (dispatched, or a retry with exponential back-off, or failed).
//! Runs after the response (`wait_until`) or from the scheduler, never delaying a user.
use crate::clock;
use crate::config::Config;
use crate::db::{As, Db};
use crate::error::ApiError;
use crate::log;
use crate::refresh;
use crate::signing;
use serde_json::{json, Value};

/// How long the runner has to answer a webhook.
pub const TIMEOUT_MS: u64 = 10_000;

/// What one delivery came to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delivered {
    Accepted,
    Refused,
    NotConfigured,
}

/// Sends the job described by `delivery` (as `hangar_delivery_json` builds it) and records
/// the result. Errors are logged, not returned: the job stays in the outbox either way.
pub async fn deliver(config: Config, delivery: Value, request_id: String) -> Delivered {
    match try_deliver(&config, delivery).await {
        Ok(outcome) => outcome,
        Err(e) => {
            log::line(&json!({"level": "error", "request_id": request_id, "event": "delivery",
                "error": e.internal_detail().unwrap_or_else(|| e.code().into())}));
            Delivered::Refused
        }
    }
}

async fn try_deliver(config: &Config, mut body: Value) -> Result<Delivered, ApiError> {
    let (Some(url), Some(functions_url)) = (config.runner_url.as_deref(), config.functions_url.as_deref()) else {
        // Without a runner the job waits in the outbox; the scheduler sends it later.
        return Ok(Delivered::NotConfigured);
    };
    let secret = config.runner_secret()?;
    let job_id = body.get("jobId").cloned().unwrap_or(Value::Null);
    body["callbackUrl"] = json!(format!("{functions_url}/functions/v1/runner-callback"));
    // A create job carries the machine's agent token once; only its hash is kept.
    let agent = if body.get("action").and_then(Value::as_str) == Some("create") {
        let token = refresh::generate()?;
        body["agentToken"] = json!(token.token);
        Some(token.hash)
    } else {
        None
    };
    let raw = body.to_string();
    let signature = signing::sign(secret, clock::now_millis() / 1000, raw.as_bytes());
    let sent = transport::send(url, Some((&raw, &signature)), TIMEOUT_MS).await;
    let (ok, error) = match &sent {
        Ok(status) if (200..300).contains(status) => (true, None),
        Ok(status) => (false, Some(format!("runner answered {status}"))),
        Err(e) => (false, Some(e.clone())),
    };
    let args = json!({
        "p_job_id": job_id,
        "p_ok": ok,
        "p_error": error,
        "p_agent_token_hash": if ok { agent } else { None },
        "p_max_attempts": config.runner_max_attempts,
        "p_retry_base_ms": config.runner_retry_base_ms,
    });
    let _: Value = Db::new(config).call("hangar_delivery_result", &args, As::Service).await?;
    Ok(if ok { Delivered::Accepted } else { Delivered::Refused })
}

/// Is the runner up? Its `GET /health` (relative to RUNNER_URL), within 3 s.
pub async fn runner_health(config: &Config) -> &'static str {
    let Some(base) = config.runner_url.as_deref() else {
        return "not_configured";
    };
    let Ok(url) = url::Url::parse(base).and_then(|u| u.join("/health")) else {
        return "misconfigured";
    };
    match transport::send(url.as_str(), None, 3_000).await {
        Ok(status) if (200..300).contains(&status) => "ok",
        _ => "unreachable",
    }
}

#[cfg(target_arch = "wasm32")]
mod transport {
    use futures_util::future::{select, Either};
    use worker::{Delay, Fetch, Headers, Method, Request, RequestInit};

    /// A signed webhook (`Some((body, signature))`: POST) or a probe (`None`: GET);
    /// the HTTP status, or why there was none within `timeout_ms`.
    pub async fn send(url: &str, webhook: Option<(&str, &str)>, timeout_ms: u64) -> Result<u16, String> {
        let headers = Headers::new();
        let mut init = RequestInit::new();
        if let Some((body, signature)) = webhook {
            headers.set("content-type", "application/json").map_err(|e| e.to_string())?;
            headers.set(crate::signing::HEADER, signature).map_err(|e| e.to_string())?;
            init.with_method(Method::Post);
            init.with_body(Some(body.into()));
        }
        init.with_headers(headers);
        let request = Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
        let fetch = Fetch::Request(request);
        let send = Box::pin(fetch.send());
        let timeout = Delay::from(std::time::Duration::from_millis(timeout_ms));
        let outcome = match select(send, timeout).await {
            Either::Left((Ok(resp), _)) => Ok(resp.status_code()),
            Either::Left((Err(e), _)) => Err(format!("runner unreachable: {e}")),
            Either::Right(_) => Err(format!("runner did not answer within {timeout_ms} ms")),
        };
        outcome
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod transport {
    pub async fn send(_url: &str, _webhook: Option<(&str, &str)>, _timeout_ms: u64) -> Result<u16, String> {
        Err("requests to the runner are sent only from the Worker".into())
    }
}
