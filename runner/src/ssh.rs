//! deploy, command and authorize_keys over SSH (Terraform mode). deploy and command read
//! their typed params (protocol::payload::{DeployParams, CommandParams}), checked before
//! they run; authorize_keys reads `machine.sshAuthorizedKeys`.
//!
//! The runner logs in with its own key (RUNNER_SSH_KEY), whose public half
//! (RUNNER_SSH_PUBLIC_KEY, or `<RUNNER_SSH_KEY>.pub`) cloud-init installs on every machine
//! (terraform variable `runner_ssh_public_key`). authorize_keys rewrites the login user's
//! `~/.ssh/authorized_keys` as the machine's keys plus that key, so the runner never
//! locks itself out; without a known runner key it refuses to run.
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
    /// The runner's own public key line (see the module doc).
    pub public_key: Option<String>,
}

/// An OpenSSH public key line as the runner installs it: `<type> <base64>[ comment]`, one
/// line, no options (`command=…` would be a type here, and refused).
pub fn is_key_line(line: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,2}( [^\x00-\x1f\x7f]*)?$").expect("regex"));
    line.len() <= 8192 && re.is_match(line)
}

/// `SHA256:<unpadded base64 of SHA-256(blob)>`, as `ssh-keygen -l` prints it.
pub fn fingerprint(line: &str) -> Option<String> {
    use base64::{engine::general_purpose::{STANDARD, STANDARD_NO_PAD}, Engine};
    use sha2::{Digest, Sha256};
    let blob = STANDARD.decode(line.split(' ').nth(1)?).ok()?;
    Some(format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob))))
}

/// The runner's own public key: `explicit` (RUNNER_SSH_PUBLIC_KEY), else the `.pub` file
/// beside the private key if there is one, else none.
pub fn runner_public_key(explicit: Option<&str>, private_key: Option<&std::path::Path>) -> Result<Option<String>, String> {
    let (line, from) = match (explicit.map(str::trim).filter(|s| !s.is_empty()), private_key) {
        (Some(line), _) => (line.to_string(), "RUNNER_SSH_PUBLIC_KEY".to_string()),
        (None, Some(key)) => {
            let mut pubfile = key.as_os_str().to_owned();
            pubfile.push(".pub");
            match std::fs::read_to_string(&pubfile) {
                Ok(text) => (text.trim().to_string(), "RUNNER_SSH_KEY.pub".to_string()),
                Err(_) => return Ok(None),
            }
        }
        (None, None) => return Ok(None),
    };
    if !is_key_line(&line) {
        return Err(format!("{from} is not an OpenSSH public key line"));
    }
    Ok(Some(line))
}

/// The login user's authorized_keys: the machine's keys in order, then the runner's own,
/// each key once (by its blob).
pub fn authorized_keys(machine_keys: &[String], runner_key: Option<&str>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    machine_keys
        .iter()
        .map(|k| k.trim())
        .chain(runner_key)
        .filter(|k| seen.insert(k.split(' ').nth(1).unwrap_or(k).to_string()))
        .map(str::to_string)
        .collect()
}

/// The fixed script of authorize_keys: the new file arrives on stdin and replaces the
/// login user's ~/.ssh/authorized_keys (0600, in a 0700 ~/.ssh) in one rename.
const AUTHORIZE_SCRIPT: &str = "set -eu; umask 077; d=\"$HOME/.ssh\"; mkdir -p \"$d\"; chmod 700 \"$d\"; \
cat > \"$d/authorized_keys.hangar-tmp\"; mv -f \"$d/authorized_keys.hangar-tmp\" \"$d/authorized_keys\"; \
echo \"authorized_keys: $(grep -c . \"$d/authorized_keys\") key(s) for $(id -un)\"";

/// What the runner last installed on a machine: `<workdir>/machines/<id>/authorized_keys`.
fn installed_path(workdir: &std::path::Path, machine_id: &str) -> PathBuf {
    workdir.join("machines").join(machine_id).join("authorized_keys")
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join("; ")
}

impl Ssh {
    /// `SSH_BIN [-i key] -o StrictHostKeyChecking=accept-new -o BatchMode=yes ... user@ip -- remote`.
    /// Host keys are remembered per machine (a new machine may reuse an old address).
    pub(crate) fn command(&self, job: &Job, remote: &str) -> Result<(Command, String), String> {
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

    /// authorize_keys: installs `machine.sshAuthorizedKeys` and the runner's own key as the
    /// login user's authorized_keys. Result `{ sshAuthorizedKeys: [fingerprints] }`.
    pub async fn authorize_keys(&self, job: &Job, log: &LogSink) -> Outcome {
        match self.install_keys(job, log, 1).await {
            Ok(fingerprints) => Outcome::succeeded().with_result(json!({ "sshAuthorizedKeys": fingerprints })),
            Err(e) => Outcome::failed(e),
        }
    }

    /// After a lifecycle job succeeded (Terraform mode): a create records the keys its
    /// cloud-init installed; a start or restart whose machine's keys changed while it was
    /// down installs them (cloud-init runs once, on first boot), waiting for sshd. A failure
    /// there is a warning: the machine runs, and a later update-machine retries.
    pub async fn after_lifecycle(&self, job: &Job, log: &LogSink) {
        use crate::job::Action;
        let wanted = authorized_keys(&job.machine.ssh_authorized_keys, self.public_key.as_deref());
        let path = installed_path(&self.workdir, &job.machine.id);
        match job.action {
            Action::Create => {
                let _ = std::fs::write(&path, wanted.join("\n") + "\n");
            }
            Action::Start | Action::Restart => {
                let installed = std::fs::read_to_string(&path).unwrap_or_default();
                if installed.lines().map(str::to_string).collect::<Vec<_>>() == wanted {
                    return;
                }
                log.info("ssh: the machine's SSH keys changed while it was down; installing them");
                if let Err(e) = self.install_keys(job, log, 8).await {
                    log.warn(format!("ssh: the new SSH keys are not installed yet: {e}"));
                }
            }
            _ => {}
        }
    }

    /// Writes the authorized_keys file; `attempts` > 1 retries SSH failures (exit 255) 15 s
    /// apart, for a machine that is still booting. The fingerprints installed.
    async fn install_keys(&self, job: &Job, log: &LogSink, attempts: u32) -> Result<Vec<String>, String> {
        let keys = &job.machine.ssh_authorized_keys;
        if let Some(bad) = keys.iter().position(|k| !is_key_line(k.trim())) {
            return Err(format!("machine.sshAuthorizedKeys[{bad}] is not an OpenSSH public key line"));
        }
        let Some(runner_key) = self.public_key.as_deref() else {
            return Err("the runner's own public key is unknown (set RUNNER_SSH_PUBLIC_KEY, or put RUNNER_SSH_KEY.pub beside the key): \
                rewriting authorized_keys would lock the runner out"
                .into());
        };
        let lines = authorized_keys(keys, Some(runner_key));
        let fingerprints: Vec<String> = lines.iter().filter_map(|l| fingerprint(l)).collect();
        let mut body = lines.join("\n");
        body.push('\n');
        for attempt in 1..=attempts.max(1) {
            let (cmd, target) = self.command(job, AUTHORIZE_SCRIPT)?;
            log.info(format!("authorize_keys: {} key(s) for {target}: {}", lines.len(), fingerprints.join(", ")));
            let spec = Spec { stdin: Some(body.clone().into_bytes()), timeout: Some(DEPLOY_TIMEOUT), capture: MAX_OUTPUT };
            let mut on_out = |line: String| log.info(line);
            let f = process::run(cmd, spec, &mut on_out, &mut |_| {})
                .await
                .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
            let stderr = f.stderr.text();
            match f.code {
                Some(0) => {
                    let _ = std::fs::write(installed_path(&self.workdir, &job.machine.id), body);
                    return Ok(fingerprints);
                }
                Some(255) if attempt < attempts => {
                    log.info(format!("authorize_keys: ssh to {target} failed ({}); retrying in 15 s", tail(&stderr)));
                    tokio::time::sleep(Duration::from_secs(15)).await;
                }
                Some(255) => return Err(format!("ssh to {target} failed (exit 255): {}", tail(&stderr))),
                _ if f.timed_out => return Err(format!("authorize_keys timed out after {} s", DEPLOY_TIMEOUT.as_secs())),
                code => return Err(format!("authorize_keys failed on {target} (exit {code:?}): {}", tail(&stderr))),
            }
        }
        Err("authorize_keys: no attempt made".into())
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

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICXVaRhGv3TRk5safvYVwCoG1++iGTl/TukFbUNPNyRD demo@hangar";

    #[test]
    fn fingerprints_are_ssh_keygens() {
        // `ssh-keygen -lf` of KEY printed SHA256:zcLSWk0rDwqQLegsfc8ZbDJMzIdDXskupBavLks7N/4.
        assert_eq!(fingerprint(KEY).as_deref(), Some("SHA256:zcLSWk0rDwqQLegsfc8ZbDJMzIdDXskupBavLks7N/4"));
        assert_eq!(fingerprint("ssh-ed25519 !!!"), None);
    }

    #[test]
    fn key_lines() {
        assert!(is_key_line(KEY));
        assert!(is_key_line("ecdsa-sha2-nistp256 AAAA"));
        for bad in ["", "command=\"sh\" ssh-ed25519 AAAA", "ssh-ed25519 AAAA x\nssh-rsa BBBB", "ssh-dss AAAA", "ssh-ed25519  AAAA"] {
            assert!(!is_key_line(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_runner_key_comes_last_and_each_key_once() {
        let other = "ssh-ed25519 BBBB laptop".to_string();
        let same_blob = KEY.replace("demo@hangar", "other comment");
        let runner = "ssh-ed25519 CCCC runner";
        assert_eq!(authorized_keys(&[KEY.into(), other.clone(), same_blob], Some(runner)), vec![KEY.to_string(), other, runner.to_string()]);
        assert_eq!(authorized_keys(&[], None), Vec::<String>::new());
    }

    #[test]
    fn the_runner_key_from_the_environment_or_beside_the_private_key() {
        assert_eq!(runner_public_key(Some(KEY), None), Ok(Some(KEY.to_string())));
        assert!(runner_public_key(Some("nope"), None).is_err());
        assert_eq!(runner_public_key(None, None), Ok(None));
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_ed25519");
        assert_eq!(runner_public_key(None, Some(&key)), Ok(None));
        std::fs::write(dir.path().join("id_ed25519.pub"), format!("{KEY}\n")).unwrap();
        assert_eq!(runner_public_key(None, Some(&key)), Ok(Some(KEY.to_string())));
        assert_eq!(runner_public_key(Some(""), Some(&key)), Ok(Some(KEY.to_string())));
    }

    #[test]
    fn the_authorize_script_is_valid_sh() {
        let out = std::process::Command::new("sh").arg("-n").arg("-c").arg(AUTHORIZE_SCRIPT).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    #[test]
    fn deploy_script_quotes_the_name() {
        let s = deploy_script("eth");
        assert!(s.starts_with("set -eu; name=eth; dir=/etc/hangar/protocols;"));
        assert!(s.contains("tee \"$dir/$name.json.tmp\""));
    }
}
