//! Terraform mode: the state of each machine lives in Postgres (the `pg` backend, one
//! workspace per machine, named by its id); `<workdir>/machines/<machineId>/` is a cache
//! that any job rebuilds when it is missing, so any runner can run any job:
//! - `module/`: a copy of RUNNER_MODULES_DIR (the whole directory, so that a module may use
//!   files of its siblings, e.g. `${path.module}/../agent/...`);
//! - `main.tf.json`: the root module: the `pg` backend, and a call of `module/<provider>`
//!   with the contract variables, passing its outputs `ip_address` and `instance_id` through;
//! - `terraform.tfvars.json`: the contract variables (mode 0600: it holds the agent token).
//!
//! The backend's connection string and schema reach Terraform in its environment
//! (PG_CONN_STR, PG_SCHEMA_NAME: never on a command line); `terraform workspace select
//! -or-create` picks the machine's workspace, and every later command names it again
//! (TF_WORKSPACE). The backend has one lock for creating any workspace, so machines made at
//! once contend for it: such failures are retried (`step_contended`).
//! Its lock is a Postgres advisory lock held by Terraform's connection: an apply waits up
//! to [`LOCK_TIMEOUT`] for one still in flight (a Terraform orphaned by a runner that was
//! killed finishes its apply first), and the lock of a killed Terraform goes with it.
//!
//! Before any Terraform runs, a create's provider:image must be in ALLOWED_IMAGES and every
//! job's `machine.configuration.ports` must be valid (it becomes the `ports` variable, the
//! machine's firewall openings besides SSH).
use crate::allowlist::ImageAllowlist;
use crate::job::{log_line, log_line_at, Action, Job, LogEntry, Outcome, Outputs};
use crate::process::{self, Spec};
use crate::report::LogSink;
use protocol::payload::LogLevel;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// How long an apply or destroy waits for the state lock.
pub const LOCK_TIMEOUT: &str = "300s";

/// Failures of the `pg` backend that are contention and pass: its single lock for creating
/// any workspace (`workspace select -or-create` of two machines at once), and two first
/// `init`s creating its table at once (seen with Terraform 1.11).
const CONTENDED: [&str; 2] = ["Already locked for workspace creation", "duplicate key value violates unique constraint"];
const CONTENDED_ATTEMPTS: u32 = 40;

/// A few random bits for a retry's jitter.
fn rand_jitter() -> u64 {
    uuid::Uuid::new_v4().as_u128() as u64
}

/// Where the state lives: the `pg` backend's connection string and schema.
#[derive(Clone)]
pub struct State {
    pub conn_str: String,
    pub schema: String,
}

/// The variables every module takes (API.md §5, terraform/*/variables.tf).
pub const CONTRACT: [&str; 13] = [
    "machine_id",
    "name",
    "cpu",
    "memory_mb",
    "disk_gb",
    "region",
    "image",
    "ssh_authorized_keys",
    "runner_ssh_public_key",
    "agent_token",
    "functions_url",
    "power_state",
    "ports",
];

pub struct Terraform {
    pub bin: PathBuf,
    pub modules_dir: PathBuf,
    pub workdir: PathBuf,
    pub allowed_images: ImageAllowlist,
    state: State,
    /// The runner's own public key (`runner_ssh_public_key`; ssh.rs), "" when unknown.
    runner_key: Option<String>,
    /// `terraform init` of several machines at once could race on the shared plugin cache
    /// (Terraform does not promise it is safe): inits run one at a time.
    init_lock: tokio::sync::Mutex<()>,
}

/// `{FUNCTIONS_URL}` of a callback URL `{FUNCTIONS_URL}/functions/v1/runner-callback`.
pub fn functions_url(callback_url: &str) -> String {
    match callback_url.find("/functions/v1/") {
        Some(i) => callback_url[..i].to_string(),
        None => callback_url.trim_end_matches('/').to_string(),
    }
}

/// One stdout line of `terraform ... -json` as a log entry, and its text if it is an error.
/// Lines that are not Terraform's JSON become info entries; blank lines are skipped.
pub fn parse_line(line: &str) -> Option<(LogEntry, Option<String>)> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let parsed = serde_json::from_str::<Map<String, Value>>(line).ok().filter(|o| o.contains_key("@message"));
    let Some(o) = parsed else {
        return Some((log_line("info", line), None));
    };
    let level = o.get("@level").and_then(Value::as_str).unwrap_or("info");
    let mut message = o.get("@message").and_then(Value::as_str).unwrap_or_default().to_string();
    let detail = o.get("diagnostic").and_then(|d| d.get("detail")).and_then(Value::as_str).unwrap_or_default();
    if !detail.is_empty() && !message.contains(detail) {
        message = format!("{message}: {detail}");
    }
    let ts = o
        .get("@timestamp")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(crate::job::now_rfc3339);
    let entry = log_line_at(level, message, ts);
    let error = (entry.level == LogLevel::Error).then(|| entry.message.clone());
    Some((entry, error))
}

/// The gist of Terraform's plain-text diagnostics: the last `Error:` line and the two
/// lines after it, else the last three lines.
pub fn plain_error(lines: &[String]) -> String {
    let from = lines.iter().rposition(|l| l.starts_with("Error:")).unwrap_or(lines.len().saturating_sub(3));
    lines[from..].iter().take(3).cloned().collect::<Vec<_>>().join(" ")
}

/// `terraform output -json` → outputs (`ip_address`, `instance_id`).
pub fn parse_outputs(raw: &str) -> Result<Outputs, String> {
    let v: Value = serde_json::from_str(raw).map_err(|e| format!("terraform output -json is not JSON: {e}"))?;
    let get = |k: &str| v.get(k).and_then(|o| o.get("value")).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    Ok(Outputs { ip_address: get("ip_address"), provider_instance_id: get("instance_id") })
}

/// The root module of a machine's directory.
pub fn root_module(provider: &str) -> Value {
    let mut variables = Map::new();
    let mut call = Map::new();
    call.insert("source".into(), json!(format!("./module/{provider}")));
    for v in CONTRACT {
        let decl = match v {
            "agent_token" => json!({"sensitive": true}),
            "ports" => json!({"type": "list(number)", "default": []}),
            "ssh_authorized_keys" => json!({"type": "list(string)", "default": []}),
            _ => json!({}),
        };
        variables.insert(v.into(), decl);
        call.insert(v.into(), json!(format!("${{var.{v}}}")));
    }
    json!({
        "//": "Written by hangar-runner: the pg backend (configured from the environment), and the module copied to ./module called with the contract variables.",
        "terraform": {"backend": {"pg": {}}},
        "variable": variables,
        "module": {"machine": call},
        "output": {
            "ip_address": {"value": "${module.machine.ip_address}"},
            "instance_id": {"value": "${module.machine.instance_id}"},
        },
    })
}

fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let name = entry.file_name();
        let n = name.to_string_lossy();
        if n == ".terraform" || n == ".git" || n.starts_with("terraform.tfstate") || n.starts_with("terraform.tfvars") {
            continue;
        }
        let from = entry.path();
        let meta = std::fs::metadata(&from)?; // follows symlinks
        if meta.is_dir() {
            copy_tree(&from, &dst.join(&name))?;
        } else if meta.is_file() {
            std::fs::copy(&from, dst.join(&name))?;
        }
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

fn valid_provider(p: &str) -> bool {
    (1..=32).contains(&p.len()) && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl Terraform {
    pub fn new(bin: PathBuf, modules_dir: PathBuf, workdir: PathBuf, allowed_images: ImageAllowlist, state: State) -> Terraform {
        Terraform { bin, modules_dir, workdir, allowed_images, state, runner_key: None, init_lock: tokio::sync::Mutex::new(()) }
    }

    /// Installs `key` (the runner's own public key) on every machine it creates.
    pub fn with_runner_key(mut self, key: Option<String>) -> Terraform {
        self.runner_key = key;
        self
    }

    /// Rebuilds the cache directory when it is missing, `terraform init`, then selects the
    /// machine's workspace (made on first use). Every later command names the workspace
    /// again (TF_WORKSPACE), so none can ever run on another machine's state.
    async fn init(&self, job: &Job, dir: &Path, log: &LogSink) -> Result<(), String> {
        if !dir.join("main.tf.json").exists() {
            self.prepare(job, dir, log).await?;
        }
        {
            let _one_at_a_time = self.init_lock.lock().await;
            self.step_contended(dir, &["init", "-input=false", "-no-color"], log).await?;
        }
        self.step_contended(dir, &["workspace", "select", "-or-create=true", "-no-color", &job.machine.id], log).await
    }

    pub fn machine_dir(&self, machine_id: &str) -> PathBuf {
        self.workdir.join("machines").join(machine_id)
    }

    pub async fn run(&self, job: &Job, log: &LogSink) -> Outcome {
        match self.try_run(job, log).await {
            Ok(outcome) => outcome,
            Err(e) => {
                log.error(e.clone());
                Outcome::failed(e)
            }
        }
    }

    async fn try_run(&self, job: &Job, log: &LogSink) -> Result<Outcome, String> {
        let dir = self.machine_dir(&job.machine.id);
        if job.action == Action::Terminate {
            return self.terminate(job, &dir, log).await;
        }
        let ports = job.machine.ports()?;
        match job.action {
            Action::Create => {
                self.allowed_images.check(&job.machine.provider, &job.machine.image)?;
                self.apply(job, &dir, "running", &ports, log).await?;
                Ok(Outcome::succeeded().with_outputs(self.outputs(&dir).await?))
            }
            Action::Start => {
                self.apply(job, &dir, "running", &ports, log).await?;
                Ok(Outcome::succeeded().with_outputs(self.outputs(&dir).await?))
            }
            Action::Stop => {
                self.apply(job, &dir, "stopped", &ports, log).await?;
                Ok(Outcome::succeeded())
            }
            Action::Restart => {
                self.apply(job, &dir, "stopped", &ports, log).await?;
                self.apply(job, &dir, "running", &ports, log).await?;
                Ok(Outcome::succeeded().with_outputs(self.outputs(&dir).await?))
            }
            Action::Terminate | Action::Deploy | Action::Command | Action::AuthorizeKeys => {
                Err("internal: not a Terraform lifecycle action".into())
            }
        }
    }

    /// Copies the modules and writes the root module (the cache of a machine).
    async fn prepare(&self, job: &Job, dir: &Path, log: &LogSink) -> Result<(), String> {
        let provider = job.machine.provider.as_str();
        if !valid_provider(provider) {
            return Err(format!("machine.provider {provider:?} is not a module name"));
        }
        let source = self.modules_dir.join(provider);
        if !source.is_dir() {
            return Err(format!("no Terraform module for provider {provider} at {}", source.display()));
        }
        log.info(format!("terraform: preparing {} with the {provider} module", dir.display()));
        let (modules, dir2) = (self.modules_dir.clone(), dir.to_path_buf());
        let root = root_module(provider);
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            std::fs::create_dir_all(&dir2)?;
            #[cfg(unix)]
            std::fs::set_permissions(&dir2, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
            let target = dir2.join("module");
            if target.exists() {
                std::fs::remove_dir_all(&target)?;
            }
            copy_tree(&modules, &target)?;
            std::fs::write(dir2.join("main.tf.json"), serde_json::to_vec_pretty(&root).expect("JSON"))
        })
        .await
        .map_err(|e| format!("internal: {e}"))?
        .map_err(|e| format!("cannot prepare {}: {e}", dir.display()))
    }

    /// Writes `terraform.tfvars.json`. The agent token comes with the create job only;
    /// later jobs pass "" (every module ignores changes of what cloud-init was given).
    fn write_tfvars(&self, job: &Job, dir: &Path, power_state: &str, ports: &[u16]) -> Result<(), String> {
        let path = dir.join("terraform.tfvars.json");
        let m = &job.machine;
        let vars = json!({
            "machine_id": m.id,
            "name": m.name,
            "cpu": m.cpu,
            "memory_mb": m.memory_mb,
            "disk_gb": m.disk_gb,
            "region": m.region,
            "image": m.image,
            "ssh_authorized_keys": m.ssh_authorized_keys,
            "runner_ssh_public_key": self.runner_key.clone().unwrap_or_default(),
            "agent_token": job.agent_token.clone().unwrap_or_default(),
            "functions_url": functions_url(&job.callback_url),
            "power_state": power_state,
            "ports": ports,
        });
        write_private(&path, &serde_json::to_vec_pretty(&vars).expect("JSON")).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .current_dir(dir)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .env("PG_CONN_STR", &self.state.conn_str)
            .env("PG_SCHEMA_NAME", &self.state.schema)
            .env_remove("TF_WORKSPACE")
            .env_remove("RUNNER_SECRET")
            .env_remove("RUNNER_STATE_DATABASE_URL");
        // init and workspace select run without it (they fail for a workspace not made yet);
        // everything after names the machine's workspace (its directory is named by its id),
        // so a failed select can never leave a command on the `default` workspace.
        if !matches!(args.first(), Some(&"init" | &"workspace")) {
            let workspace = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            cmd.env("TF_WORKSPACE", workspace);
        }
        if std::env::var_os("TF_PLUGIN_CACHE_DIR").is_none() {
            let cache = self.workdir.join("plugin-cache");
            if std::fs::create_dir_all(&cache).is_ok() {
                cmd.env("TF_PLUGIN_CACHE_DIR", std::path::absolute(&cache).unwrap_or(cache));
            }
        }
        cmd
    }

    /// Runs one terraform command, its output streamed to `log`.
    /// `step`, again (up to [`CONTENDED_ATTEMPTS`] times, a jittered 0.2 to 1 s apart) while
    /// it fails for contention in the `pg` backend that does not last: its one lock for
    /// creating any workspace, and the race of two first `init`s creating its table.
    async fn step_contended(&self, dir: &Path, args: &[&str], log: &LogSink) -> Result<(), String> {
        let mut attempt = 1;
        loop {
            match self.step(dir, args, log).await {
                Err(e) if attempt < CONTENDED_ATTEMPTS && CONTENDED.iter().any(|c| e.contains(c)) => {
                    attempt += 1;
                    let wait = 200 + (rand_jitter() % 800);
                    log.info(format!("terraform {}: the state backend is busy; again in {wait} ms", args[0]));
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                }
                outcome => return outcome,
            }
        }
    }

    async fn step(&self, dir: &Path, args: &[&str], log: &LogSink) -> Result<(), String> {
        let verb = args[0];
        log.info(format!("terraform {}", args.join(" ")));
        let mut errors: Vec<String> = Vec::new();
        let mut tail: VecDeque<String> = VecDeque::new();
        let mut on_out = |line: String| {
            if let Some((entry, error)) = parse_line(&line) {
                if let Some(e) = error {
                    errors.push(e);
                }
                tail.push_back(entry.message.clone());
                if tail.len() > 5 {
                    tail.pop_front();
                }
                log.entry(entry);
            }
        };
        let mut stderr: VecDeque<String> = VecDeque::new();
        let mut on_err = |line: String| {
            // Without -json (init), diagnostics are drawn in boxes: keep the text.
            let line = line.trim_start_matches(['│', '╷', '╵', ' ']).trim_end().to_string();
            if !line.is_empty() {
                log.entry(log_line("warn", line.clone()));
                stderr.push_back(line);
                if stderr.len() > 50 {
                    stderr.pop_front();
                }
            }
        };
        let spec = Spec { stdin: None, timeout: None, capture: 0 };
        let finished = process::run(self.command(dir, args), spec, &mut on_out, &mut on_err)
            .await
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        if finished.code == Some(0) {
            return Ok(());
        }
        let contended = stderr.iter().chain(errors.iter()).find(|l| CONTENDED.iter().any(|c| l.contains(c))).cloned();
        let why: Vec<String> = if let Some(line) = contended {
            vec![line]
        } else if !errors.is_empty() {
            errors.iter().rev().take(3).rev().cloned().collect()
        } else if !stderr.is_empty() {
            let stderr: Vec<String> = stderr.into();
            vec![plain_error(&stderr)]
        } else {
            tail.into_iter().collect()
        };
        let code = finished.code.map(|c| c.to_string()).unwrap_or_else(|| "by a signal".into());
        Err(format!("terraform {verb} failed (exit {code}): {}", why.join("; ")))
    }

    async fn apply(&self, job: &Job, dir: &Path, power_state: &str, ports: &[u16], log: &LogSink) -> Result<(), String> {
        self.init(job, dir, log).await?;
        self.write_tfvars(job, dir, power_state, ports)?;
        let lock = format!("-lock-timeout={LOCK_TIMEOUT}");
        self.step(dir, &["apply", "-auto-approve", "-input=false", "-json", &lock], log).await
    }

    async fn outputs(&self, dir: &Path) -> Result<Outputs, String> {
        let spec = Spec { stdin: None, timeout: Some(std::time::Duration::from_secs(120)), capture: 1 << 20 };
        let f = process::run(self.command(dir, &["output", "-json"]), spec, &mut |_| {}, &mut |_| {})
            .await
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        if f.code != Some(0) {
            return Err(format!("terraform output failed (exit {:?}): {}", f.code, f.stderr.text().trim()));
        }
        parse_outputs(&f.stdout.text())
    }

    /// `terraform destroy` of the machine's workspace (an empty one, if nothing was ever
    /// applied: nothing to destroy), then the cache directory goes.
    async fn terminate(&self, job: &Job, dir: &Path, log: &LogSink) -> Result<Outcome, String> {
        // A configuration that became invalid must not keep a machine alive: destroy
        // without the openings (they go with the machine anyway).
        let ports = job.machine.ports().unwrap_or_else(|e| {
            log.warn(format!("terraform: {e}; destroying without the ports"));
            Vec::new()
        });
        self.init(job, dir, log).await?;
        self.write_tfvars(job, dir, "stopped", &ports)?;
        let lock = format!("-lock-timeout={LOCK_TIMEOUT}");
        self.step(dir, &["destroy", "-auto-approve", "-input=false", "-json", &lock], log).await?;
        if let Err(e) = std::fs::remove_dir_all(dir) {
            log.warn(format!("terraform: could not remove {}: {e}", dir.display()));
        }
        Ok(Outcome::succeeded())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_url_of_a_callback() {
        assert_eq!(functions_url("https://abc.supabase.co/functions/v1/runner-callback"), "https://abc.supabase.co");
        assert_eq!(functions_url("http://127.0.0.1:8787/functions/v1/runner-callback"), "http://127.0.0.1:8787");
        assert_eq!(functions_url("http://h/cb/"), "http://h/cb");
    }

    #[test]
    fn terraform_json_lines() {
        let (e, err) = parse_line(r#"{"@level":"info","@message":"aws_instance.this: Creating...","@module":"terraform.ui","@timestamp":"2026-11-22T11:00:00.123456+01:00","type":"apply_start"}"#).unwrap();
        assert_eq!(
            (e.level.as_str(), e.message.as_str(), e.ts.as_deref()),
            ("info", "aws_instance.this: Creating...", Some("2026-11-22T10:00:00.123Z"))
        );
        assert!(err.is_none());
        let (e, err) = parse_line(r#"{"@level":"error","@message":"Error: creating EC2 Instance","diagnostic":{"severity":"error","summary":"creating EC2 Instance","detail":"UnauthorizedOperation"},"type":"diagnostic"}"#).unwrap();
        assert_eq!(e.level, LogLevel::Error);
        assert_eq!(err.unwrap(), "Error: creating EC2 Instance: UnauthorizedOperation");
        let (e, _) = parse_line("Initializing the backend...").unwrap();
        assert_eq!((e.level.as_str(), e.message.as_str()), ("info", "Initializing the backend..."));
        assert!(parse_line("   ").is_none());
    }

    #[test]
    fn plain_errors() {
        let lines: Vec<String> = [
            "Warning: Unable to open CLI configuration file",
            "Error: Failed to query available provider packages",
            "Could not retrieve the list of available versions for provider",
            "hashicorp/aws: could not connect to registry.terraform.io",
            "To see which modules are currently depending on hashicorp/aws",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            plain_error(&lines),
            "Error: Failed to query available provider packages Could not retrieve the list of available versions for provider hashicorp/aws: could not connect to registry.terraform.io"
        );
        assert_eq!(plain_error(&lines[..1]), "Warning: Unable to open CLI configuration file");
    }

    #[test]
    fn outputs() {
        let o = parse_outputs(r#"{"ip_address":{"value":"203.0.113.7","sensitive":false,"type":"string"},"instance_id":{"value":"i-0abc","sensitive":false,"type":"string"}}"#).unwrap();
        assert_eq!(o, Outputs { ip_address: Some("203.0.113.7".into()), provider_instance_id: Some("i-0abc".into()) });
        assert_eq!(parse_outputs("{}").unwrap(), Outputs::default());
        assert!(parse_outputs("nope").is_err());
    }

    #[test]
    fn root_module_calls_the_copied_module() {
        let root = root_module("aws");
        assert_eq!(root["module"]["machine"]["source"], "./module/aws");
        assert_eq!(root["terraform"], json!({"backend": {"pg": {}}}));
        assert_eq!(root["module"]["machine"]["power_state"], "${var.power_state}");
        assert_eq!(root["variable"].as_object().unwrap().len(), CONTRACT.len());
        assert_eq!(root["variable"]["agent_token"]["sensitive"], true);
        assert_eq!(root["variable"]["ports"], json!({"type": "list(number)", "default": []}));
        assert_eq!(root["module"]["machine"]["ports"], "${var.ports}");
        assert_eq!(root["variable"]["ssh_authorized_keys"], json!({"type": "list(string)", "default": []}));
        assert_eq!(root["module"]["machine"]["runner_ssh_public_key"], "${var.runner_ssh_public_key}");
    }
}
