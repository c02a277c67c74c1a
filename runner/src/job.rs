//! The job of a webhook (API.md §5) and the pieces of a report.
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Start,
    Stop,
    Restart,
    Terminate,
    Deploy,
    Command,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
            Action::Terminate => "terminate",
            Action::Deploy => "deploy",
            Action::Command => "command",
        }
    }
}

/// The machine as the Worker sends it. Numbers are kept as given (cpu may be 0.5).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tier: Option<String>,
    #[serde(default)]
    pub cpu: Value,
    #[serde(default)]
    pub memory_mb: Value,
    #[serde(default)]
    pub disk_gb: Value,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub provider_instance_id: Option<String>,
    #[serde(default)]
    pub ssh_public_key: Option<String>,
    #[serde(default)]
    pub configuration: Value,
}

impl Machine {
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub job_id: String,
    pub action: Action,
    #[serde(default)]
    pub attempt: Value,
    pub machine: Machine,
    #[serde(default)]
    pub params: Value,
    pub callback_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_token: Option<String>,
}

/// Ids become file names: only `[A-Za-z0-9_-]`, 1 to 128 characters (UUIDs pass).
pub fn is_safe_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Job {
    /// Checks what the types cannot; the error names the field.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !is_safe_id(&self.job_id) {
            return Err(("jobId", "must be 1 to 128 characters of letters, digits, '-' and '_'".into()));
        }
        if !is_safe_id(&self.machine.id) {
            return Err(("machine.id", "must be 1 to 128 characters of letters, digits, '-' and '_'".into()));
        }
        match reqwest::Url::parse(&self.callback_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(()),
            _ => Err(("callbackUrl", "must be an http(s) URL".into())),
        }
    }

    /// `params.<key>` or `machine.configuration.<key>`.
    pub fn flag(&self, key: &str) -> Option<&Value> {
        self.params.get(key).or_else(|| self.machine.configuration.get(key))
    }
}

/// One log line of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub level: String,
    pub message: String,
    pub ts: String,
}

/// Messages are cut to this many bytes (the callback keeps 4 KiB of each).
pub const MAX_MESSAGE: usize = 4096;

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `s` cut to at most `max` bytes on a character boundary.
pub fn truncate_utf8(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let cut = (0..=max).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
    s.truncate(cut);
    true
}

impl LogEntry {
    pub fn new(level: &str, message: impl Into<String>) -> LogEntry {
        LogEntry::at(level, message, now_rfc3339())
    }

    pub fn at(level: &str, message: impl Into<String>, ts: String) -> LogEntry {
        let mut message = message.into();
        truncate_utf8(&mut message, MAX_MESSAGE);
        let level = match level {
            "error" => "error",
            "warn" | "warning" => "warn",
            _ => "info",
        };
        LogEntry { level: level.into(), message, ts }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outputs {
    pub ip_address: Option<String>,
    pub provider_instance_id: Option<String>,
}

/// What running a job came to.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub ok: bool,
    pub outputs: Option<Outputs>,
    pub result: Option<Value>,
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

    pub fn with_result(mut self, result: Value) -> Outcome {
        self.result = Some(result);
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
    fn parses_a_worker_job() {
        let raw = r#"{"jobId":"6e603a27-0dc1-484d-a15e-5a13e402ded0","action":"create","attempt":1,
          "params":{},"machine":{"id":"0b8f","name":"web 1","tier":"dev.small","cpu":0.5,"memoryMb":1024,
          "diskGb":10,"provider":"aws","region":"us-east-1","image":"ubuntu-22.04","ipAddress":null,
          "providerInstanceId":null,"sshPublicKey":null,"configuration":{"simulateFailure":true}},
          "callbackUrl":"https://x.example/functions/v1/runner-callback","agentToken":"tok","extra":1}"#;
        let job: Job = serde_json::from_str(raw).unwrap();
        assert_eq!(job.action, Action::Create);
        assert_eq!(job.machine.cpu, serde_json::json!(0.5));
        assert_eq!(job.flag("simulateFailure"), Some(&Value::Bool(true)));
        assert!(job.validate().is_ok());
        let mut bad = job.clone();
        bad.job_id = "../etc".into();
        assert_eq!(bad.validate().unwrap_err().0, "jobId");
        let mut bad = job;
        bad.callback_url = "file:///etc/passwd".into();
        assert_eq!(bad.validate().unwrap_err().0, "callbackUrl");
    }

    #[test]
    fn truncates_on_char_boundary() {
        let mut s = "é".repeat(3000);
        assert!(truncate_utf8(&mut s, 4095));
        assert_eq!(s.len(), 4094);
        let e = LogEntry::new("warning", "x".repeat(5000));
        assert_eq!((e.level.as_str(), e.message.len()), ("warn", MAX_MESSAGE));
    }
}
