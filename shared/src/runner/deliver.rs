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
    /// The machine's provider: the job goes to a runner of it (RUNNER_URL).
    #[serde(default)]
    pub provider: Option<String>,
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
    let targets = config.runners.for_provider(delivery.provider.as_deref(), spread(&delivery.job_id));
    let (false, Some(functions_url)) = (targets.is_empty(), config.functions_url.as_deref()) else {
        // Without a runner (of the machine's provider) the job waits in the outbox; the
        // scheduler sends it later.
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
    // The first runner of the provider that takes it (2xx); the others in turn when one
    // fails. Any runner may take any job: the claim keeps it from running twice.
    let mut errors = Vec::new();
    for target in &targets {
        match transport::send(&target.url, (&raw, &signature), TIMEOUT_MS).await {
            Ok(status) if (200..300).contains(&status) => {
                record(config, delivery.job_id, true, None, agent).await?;
                return Ok(Delivered::Accepted);
            }
            Ok(status) => errors.push(format!("runner answered {status}")),
            Err(e) => errors.push(e),
        }
    }
    record(config, delivery.job_id, false, Some(errors.join("; ")), None).await?;
    Ok(Delivered::Refused)
}

/// Which of the provider's runners a job tries first: its id's first byte, so that jobs
/// spread evenly and a redelivery of one job goes where the first one went.
fn spread(job_id: &Uuid) -> usize {
    job_id.as_bytes()[0] as usize
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

/// Each runner's `GET /health` (on the origin of its URL) within 3 s, and what the runners
/// come to for `health`: `{ status, mode, runners: [{ url, provider, status, mode }] }`
/// (URLs without credentials). `status` is `ok`, `degraded` (some runner unreachable, or
/// in another mode than `RUNNER_MODE` expects), `unreachable` (none answers) or
/// `not_configured`; `mode` is the expected one (`RUNNER_MODE`), else the runners' own.
pub async fn runners_health(config: &Config) -> RunnersHealth {
    let probes = config.runners.all().iter().map(|target| async move {
        let (status, mode) = match crate::domain::runners_origin(&target.url) {
            None => ("misconfigured", None),
            Some(origin) => match transport::probe(&format!("{origin}/health"), 3_000).await {
                Ok((code, body)) if (200..300).contains(&code) => ("ok", runner_mode(&body)),
                _ => ("unreachable", None),
            },
        };
        json!({"url": crate::domain::public_url(&target.url), "provider": target.provider.map(|p| p.as_str()),
            "status": status, "mode": mode})
    });
    let runners: Vec<Value> = futures_util::future::join_all(probes).await;
    let up: Vec<&Value> = runners.iter().filter(|r| r["status"] == "ok").collect();
    let expected = config.runner_mode.clone();
    let wrong_mode = expected.as_deref().is_some_and(|m| up.iter().any(|r| r["mode"] != m));
    let status = if runners.is_empty() {
        "not_configured"
    } else if up.is_empty() {
        "unreachable"
    } else if wrong_mode || up.len() < runners.len() {
        "degraded"
    } else {
        "ok"
    };
    let mode = expected.or_else(|| up.first().and_then(|r| r["mode"].as_str()).map(str::to_string));
    RunnersHealth { wrong_mode, report: json!({"status": status, "mode": mode, "runners": runners}) }
}

/// What `runners_health` found: the report, and whether a runner is in the wrong mode
/// (fake machines reported as real: the stage is `degraded`).
pub struct RunnersHealth {
    pub wrong_mode: bool,
    pub report: Value,
}

/// The `mode` of a runner's health answer (`terraform` or `simulate`).
fn runner_mode(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    v.get("mode").and_then(Value::as_str).filter(|m| matches!(*m, "terraform" | "simulate")).map(str::to_string)
}

#[cfg(target_arch = "wasm32")]
mod transport {
    use futures_util::future::{select, Either};
    use worker::{Delay, Fetch, Headers, Method, Request, RequestInit};

    /// A GET: the HTTP status and body text, or why there was none within `timeout_ms`.
    pub async fn probe(url: &str, timeout_ms: u64) -> Result<(u16, String), String> {
        let request = Request::new(url, Method::Get).map_err(|e| e.to_string())?;
        let fetch = async move {
            let mut resp = Fetch::Request(request).send().await.map_err(|e| e.to_string())?;
            let text = resp.text().await.unwrap_or_default();
            Ok::<_, String>((resp.status_code(), text))
        };
        let timeout = Delay::from(std::time::Duration::from_millis(timeout_ms));
        match select(Box::pin(fetch), timeout).await {
            Either::Left((outcome, _)) => outcome,
            Either::Right(_) => Err(format!("no answer within {timeout_ms} ms")),
        }
    }

    /// A signed webhook: the HTTP status, or why there was none within `timeout_ms`.
    pub async fn send(url: &str, (body, signature): (&str, &str), timeout_ms: u64) -> Result<u16, String> {
        let headers = Headers::new();
        let mut init = RequestInit::new();
        headers.set("content-type", "application/json").map_err(|e| e.to_string())?;
        headers.set(protocol::signing::HEADER, signature).map_err(|e| e.to_string())?;
        init.with_method(Method::Post);
        init.with_body(Some(body.into()));
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
    pub async fn send(_url: &str, _webhook: (&str, &str), _timeout_ms: u64) -> Result<u16, String> {
        Err("requests to the runner are sent only from the Worker".into())
    }

    pub async fn probe(_url: &str, _timeout_ms: u64) -> Result<(u16, String), String> {
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
    fn only_an_object_takes_fields() {
        for bad in ["", "null", "[1]", "\"{}\"", "{", "}", "1"] {
            assert!(open_object(bad).is_none(), "{bad}");
        }
    }
}
