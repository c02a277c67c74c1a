//! deploy and command over SSH (Terraform mode). Both read their typed params
//! (protocol::payload::{DeployParams, CommandParams}), checked before they run.
use crate::job::{Job, Outcome};
use crate::process::{self, shell_quote, Spec};
use crate::report::LogSink;
use protocol::payload::{CommandParams, DeployParams};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use tokio::process::Command;

/// stdout and stderr of a command are kept up to this many bytes each.
pub const MAX_OUTPUT: usize = 64 * 1024;
/// deploy's script is short: it gets this long.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(120);

/// The fixed script of deploy: the protocol config arrives on stdin and is written to
/// /etc/hangar/protocols/<name>.json (through `sudo -n` unless the user is root), then printed.
fn deploy_script(name: &str) -> String {
    [
        "set -eu",
        &format!("name={}", shell_quote(name)),
        "dir=/etc/hangar/protocols",
        "if [ \"$(id -u)\" -eq 0 ]; then sudo=; else sudo='sudo -n'; fi",
        "$sudo mkdir -p \"$dir\"",
        "$sudo tee \"$dir/$name.json.tmp\" >/dev/null",
        "$sudo chmod 644 \"$dir/$name.json.tmp\"",
        "$sudo mv -f \"$dir/$name.json.tmp\" \"$dir/$name.json\"",
        "echo \"wrote $dir/$name.json\"",
        "cat \"$dir/$name.json\"",
    ]
    .join("; ")
}

pub struct Ssh {
    pub bin: PathBuf,
    pub key: Option<PathBuf>,
    pub user: String,
    pub workdir: PathBuf,
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join("; ")
}

impl Ssh {
    /// `SSH_BIN [-i key] -o StrictHostKeyChecking=accept-new -o BatchMode=yes ... user@ip -- remote`.
    /// Host keys are remembered per machine (a new machine may reuse an old address).
    fn command(&self, job: &Job, remote: &str) -> Result<(Command, String), String> {
        let ip = job.machine.ip_address.as_deref().unwrap_or_default();
        let ip_ok = !ip.is_empty() && !ip.starts_with('-') && ip.chars().all(|c| c.is_ascii_alphanumeric() || ".:-".contains(c));
        if !ip_ok {
            return Err(format!("machine {} has no usable ipAddress", job.machine.id));
        }
        let dir = self.workdir.join("machines").join(&job.machine.id);
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let known_hosts = std::path::absolute(dir.join("known_hosts")).unwrap_or_else(|_| dir.join("known_hosts"));
        let target = format!("{}@{ip}", self.user);
        let mut cmd = Command::new(&self.bin);
        if let Some(key) = &self.key {
            cmd.arg("-i").arg(key);
        }
        cmd.args(["-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
            .arg(&target)
            .arg("--")
            .arg(remote)
            .env_remove("RUNNER_SECRET");
        Ok((cmd, target))
    }

    pub async fn deploy(&self, job: &Job, p: &DeployParams, log: &LogSink) -> Outcome {
        let (name, version) = (p.name.as_str(), p.version.as_str());
        let config = json!({
            "name": name,
            "version": version,
            "settings": p.settings,
            "deploymentId": p.deployment_id,
            "jobId": job.job_id,
            "deployedAt": crate::job::now_rfc3339(),
        });
        let (cmd, target) = match self.command(job, &deploy_script(name)) {
            Ok(c) => c,
            Err(e) => return Outcome::failed(e),
        };
        log.info(format!("deploy: {name} {version} to {target}"));
        let mut body = serde_json::to_vec_pretty(&config).expect("JSON");
        body.push(b'\n');
        let spec = Spec { stdin: Some(body), timeout: Some(DEPLOY_TIMEOUT), capture: MAX_OUTPUT };
        let mut on_out = |line: String| log.info(line);
        let finished = match process::run(cmd, spec, &mut on_out, &mut |_| {}).await {
            Ok(f) => f,
            Err(e) => return Outcome::failed(format!("cannot run {}: {e}", self.bin.display())),
        };
        let stderr = finished.stderr.text();
        if !stderr.trim().is_empty() {
            log.warn(stderr.trim().to_string());
        }
        match finished.code {
            Some(0) => Outcome::succeeded().with_result(json!({"protocol": name, "version": version, "status": "deployed"})),
            Some(255) => Outcome::failed(format!("ssh to {target} failed (exit 255): {}", tail(&stderr))),
            _ if finished.timed_out => Outcome::failed(format!("deploy timed out after {} s", DEPLOY_TIMEOUT.as_secs())),
            code => Outcome::failed(format!("deploy failed on {target} (exit {code:?}): {}", tail(&stderr))),
        }
    }

    pub async fn command_job(&self, job: &Job, p: &CommandParams, log: &LogSink) -> Outcome {
        let (command, args, timeout) = (&p.command, &p.args, u64::from(p.timeout_sec));
        let remote = std::iter::once(command).chain(args).map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ");
        let (cmd, target) = match self.command(job, &remote) {
            Ok(c) => c,
            Err(e) => return Outcome::failed(e),
        };
        log.info(format!("command: {remote} on {target} (timeout {timeout} s)"));
        let spec = Spec { stdin: None, timeout: Some(Duration::from_secs(timeout)), capture: MAX_OUTPUT };
        let f = match process::run(cmd, spec, &mut |_| {}, &mut |_| {}).await {
            Ok(f) => f,
            Err(e) => return Outcome::failed(format!("cannot run {}: {e}", self.bin.display())),
        };
        let mut result = json!({"exitCode": f.code, "stdout": f.stdout.text(), "stderr": f.stderr.text()});
        if f.stdout.truncated || f.stderr.truncated {
            result["truncated"] = json!(true);
        }
        if f.timed_out {
            result["timedOut"] = json!(true);
            log.error(format!("command: timed out after {timeout} s, killed"));
            return Outcome::failed(format!("command timed out after {timeout} s")).with_result(result);
        }
        match f.code {
            Some(255) => {
                let why = tail(&f.stderr.text());
                log.error(format!("command: ssh to {target} failed: {why}"));
                Outcome::failed(format!("ssh to {target} failed (exit 255): {why}")).with_result(result)
            }
            Some(code) => {
                log.info(format!("command: exited with {code}"));
                Outcome::succeeded().with_result(result)
            }
            None => Outcome::failed("command: ssh was killed by a signal").with_result(result),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_script_quotes_the_name() {
        let s = deploy_script("eth");
        assert!(s.starts_with("set -eu; name=eth; dir=/etc/hangar/protocols;"));
        assert!(s.contains("tee \"$dir/$name.json.tmp\""));
    }
}
