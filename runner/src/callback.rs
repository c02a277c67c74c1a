//! Signed callbacks to `runner-callback`, with retries. Every report leaves through
//! [`Callbacks::deliver_with`]: scrubbed of local paths and account ids (scrub.rs), cut to
//! the Workers' body limit, signed with the callback context (a webhook signature can never
//! pass for a callback, nor the reverse).
//!
//! One report keeps its signature across retries while it is fresh (< 240 s), so that a
//! retry of a report that did arrive is recognised by the Worker as a replay (it keeps the
//! signature of every report it applied) and applied once.
use crate::scrub::Scrubber;
use protocol::signing::{self, Direction};
use serde_json::Value;
use std::time::Duration;

/// The Workers take bodies of at most 64 KiB; reports are kept below this.
pub const MAX_BODY: usize = 60 * 1024;
/// A signature older than this is renewed before a retry (the Worker refuses > 300 s).
const RESIGN_AFTER_SECS: i64 = 240;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Delivered: the answer's `data` (null when it has none).
    Delivered(Value),
    /// The Worker refused the report for good (4xx other than 401, 408, 425, 429).
    Rejected(u16, String),
    /// Still not delivered after every retry (network error, 5xx, ...).
    Failed(String),
}

enum Attempt {
    Permanent(u16, String),
    Transient(String),
}

pub struct Callbacks {
    client: reqwest::Client,
    secret: String,
    retries: u32,
    backoff: Duration,
    scrubber: Scrubber,
}

pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Callbacks {
    pub fn new(secret: String, retries: u32, backoff: Duration, scrubber: Scrubber) -> Callbacks {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("hangar-runner/", env!("CARGO_PKG_VERSION")))
            // A signed report goes to the URL of the job and nowhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the HTTP client builds");
        Callbacks { client, secret, retries, backoff, scrubber }
    }

    async fn attempt(&self, url: &str, raw: &[u8], header: &str) -> Result<Value, Attempt> {
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header(signing::HEADER, header)
            .body(raw.to_vec())
            .send()
            .await;
        let response = sent.map_err(|e| Attempt::Transient(format!("callback not delivered: {e}")))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            return Ok(answer.get("data").cloned().unwrap_or(Value::Null));
        }
        let mut text = response.text().await.unwrap_or_default();
        crate::job::truncate_utf8(&mut text, 300);
        let permanent = (400..500).contains(&status) && !matches!(status, 401 | 408 | 425 | 429);
        if permanent {
            Err(Attempt::Permanent(status, text))
        } else {
            Err(Attempt::Transient(format!("callback answered {status}: {text}")))
        }
    }

    /// Sends `body` with the configured retries.
    pub async fn deliver(&self, url: &str, body: &Value) -> Delivery {
        self.deliver_with(url, body, self.retries).await
    }

    /// What goes on the wire for `body`: scrubbed, then fitted to [`MAX_BODY`].
    pub fn outgoing(&self, body: &Value) -> Vec<u8> {
        let body = fit(self.scrubber.report(body.clone()));
        serde_json::to_vec(&body).expect("a JSON value serialises")
    }

    /// Sends `body`, retrying `retries` times with exponential back-off.
    pub async fn deliver_with(&self, url: &str, body: &Value, retries: u32) -> Delivery {
        let raw = self.outgoing(body);
        let mut t = now_secs();
        let mut header = signing::sign(&self.secret, Direction::Callback, t, &raw);
        let mut last = String::new();
        for n in 0..=retries {
            if n > 0 {
                let wait = self.backoff.saturating_mul(1u32 << (n - 1).min(16));
                tokio::time::sleep(wait).await;
            }
            if now_secs() - t > RESIGN_AFTER_SECS {
                t = now_secs();
                header = signing::sign(&self.secret, Direction::Callback, t, &raw);
            }
            match self.attempt(url, &raw, &header).await {
                Ok(data) => return Delivery::Delivered(data),
                Err(Attempt::Permanent(status, text)) => return Delivery::Rejected(status, text),
                Err(Attempt::Transient(e)) => last = e,
            }
        }
        Delivery::Failed(last)
    }
}

fn size(v: &Value) -> usize {
    serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX)
}

/// Makes a report fit in [`MAX_BODY`]: first drops its oldest log lines (saying how many),
/// then halves the longest strings of `result` (marking it `truncated`), then the error.
pub fn fit(mut body: Value) -> Value {
    if size(&body) <= MAX_BODY {
        return body;
    }
    if let Some(Value::Array(mut logs)) = body.get_mut("logs").map(Value::take) {
        body["logs"] = Value::Array(Vec::new());
        // The other fields' size, or three quarters of the budget if they are bigger (they
        // are cut below): the newest lines that fit in the rest are kept.
        let others = size(&body).min(MAX_BODY * 3 / 4);
        let budget = MAX_BODY - others - 256;
        let mut used = 0;
        let keep = logs.iter().rev().take_while(|l| {
            used += size(l) + 1;
            used <= budget
        });
        let keep = keep.count();
        let dropped = logs.len() - keep;
        logs.drain(..dropped);
        if dropped > 0 {
            let message = format!("{dropped} earlier log lines were dropped to keep the report small");
            logs.insert(0, serde_json::to_value(crate::job::log_line("warn", message)).expect("serialisable"));
        }
        body["logs"] = Value::Array(logs);
    }
    let mut rounds = 0;
    while size(&body) > MAX_BODY && rounds < 64 {
        rounds += 1;
        if let Some(result) = body.get_mut("result") {
            if halve_longest_string(result) {
                if let Some(obj) = result.as_object_mut() {
                    obj.insert("truncated".into(), Value::Bool(true));
                }
                continue;
            }
        }
        if let Some(Value::String(e)) = body.get_mut("error") {
            if e.len() > 1024 {
                let keep = e.len() / 2;
                crate::job::truncate_utf8(e, keep);
                continue;
            }
        }
        if let Some(logs) = body.get_mut("logs").and_then(Value::as_array_mut) {
            if logs.len() > 1 {
                logs.truncate(logs.len() / 2);
                continue;
            }
        }
        break;
    }
    body
}

fn halve_longest_string(v: &mut Value) -> bool {
    fn longest(v: &mut Value) -> Option<&mut String> {
        match v {
            Value::String(s) => Some(s),
            Value::Array(a) => a.iter_mut().filter_map(longest).max_by_key(|s| s.len()),
            Value::Object(o) => o.values_mut().filter_map(longest).max_by_key(|s| s.len()),
            _ => None,
        }
    }
    match longest(v) {
        Some(s) if s.len() > 64 => {
            let keep = s.len() / 2;
            crate::job::truncate_utf8(s, keep);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fit_keeps_small_reports_and_shrinks_big_ones() {
        let small = json!({"jobId": "j", "status": "succeeded"});
        assert_eq!(fit(small.clone()), small);

        let logs: Vec<Value> =
            (0..100).map(|i| json!({"level": "info", "message": format!("{i}:{}", "x".repeat(1000)), "ts": "t"})).collect();
        let big = json!({"jobId": "j", "status": "succeeded", "logs": logs,
            "result": {"exitCode": 0, "stdout": "\u{1}".repeat(64 * 1024), "stderr": "e".repeat(64 * 1024)}});
        let fitted = fit(big);
        assert!(size(&fitted) <= MAX_BODY, "{}", size(&fitted));
        let logs = fitted["logs"].as_array().unwrap();
        assert!(logs[0]["message"].as_str().unwrap().contains("earlier log lines were dropped"));
        assert!(logs.last().unwrap()["message"].as_str().unwrap().starts_with("99:"));
        assert_eq!(fitted["result"]["truncated"], json!(true));
        assert_eq!(fitted["result"]["exitCode"], json!(0));
    }

    #[test]
    fn outgoing_reports_are_scrubbed_then_fitted() {
        let scrubber = Scrubber::new([(std::path::Path::new("/srv/work"), "<workdir>")]);
        let c = Callbacks::new("s".into(), 0, Duration::ZERO, scrubber);
        let body = json!({"jobId": "j", "status": "failed", "error": "in /srv/work/machines/m for 123456789012",
            "result": {"stdout": "/srv/work ".repeat(20_000)}});
        let out: Value = serde_json::from_slice(&c.outgoing(&body)).unwrap();
        assert_eq!(out["error"], "in <workdir>/machines/m for <account>");
        let stdout = out["result"]["stdout"].as_str().unwrap();
        assert!(!stdout.contains("/srv/work") && stdout.starts_with("<workdir> <workdir>"));
        assert!(c.outgoing(&body).len() <= MAX_BODY);
    }
}
