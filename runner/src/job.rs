//! The job of a webhook (API.md §5) and the pieces of a report. The wire types come from
//! `protocol` (shared with the Workers, so the two sides cannot read a body differently);
//! this module adds what only the runner checks and builds.
use protocol::payload::LogLevel;
use serde_json::{Map, Value};

pub use protocol::payload::{Action, Machine, Outputs, Params, Webhook as Job};
/// One log line of a report.
pub use protocol::payload::LogLine as LogEntry;

/// Ids become file names: only `[A-Za-z0-9_-]`, 1 to 128 characters (UUIDs pass).
pub fn is_safe_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Checks what the types cannot; the error names the field. (Params are checked when the
/// job runs: a job with bad params is reported failed, not refused.)
pub fn validate(job: &Job) -> Result<(), (&'static str, String)> {
    if !is_safe_id(&job.job_id) {
        return Err(("jobId", "must be 1 to 128 characters of letters, digits, '-' and '_'".into()));
    }
    if !is_safe_id(&job.machine.id) {
        return Err(("machine.id", "must be 1 to 128 characters of letters, digits, '-' and '_'".into()));
    }
    match reqwest::Url::parse(&job.callback_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(()),
        _ => Err(("callbackUrl", "must be an http(s) URL".into())),
    }
}

/// Messages are cut to this many bytes, as `runner-callback` keeps them (one truncation,
/// the protocol's, on both sides).
pub use protocol::payload::{truncate_utf8, MAX_MESSAGE};

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A log line stamped now. `level` is info, warn (or warning) or error; anything else is info.
pub fn log_line(level: &str, message: impl Into<String>) -> LogEntry {
    log_line_at(level, message, now_rfc3339())
}

pub fn log_line_at(level: &str, message: impl Into<String>, ts: String) -> LogEntry {
    let level = match level {
        "error" => LogLevel::Error,
        "warn" | "warning" => LogLevel::Warn,
        _ => LogLevel::Info,
    };
    LogEntry { level, message: message.into(), ts: Some(ts) }.capped()
}

/// What running a job came to.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub ok: bool,
    pub outputs: Option<Outputs>,
    pub result: Option<Map<String, Value>>,
    pub error: Option<String>,
}

impl Outcome {
    pub fn succeeded() -> Outcome {
        Outcome { ok: true, ..Outcome::default() }
    }

    pub fn failed(error: impl Into<String>) -> Outcome {
        Outcome { ok: false, error: Some(error.into()), ..Outcome::default() }
    }

    pub fn with_outputs(mut self, outputs: Outputs) -> Outcome {
        self.outputs = Some(outputs);
        self
    }

    /// `result` is an object (what `runner-callback` takes); anything else goes in `value`.
    pub fn with_result(mut self, result: Value) -> Outcome {
        self.result = Some(match result {
            Value::Object(map) => map,
            other => Map::from_iter([("value".to_string(), other)]),
        });
        self
    }

    pub fn status(&self) -> &'static str {
        if self.ok {
            "succeeded"
        } else {
            "failed"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_a_worker_job() {
        let raw = r#"{"jobId":"6e603a27-0dc1-484d-a15e-5a13e402ded0","action":"create","attempt":1,
          "params":{},"machine":{"id":"0b8f","name":"web 1","tier":"dev.small","cpu":0.5,"memoryMb":1024,
          "diskGb":10,"provider":"aws","region":"us-east-1","image":"ubuntu-22.04","ipAddress":null,
          "providerInstanceId":null,"sshPublicKey":null,"configuration":{"simulateFailure":true}},
          "callbackUrl":"https://x.example/functions/v1/runner-callback","agentToken":"tok"}"#;
        let job: Job = serde_json::from_str(raw).unwrap();
        assert_eq!(job.action, Action::Create);
        assert_eq!(job.machine.cpu.to_string(), "0.5");
        assert!(validate(&job).is_ok());
        let mut bad = job.clone();
        bad.job_id = "../etc".into();
        assert_eq!(validate(&bad).unwrap_err().0, "jobId");
        let mut bad = job.clone();
        bad.machine.id = "a/b".into();
        assert_eq!(validate(&bad).unwrap_err().0, "machine.id");
        let mut bad = job;
        bad.callback_url = "file:///etc/passwd".into();
        assert_eq!(validate(&bad).unwrap_err().0, "callbackUrl");
        // The wire contract refuses what the Worker does not send.
        let extra = raw.replacen(r#""attempt":1,"#, r#""attempt":1,"extra":1,"#, 1);
        assert!(serde_json::from_str::<Job>(&extra).is_err());
    }

    #[test]
    fn truncates_on_char_boundary() {
        let mut s = "é".repeat(3000);
        assert!(truncate_utf8(&mut s, 4095));
        assert_eq!(s.len(), 4094);
        let e = log_line("warning", "x".repeat(5000));
        assert_eq!((e.level, e.message.len()), (LogLevel::Warn, MAX_MESSAGE));
        assert_eq!(log_line("debug", "m").level, LogLevel::Info);
    }

    #[test]
    fn results_are_objects() {
        let o = Outcome::succeeded().with_result(serde_json::json!({"a": 1}));
        assert_eq!(Value::Object(o.result.unwrap()), serde_json::json!({"a": 1}));
        let o = Outcome::succeeded().with_result(serde_json::json!([1]));
        assert_eq!(Value::Object(o.result.unwrap()), serde_json::json!({"value": [1]}));
    }
}
