//! The runner's reports to `runner-callback`:
//! `{ jobId, status: running|succeeded|failed, outputs?, logs?, result?, error? }`.
//! `{status: running}` first, then `running` reports that carry log lines, then one final
//! report. Absent fields are left out, so the first report is exactly
//! `{"jobId": …, "status": "running"}`.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Running,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        }
    }
}

/// What a create, start or restart found out. Both keys are always written (null when
/// unknown), as the runner always did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Outputs {
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub provider_instance_id: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    #[default]
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// One log line. The runner always sends all three fields (`ts` as RFC 3339 UTC); a
/// receiver may default `level` to info and `ts` to its own clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogLine {
    #[serde(default)]
    pub level: LogLevel,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Callback {
    pub job_id: String,
    pub status: JobStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Outputs>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<LogLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Callback {
    /// A report with nothing but its status.
    pub fn new(job_id: impl Into<String>, status: JobStatus) -> Callback {
        Callback { job_id: job_id.into(), status, outputs: None, logs: Vec::new(), result: None, error: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes_on_the_wire() {
        let running = Callback::new("j", JobStatus::Running);
        assert_eq!(serde_json::to_value(&running).unwrap(), json!({"jobId": "j", "status": "running"}));

        let mut done = Callback::new("j", JobStatus::Succeeded);
        done.outputs = Some(Outputs { ip_address: Some("192.0.2.7".into()), provider_instance_id: None });
        done.logs.push(LogLine { level: LogLevel::Warn, message: "m".into(), ts: Some("2026-11-22T10:00:00.000Z".into()) });
        done.result = Some(json!({"exitCode": 0}).as_object().unwrap().clone());
        done.error = Some("e".into());
        let v = serde_json::to_value(&done).unwrap();
        assert_eq!(
            v,
            json!({"jobId": "j", "status": "succeeded", "outputs": {"ipAddress": "192.0.2.7", "providerInstanceId": null},
                "logs": [{"level": "warn", "message": "m", "ts": "2026-11-22T10:00:00.000Z"}], "result": {"exitCode": 0}, "error": "e"})
        );
        assert_eq!(serde_json::from_value::<Callback>(v).unwrap(), done);
    }

    #[test]
    fn receiving() {
        let c: Callback = serde_json::from_value(json!({"jobId": "j", "status": "failed", "logs": [{"message": "m"}]})).unwrap();
        assert_eq!(c.logs[0], LogLine { level: LogLevel::Info, message: "m".into(), ts: None });
        for bad in [
            json!({"jobId": "j", "status": "running", "extra": 1}),
            json!({"jobId": "j", "status": "done"}),
            json!({"jobId": "j", "status": "running", "outputs": {"ip": "x"}}),
            json!({"jobId": "j", "status": "running", "logs": [{"message": "m", "level": "debug"}]}),
            json!({"jobId": "j", "status": "running", "result": [1]}),
        ] {
            assert!(serde_json::from_value::<Callback>(bad.clone()).is_err(), "{bad}");
        }
    }
}
