//! Delivery of jobs to the runner (API.md §5): a signed webhook, then one SQL call that
//! records the outcome (dispatched, or a retry with exponential back-off, or failed).
//! Runs after the response (`wait_until`) or from the scheduler, never delaying a user.
use crate::clock;
use crate::config::Config;
use crate::db::{self, Db, Who};
use crate::http::Call;
use crate::error::ApiError;
use crate::log;
use crate::auth::refresh;
use crate::crypto;
use std::collections::BTreeMap;
use protocol::signing;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// How long the runner has to answer a webhook.
pub const TIMEOUT_MS: u64 = 10_000;

/// What one delivery came to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delivered {
    Accepted,
    Refused,
    NotConfigured,
}

/// A job to hand to the runner, as SQL's `private.delivery` gives it: the webhook body
/// stays JSON text until this job alone decodes it, so one bad payload cannot fail a
/// whole batch (it once jammed the scheduler for every tenant).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub job_id: Uuid,
    /// The job's action (`create` gets an agent token; `create` and `deploy` secrets).
    pub action: String,
    pub payload: String,
    /// Secrets are in scope (create and deploy only): `hangar_job_secrets` has some to open.
    #[serde(default)]
    pub secrets: bool,
}

/// Hands a job that a request made to the runner, after the response has gone: the job
/// is already committed `dispatched` (API.md §5), so the user never waits on the runner.
pub(crate) fn hand_over(call: &Call, delivery: Option<Delivery>) {
    if let Some(delivery) = delivery {
        let (config, request_id) = (call.config.clone(), call.request_id.clone());
        call.after_response(async move {
            deliver(config, delivery, request_id).await;
        });
    }
}

/// Sends one job and records the result. Errors are logged, not returned: the job stays
/// in the outbox either way, and a payload that cannot be sent counts a failed attempt.
pub async fn deliver(config: Config, delivery: Delivery, request_id: String) -> Delivered {
    let outcome = match try_deliver(&config, &delivery, &request_id).await {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            log::line(&json!({"level": "error", "request_id": request_id, "event": "delivery", "job_id": delivery.job_id,
                "error": e.internal_detail().unwrap_or_else(|| e.code().into())}));
            // Not even sent (a payload that does not decode, a missing secret): the
            // attempt still counts, so the job reaches `failed` like any other.
            record(&config, delivery.job_id, false, Some("the job could not be sent".into()), None).await
                .map(|_| Delivered::Refused)
        }
    };
    outcome.unwrap_or_else(|e| {
        log::line(&json!({"level": "error", "request_id": request_id, "event": "delivery_result", "job_id": delivery.job_id,
            "error": e.internal_detail().unwrap_or_else(|| e.code().into())}));
        Delivered::Refused
    })
}

async fn try_deliver(config: &Config, delivery: &Delivery, request_id: &str) -> Result<Delivered, ApiError> {
    let (Some(url), Some(functions_url)) = (config.runner_url.as_deref(), config.functions_url.as_deref()) else {
        // Without a runner the job waits in the outbox; the scheduler sends it later.
        return Ok(Delivered::NotConfigured);
    };
    let secret = config.runner_secret()?;
    // The body is SQL's payload as it came (private.delivery_json: the webhook contract,
    // which the runner checks when it reads it) with the Worker's fields added at its end:
    // no decode and re-encode here, which linked the whole contract into every Worker that
    // hands over a job (about 13 KiB gzip each). A payload that is not one JSON object
    // counts a failed attempt; one the runner cannot read is its 400, the same.
    let mut raw = open_object(&delivery.payload)
        .ok_or_else(|| ApiError::Internal("undecodable job payload: not a JSON object".into()))?
        .to_string();
    add_field(&mut raw, "callbackUrl", &json_string(&format!("{functions_url}/functions/v1/runner-callback")));
    // A create job carries the machine's agent token once; only its hash is kept.
    let agent = if delivery.action == "create" {
        let token = refresh::generate()?;
        add_field(&mut raw, "agentToken", &json_string(&token.token));
        Some(token.hash)
    } else {
        None
    };
    // Create and deploy carry the machine's secrets, opened here, just before signing (only
    // when SQL says there are some: no extra round trip otherwise). One that does not open
    // fails this attempt under its own reason (the log names its id).
    if delivery.secrets && matches!(delivery.action.as_str(), "create" | "deploy") {
        match open_secrets(config, delivery.job_id).await? {
            Ok(secrets) => {
                let secrets = serde_json::to_string(&secrets).map_err(|e| ApiError::Internal(format!("encode secrets: {e}")))?;
                add_field(&mut raw, "secrets", &secrets);
            }
            Err(e) => {
                log::line(&json!({"level": "error", "request_id": request_id, "event": "delivery", "job_id": delivery.job_id,
                    "error": e.internal_detail().unwrap_or_else(|| e.code().into())}));
                record(config, delivery.job_id, false, Some(SECRET_REFUSED.into()), None).await?;
                return Ok(Delivered::Refused);
            }
        }
    }
    raw.push('}');
    let signature = signing::sign(secret, signing::Direction::Webhook, clock::now_millis() / 1000, raw.as_bytes());
    let sent = transport::send(url, Some((&raw, &signature)), TIMEOUT_MS).await;
    let (ok, error) = match &sent {
        Ok(status) if (200..300).contains(status) => (true, None),
        Ok(status) => (false, Some(format!("runner answered {status}"))),
        Err(e) => (false, Some(e.clone())),
    };
    record(config, delivery.job_id, ok, error, if ok { agent } else { None }).await?;
    Ok(if ok { Delivered::Accepted } else { Delivered::Refused })
}

/// A JSON object's text without its closing brace, ready for fields to be added; `None`
/// unless `payload` is `{...}` (SQL's jsonb text of an object).
fn open_object(payload: &str) -> Option<&str> {
    let open = payload.trim().strip_suffix('}')?;
    open.starts_with('{').then(|| open.trim_end())
}

/// Appends `"name":` and the JSON text `json` to an open object (a comma first unless it
/// is right after `{`).
fn add_field(open: &mut String, name: &str, json: &str) {
    if !open.ends_with('{') {
        open.push(',');
    }
    open.push('"');
    open.push_str(name);
    open.push_str("\":");
    open.push_str(json);
}

/// A string as JSON text.
fn json_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// The job error of an attempt whose secrets did not open (users read it: no detail).
pub const SECRET_REFUSED: &str = "a secret in scope could not be decrypted (wrong SECRETS_KEY, or a ciphertext not of its row)";

/// The secrets in scope of a create or deploy job, `NAME → value`: the outer error is the
/// database's, the inner one a secret that does not open (`crypto::open`'s reason, which
/// names the secret's id and never its value). No secrets: no key needed.
async fn open_secrets(config: &Config, job_id: Uuid) -> Result<Result<BTreeMap<String, String>, ApiError>, ApiError> {
    let sealed = Db::new(config).rpc(&db::JobSecrets { job_id }, Who::Service).await?;
    if sealed.is_empty() {
        return Ok(Ok(BTreeMap::new()));
    }
    let ring = match config.secrets_keys() {
        Ok(ring) => ring,
        Err(e) => return Ok(Err(e)),
    };
    let mut open = BTreeMap::new();
    for s in sealed {
        match crypto::open(&ring, s.id, &s.sealed).await {
            Ok(value) => open.insert(s.name, value),
            Err(e) => return Ok(Err(e)),
        };
    }
    Ok(Ok(open))
}

/// One SQL call: the job is delivered, or back in the queue with back-off, or failed.
async fn record(config: &Config, job_id: Uuid, ok: bool, error: Option<String>, agent_token_hash: Option<String>) -> Result<(), ApiError> {
    let args = db::DeliveryResult {
        job_id,
        ok,
        error,
        agent_token_hash,
        max_attempts: config.runner_max_attempts,
        retry_base_ms: config.runner_retry_base_ms,
    };
    Db::new(config).rpc(&args, Who::Service).await?;
    Ok(())
}

/// Is the runner up? Its `GET /health` (relative to RUNNER_URL), within 3 s.
pub async fn runner_health(config: &Config) -> &'static str {
    let Some(base) = config.runner_url.as_deref() else {
        return "not_configured";
    };
    let Some(url) = origin_path(base, "/health") else {
        return "misconfigured";
    };
    match transport::send(&url, None, 3_000).await {
        Ok(status) if (200..300).contains(&status) => "ok",
        _ => "unreachable",
    }
}

/// `path` on the origin of `base` (`scheme://authority`), as a URL join with an absolute
/// path gives it; `None` unless `base` is an http(s) URL with a host.
fn origin_path(base: &str, path: &str) -> Option<String> {
    let (scheme, rest) = base.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (matches!(scheme, "http" | "https") && !authority.is_empty()).then(|| format!("{scheme}://{authority}{path}"))
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
            headers.set(protocol::signing::HEADER, signature).map_err(|e| e.to_string())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with_fields(payload: &str) -> Option<Value> {
        let mut raw = open_object(payload)?.to_string();
        add_field(&mut raw, "callbackUrl", &json_string("https://x/\"q\""));
        add_field(&mut raw, "secrets", r#"{"A":"1"}"#);
        raw.push('}');
        Some(serde_json::from_str(&raw).expect("valid JSON"))
    }

    #[test]
    fn fields_are_added_to_the_payload_as_it_came() {
        let v = with_fields(r#"{"jobId": "j", "machine": {"id": "m"}}"#).unwrap();
        assert_eq!(v, json!({"jobId": "j", "machine": {"id": "m"}, "callbackUrl": "https://x/\"q\"", "secrets": {"A": "1"}}));
        assert_eq!(with_fields("{}").unwrap(), json!({"callbackUrl": "https://x/\"q\"", "secrets": {"A": "1"}}));
        assert_eq!(with_fields(" { } \n").unwrap(), json!({"callbackUrl": "https://x/\"q\"", "secrets": {"A": "1"}}));
    }

    #[test]
    fn health_is_on_the_runners_origin_as_a_url_join_puts_it() {
        for base in ["http://127.0.0.1:9000", "http://127.0.0.1:9000/", "https://runner.example/hooks/job?x=1", "http://h:1#f"] {
            let joined = url::Url::parse(base).unwrap().join("/health").unwrap();
            assert_eq!(origin_path(base, "/health").as_deref(), Some(joined.as_str()), "{base}");
        }
        for bad in ["", "runner", "ftp://h/", "http:///x", "http://"] {
            assert_eq!(origin_path(bad, "/health"), None, "{bad}");
        }
    }

    #[test]
    fn only_an_object_takes_fields() {
        for bad in ["", "null", "[1]", "\"{}\"", "{", "}", "1"] {
            assert!(open_object(bad).is_none(), "{bad}");
        }
    }
}
