//! The runner's calls to `runner-callback`: first the claim `{ jobId, status: claimed,
//! runnerId }`, answered with `{ claimed, fence, leaseSeconds, reason? }`; then, under the
//! claim's `fence`, its reports `{ jobId, status: running|succeeded|failed, fence,
//! outputs?, logs?, result?, error? }`: `running` ones (log lines, or none: a heartbeat)
//! while it runs, then one final report. Absent fields are left out.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// The claim: not a report, the request to run the job.
    Claimed,
    Running,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Claimed => "claimed",
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
    /// The claim's fencing number, on every report (not on the claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fence: Option<u64>,
    /// Who claims (on the claim only): the runner's id (RUNNER_ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_id: Option<String>,
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
    /// A report with nothing but its status and fence.
    pub fn new(job_id: impl Into<String>, status: JobStatus, fence: u64) -> Callback {
        Callback { job_id: job_id.into(), status, fence: Some(fence), runner_id: None, outputs: None, logs: Vec::new(), result: None, error: None }
    }

    /// The claim of a job by runner `runner_id`.
    pub fn claim(job_id: impl Into<String>, runner_id: impl Into<String>) -> Callback {
        Callback { fence: None, runner_id: Some(runner_id.into()), ..Callback::new(job_id, JobStatus::Claimed, 0) }
    }
}

/// `runner-callback`'s answer to a claim (its `data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimAnswer {
    pub claimed: bool,
    /// The fencing number every report of this claim carries.
    #[serde(default)]
    pub fence: Option<u64>,
    /// The lease (private.settings `job_lease_seconds`): a report at least every third of
    /// it keeps the claim.
    pub lease_seconds: u64,
    /// Why not: `finished`, `terminated`, `leased`, `busy` (ask again).
    #[serde(default)]
    pub reason: Option<String>,
}

/// The answer to a report (its `data`): `cancel` asks the runner to interrupt the job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportAnswer {
    #[serde(default)]
    pub cancel: bool,
}

/// Log messages are kept to this many bytes, by the runner and by `runner-callback`.
pub const MAX_MESSAGE: usize = 4096;

/// `s` cut to at most `max` bytes on a character boundary; whether it was cut.
pub fn truncate_utf8(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let cut = (0..=max).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
    s.truncate(cut);
    true
}

impl LogLine {
    /// The line with its message cut to [`MAX_MESSAGE`].
    pub fn capped(mut self) -> LogLine {
        truncate_utf8(&mut self.message, MAX_MESSAGE);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes_on_the_wire() {
        let running = Callback::new("j", JobStatus::Running, 3);
        assert_eq!(serde_json::to_value(&running).unwrap(), json!({"jobId": "j", "status": "running", "fence": 3}));
        let claim = Callback::claim("j", "runner-1");
        assert_eq!(serde_json::to_value(&claim).unwrap(), json!({"jobId": "j", "status": "claimed", "runnerId": "runner-1"}));

        let mut done = Callback::new("j", JobStatus::Succeeded, 1);
        done.outputs = Some(Outputs { ip_address: Some("192.0.2.7".into()), provider_instance_id: None });
        done.logs.push(LogLine { level: LogLevel::Warn, message: "m".into(), ts: Some("2026-11-22T10:00:00.000Z".into()) });
        done.result = Some(json!({"exitCode": 0}).as_object().unwrap().clone());
        done.error = Some("e".into());
        let v = serde_json::to_value(&done).unwrap();
        assert_eq!(
            v,
            json!({"jobId": "j", "status": "succeeded", "fence": 1, "outputs": {"ipAddress": "192.0.2.7", "providerInstanceId": null},
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
