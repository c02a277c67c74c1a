//! The machine's secrets (API.md §7): a create or deploy webhook carries `secrets`
//! (`NAME → value`, decrypted by the Worker just before signing), which end up in
//! `/etc/hangar/secrets.env` on the machine, mode 0600, one `NAME='value'` line each
//! (single-quoted for sh: `set -a; . /etc/hangar/secrets.env; set +a` reads them back,
//! newlines and quotes included).
//!
//! - Terraform mode: over SSH, the file's content on stdin (never in an argument, which
//!   `ps` would show), written to a 0600 temporary file and moved into place. On deploy it
//!   is written before the protocol, every time (a secret deleted since is gone from the
//!   file); a failure fails the deploy. After a create it is written once the machine
//!   answers SSH (a new machine takes a while), when there is anything to write; if it never
//!   answers, the create still succeeds (the machine exists) and says so in its logs: the
//!   next deploy writes the file.
//! - Simulate mode: nothing is written; the job's logs and result record that it was, with
//!   the names and the count only.
//!
//! A value never reaches a log line, a result or an error: only names and counts do.
use crate::job::{Action, Job, Outcome};
use crate::process::{self, Spec};
use crate::report::LogSink;
use crate::ssh::Ssh;
use protocol::payload::Secrets;
use serde_json::{json, Value};
use std::time::Duration;

pub const PATH: &str = "/etc/hangar/secrets.env";
/// How long writing the file may take once connected.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// After a create: SSH attempts, this far apart, while the new machine boots.
const CREATE_ATTEMPTS: u32 = 12;
const CREATE_RETRY: Duration = Duration::from_secs(10);

/// The file: a header, then `NAME='value'` per secret, in name order. Inside single
/// quotes sh takes every character as it is; a `'` is written `'\''`.
pub fn env_file(secrets: &Secrets) -> String {
    let mut out = String::from("# Written by hangar-runner: the machine's secrets. Read with: set -a; . /etc/hangar/secrets.env; set +a\n");
    for (name, value) in secrets.iter() {
        out.push_str(name);
        out.push_str("='");
        out.push_str(&value.replace('\'', r"'\''"));
        out.push_str("'\n");
    }
    out
}

/// The remote script: stdin becomes the file, never readable by others on the way (the
/// temporary file is created 0600 before anything is written to it).
fn write_script() -> String {
    [
        "set -eu",
        "dir=/etc/hangar",
        "if [ \"$(id -u)\" -eq 0 ]; then sudo=; else sudo='sudo -n'; fi",
        "$sudo mkdir -p \"$dir\"",
        "$sudo install -m 600 /dev/null \"$dir/secrets.env.tmp\"",
        "$sudo tee \"$dir/secrets.env.tmp\" >/dev/null",
        "$sudo mv -f \"$dir/secrets.env.tmp\" \"$dir/secrets.env\"",
        "echo \"wrote $dir/secrets.env\"",
    ]
    .join("; ")
}

/// What a result records: where, how many, which names.
pub fn summary(secrets: &Secrets) -> Value {
    json!({"path": PATH, "count": secrets.len(), "names": secrets.names().collect::<Vec<_>>()})
}

fn described(secrets: &Secrets) -> String {
    match secrets.len() {
        0 => "no secrets".to_string(),
        n => format!("{n} secret(s): {}", secrets.names().collect::<Vec<_>>().join(", ")),
    }
}

/// `outcome` with `result.secrets` set (an object result; none yet: a new one).
fn with_summary(mut outcome: Outcome, secrets: &Secrets) -> Outcome {
    outcome.result.get_or_insert_with(Default::default).insert("secrets".into(), summary(secrets));
    outcome
}

/// Simulate mode, for a create or deploy that succeeded: record the file as written.
pub fn simulated(job: &Job, log: &LogSink, outcome: Outcome) -> Outcome {
    match &job.secrets {
        Some(secrets) if outcome.ok => {
            log.info(format!("simulate: wrote {PATH} (mode 0600): {}", described(secrets)));
            if secrets.is_empty() {
                outcome
            } else {
                with_summary(outcome, secrets)
            }
        }
        _ => outcome,
    }
}

/// Why one attempt failed, and whether SSH itself could not connect (exit 255).
struct Failed {
    message: String,
    unreachable: bool,
}

impl Ssh {
    /// Writes the file on `job`'s machine at `ip` (one SSH call).
    async fn write_secrets(&self, job: &Job, ip: &str, secrets: &Secrets) -> Result<(), Failed> {
        let mut at = job.clone();
        at.machine.ip_address = Some(ip.to_string());
        at.secrets = None;
        let (cmd, target) = self.command(&at, &write_script()).map_err(|message| Failed { message, unreachable: false })?;
        let spec = Spec { stdin: Some(env_file(secrets).into_bytes()), timeout: Some(WRITE_TIMEOUT), capture: 16 * 1024 };
        let finished = process::run(cmd, spec, &mut |_| {}, &mut |_| {})
            .await
            .map_err(|e| Failed { message: format!("cannot run {}: {e}", self.bin.display()), unreachable: false })?;
        let why = || {
            let text = finished.stderr.text();
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            lines[lines.len().saturating_sub(2)..].join("; ")
        };
        match finished.code {
            Some(0) => Ok(()),
            _ if finished.timed_out => Err(Failed { message: format!("writing {PATH} on {target} timed out"), unreachable: false }),
            Some(255) => Err(Failed { message: format!("ssh to {target} failed (exit 255): {}", why()), unreachable: true }),
            code => Err(Failed { message: format!("writing {PATH} on {target} failed (exit {code:?}): {}", why()), unreachable: false }),
        }
    }
}

/// Terraform mode, deploy: the file first (always, so that it holds exactly the secrets
/// in scope now); `Err` is the deploy's failed outcome.
pub async fn before_deploy(ssh: &Ssh, job: &Job, log: &LogSink) -> Result<Option<Value>, Outcome> {
    let Some(secrets) = &job.secrets else { return Ok(None) };
    let ip = job.machine.ip_address.clone().unwrap_or_default();
    match ssh.write_secrets(job, &ip, secrets).await {
        Ok(()) => {
            log.info(format!("deploy: wrote {PATH} (mode 0600): {}", described(secrets)));
            Ok((!secrets.is_empty()).then(|| summary(secrets)))
        }
        Err(f) => {
            log.error(format!("deploy: {}", f.message));
            Err(Outcome::failed(format!("secrets: {}", f.message)))
        }
    }
}

/// Terraform mode, deploy: `outcome` of the protocol with the file's summary in its result.
pub fn after_deploy(outcome: Outcome, written: Option<Value>) -> Outcome {
    match written {
        Some(s) => {
            let mut outcome = outcome;
            outcome.result.get_or_insert_with(Default::default).insert("secrets".into(), s);
            outcome
        }
        None => outcome,
    }
}

/// Terraform mode, after a lifecycle job: a create that succeeded gets the file once the
/// machine answers SSH, at the address Terraform just reported.
pub async fn after_create(ssh: &Ssh, job: &Job, outcome: Outcome, log: &LogSink) -> Outcome {
    let Some(secrets) = job.secrets.as_ref().filter(|s| job.action == Action::Create && outcome.ok && !s.is_empty()) else {
        return outcome;
    };
    let ip = outcome.outputs.as_ref().and_then(|o| o.ip_address.clone()).or_else(|| job.machine.ip_address.clone());
    let Some(ip) = ip else {
        log.error(format!("create: {PATH} not written: the machine has no address; the next deploy writes it"));
        return outcome;
    };
    for attempt in 1..=CREATE_ATTEMPTS {
        match ssh.write_secrets(job, &ip, secrets).await {
            Ok(()) => {
                log.info(format!("create: wrote {PATH} (mode 0600): {}", described(secrets)));
                return with_summary(outcome, secrets);
            }
            Err(f) if f.unreachable && attempt < CREATE_ATTEMPTS => {
                log.info(format!("create: waiting for SSH on {ip} to write {PATH} (attempt {attempt} of {CREATE_ATTEMPTS})"));
                tokio::time::sleep(CREATE_RETRY).await;
            }
            Err(f) => {
                log.error(format!("create: {PATH} not written ({}); the next deploy writes it", f.message));
                return outcome;
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn secrets(pairs: &[(&str, &str)]) -> Secrets {
        Secrets::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()).unwrap()
    }

    /// What sh reads back from the file, through a real sh.
    fn sourced(file: &str, name: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.env");
        std::fs::write(&path, file).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("set -a; . '{}'; set +a; printf '%s' \"${name}\"", path.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn the_file_reads_back_exactly_in_sh() {
        let tricky = "it's \"quoted\" $(touch /tmp/pwned) `id` \\n\nsecond line\n'";
        let s = secrets(&[("B_TRICKY", tricky), ("A_PLAIN", "postgres://u:p@h/db"), ("EMPTY", "")]);
        let file = env_file(&s);
        assert!(file.starts_with("# Written by hangar-runner"));
        let lines: Vec<&str> = file.lines().skip(1).take(2).collect();
        assert_eq!(lines, ["A_PLAIN='postgres://u:p@h/db'", "B_TRICKY='it'\\''s \"quoted\" $(touch /tmp/pwned) `id` \\n"]);
        assert_eq!(sourced(&file, "A_PLAIN"), "postgres://u:p@h/db");
        assert_eq!(sourced(&file, "B_TRICKY"), tricky);
        assert_eq!(sourced(&file, "EMPTY"), "");
        assert!(!std::path::Path::new("/tmp/pwned").exists());
    }

    #[test]
    fn summaries_hold_names_and_counts_only() {
        let s = secrets(&[("DB_URL", "hunter2"), ("API_KEY", "s3cr3t")]);
        let v = summary(&s);
        assert_eq!(v, json!({"path": PATH, "count": 2, "names": ["API_KEY", "DB_URL"]}));
        assert_eq!(described(&s), "2 secret(s): API_KEY, DB_URL");
        assert_eq!(described(&secrets(&[])), "no secrets");
        let text = format!("{v} {}", described(&s));
        assert!(!text.contains("hunter2") && !text.contains("s3cr3t"));
    }

    #[test]
    fn the_script_writes_a_0600_file_from_stdin_only() {
        let s = write_script();
        assert!(s.contains("install -m 600 /dev/null \"$dir/secrets.env.tmp\""));
        assert!(s.find("install -m 600").unwrap() < s.find("tee").unwrap(), "the mode is set before any byte is written");
        assert!(s.contains("mv -f \"$dir/secrets.env.tmp\" \"$dir/secrets.env\""));
    }
}
