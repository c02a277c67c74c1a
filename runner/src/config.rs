//! Configuration: environment variables, each with a matching command-line flag.
use crate::allowlist::{ImageAllowlist, DEFAULT_ALLOWED_IMAGES};
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const LONG_ABOUT: &str = "\
Hangar's provisioning runner. The Workers never run Terraform: each machine transition \
becomes a job that is POSTed here as a signed webhook (API.md §5). The runner checks the \
`Hangar-Signature` header (t=<unix s>,v1=<hex HMAC-SHA256(RUNNER_SECRET, \
\"hangar-webhook.<t>.<raw body>\")>, at most 300 s off, exactly one t and one v1), answers \
202 at once and runs the job in the background. Every call it makes to the job's \
`callbackUrl` is signed with the context \"hangar-callback\" instead (so a signature is only \
ever valid in one direction).

CLAIMS
  Before it runs a job the runner claims it: {jobId, status: claimed, runnerId: RUNNER_ID}.
  The database answers with a lease and a fencing number, or why not: a job already
  finished, or of a machine whose terminate succeeded, or claimed by another runner under a
  live lease, is not run (a redelivery never runs twice, on any runner); `busy` (an earlier
  job of the machine is not done) is asked again (1 s, doubling up to 8 s) until it is not. Then every report
  carries the claim's fence: {status: running} (log lines, or none: a heartbeat at least
  every third of the lease, at most 20 s apart), then the final {status: succeeded|failed,
  outputs?, result?, error?}. A report answered 409 lost its claim (the lease ran out and
  another runner took the job): it changes nothing. The lease length is the database's
  (private.settings job_lease_seconds), read from each claim's answer.

ENDPOINTS
  POST /  (or /webhook)  a signed job; 202 (also for a job already here, which is not run
                         twice), 401 for a missing, malformed, wrong or stale signature, 400
                         for a body that is not exactly a job (unknown fields are refused).
  GET  /health           {status: \"ok\", mode, runnerId, running, queued, version}

PARAMS
  Each action reads exactly its own params, nothing else (an unknown key fails the job,
  naming the key): create, start, stop, restart, terminate, authorize_keys: {}; deploy:
  {deploymentId, name, version, settings}; command: {command, args, timeoutSec (1..3600)}.

MODES (RUNNER_MODE, required: there is no default)
  simulate   No cloud is touched. Every step
             sleeps RUNNER_SIM_DELAY_MS. create answers ipAddress 192.0.2.<n> (derived from
             the machine id) and providerInstanceId sim-<uuid>; deploy and command answer
             simulated results. `simulateFailure: true` in the machine's configuration
             makes a job fail (a string or an array of action names limits it to those
             actions).
             Simulated agents: a machine that runs (after create, start or restart)
             posts a plausible load sample to record-metrics, as the agent cloud-init
             installs on a real machine does: {cpuUsage, memoryUsage, diskUsage,
             networkIn, networkOut} with `Authorization: Bearer <agentToken>` (the token
             of the create job) to <origin of callbackUrl>/functions/v1/record-metrics,
             right after the machine is running and then every
             SIMULATE_METRICS_INTERVAL (0: no simulated agents). It stops before a stop,
             restart or terminate job runs, when the runner shuts down, and for good when
             the token is refused (401, three times in a row). Tokens are kept in
             <RUNNER_WORKDIR>/agents/<machineId>.json (0600) with whether the machine
             runs, so a restarted runner resumes the agents of running machines. Tokens
             are never logged.
  terraform  Terraform (TERRAFORM_BIN) with its state in Postgres: the `pg` backend on
             RUNNER_STATE_DATABASE_URL (required), schema RUNNER_STATE_SCHEMA, one
             workspace per machine (named by its id). The working directory
             <RUNNER_WORKDIR>/machines/<machineId>/ is a cache, rebuilt by any job that
             finds it missing, so any runner can run any job of any machine: RUNNER_MODULES_DIR
             is copied into it (module/) and a small root module (main.tf.json) calls
             module/<provider> with the contract variables (terraform/variables.tf), which are
             written to terraform.tfvars.json: machine_id, name, cpu, memory_mb, disk_gb,
             region, image, ssh_authorized_keys (machine.sshAuthorizedKeys),
             runner_ssh_public_key (RUNNER_SSH_PUBLIC_KEY), agent_token, functions_url,
             power_state, and ports (from the machine's configuration.ports: at most 20 port
             numbers, default []; anything else fails the job). The agent token comes with
             the create job only: the root module keeps it in the state (a terraform_data
             that ignores later changes), so later jobs on any runner pass the same one.
             A create whose provider:image is not in ALLOWED_IMAGES fails before Terraform
             runs. The runner runs `terraform init`, `terraform workspace select
             -or-create`, then `terraform apply -json` (power_state running for
             create/start, stopped for stop; restart applies stopped then running) or
             `terraform destroy -json` for terminate, streams every JSON line as a log entry
             and reads `terraform output -json` (ip_address, instance_id) into the outputs.
             The backend's lock is a Postgres advisory lock: two runners never apply one
             machine at once, and a killed Terraform's lock goes with its connection.
             TF_PLUGIN_CACHE_DIR defaults to <RUNNER_WORKDIR>/plugin-cache.
  deploy and command (terraform mode) run over SSH:
             SSH_BIN -i RUNNER_SSH_KEY -o StrictHostKeyChecking=accept-new -o BatchMode=yes
             <RUNNER_SSH_USER>@<ipAddress> -- <command>. deploy writes the protocol config to
             /etc/hangar/protocols/<name>.json; command runs `command args...` (each word
             shell-quoted) with params.timeoutSec and reports {exitCode, stdout, stderr}. A
             non-zero exit still succeeds (the command ran); an SSH failure (exit 255) or a
             timeout fails the job.
  authorize_keys (terraform mode) rewrites the login user's ~/.ssh/authorized_keys over
             SSH: machine.sshAuthorizedKeys, then RUNNER_SSH_PUBLIC_KEY (default: the .pub
             beside RUNNER_SSH_KEY; without one the job fails rather than lock the runner
             out). A start or restart whose machine's keys changed while it was stopped
             installs them the same way once it is up (cloud-init runs on first boot only).
             Simulate mode records the keys' fingerprints in the log and the result.

WHAT REPORTS NEVER CARRY
  The runner's local paths (RUNNER_WORKDIR, RUNNER_MODULES_DIR, TERRAFORM_BIN, RUNNER_SSH_KEY,
  TF_PLUGIN_CACHE_DIR, HOME) and cloud account identifiers (AWS account ids, also in ARNs;
  GCP projects/<id>, project numbers and service-account domains; Azure subscriptions/<id>
  and subscription or tenant GUIDs) are replaced by <workdir>, <modules>, ..., <account> in
  every report's log messages, error and result before it is sent.

DURABILITY
  The database holds what matters (the claim, the lease, the Terraform state): a runner that
  dies mid-job loses its lease, and the scheduler's reaper gives the job to another runner.
  A job this runner holds is kept as <RUNNER_WORKDIR>/jobs/<jobId>.json (0600) from its 202
  until it is done (a restarted runner removes what an earlier run left). The final report is saved as <RUNNER_WORKDIR>/jobs/<jobId>.final.json before it is sent;
  if it cannot be delivered (RUNNER_CALLBACK_RETRIES retries with exponential back-off from
  RUNNER_CALLBACK_BACKOFF_MS), it is retried every RUNNER_REDELIVER_MS and after a restart.
  A job that was running when the runner stopped is left to the reaper (not reported).

Jobs run RUNNER_CONCURRENCY at a time, one at a time per machine, in arrival order.
SIGINT/SIGTERM stop accepting jobs, let running jobs finish for up to
RUNNER_SHUTDOWN_GRACE_SECS and leave queued jobs to the reaper. The runner's own log is JSON
lines on stdout. Prefer the environment over --secret: command lines are visible to other
users.";

#[derive(Parser, Debug, Clone)]
#[command(name = "hangar-runner", version, about = "Hangar's provisioning runner (signed webhooks in, Terraform or a simulation, signed callbacks out)", long_about = LONG_ABOUT)]
pub struct Config {
    /// Shared secret of the webhook and callback signatures (required).
    #[arg(long, env = "RUNNER_SECRET", hide_env_values = true)]
    pub secret: String,

    /// Address to listen on.
    #[arg(long, env = "RUNNER_LISTEN", default_value = "127.0.0.1:8790")]
    pub listen: SocketAddr,

    /// Working directory (a cache): jobs/ (jobs held, final reports not yet delivered), machines/<id>/.
    #[arg(long, env = "RUNNER_WORKDIR", default_value = "./runner-work")]
    pub workdir: PathBuf,

    /// terraform (real machines) or simulate (none): required, there is no default, so
    /// that a runner can never pass simulated machines off as real ones by omission.
    #[arg(long, env = "RUNNER_MODE", value_enum)]
    pub mode: Mode,

    /// This runner's id in its claims (jobs.claimed_by) [default: runner-<random>, new at
    /// each start]; 1 to 128 letters, digits or ._:-
    #[arg(long, env = "RUNNER_ID")]
    pub runner_id: Option<String>,

    /// Terraform executable (terraform mode).
    #[arg(long, env = "TERRAFORM_BIN", default_value = "terraform")]
    pub terraform_bin: PathBuf,

    /// Terraform mode: the Postgres of the Terraform state (the `pg` backend), e.g.
    /// postgres://runner:…@db.example:5432/postgres?sslmode=require (required there).
    #[arg(long, env = "RUNNER_STATE_DATABASE_URL", hide_env_values = true)]
    pub state_database_url: Option<String>,

    /// Terraform mode: the schema of the state (a schema PostgREST does not expose).
    #[arg(long, env = "RUNNER_STATE_SCHEMA", default_value = "terraform_state")]
    pub state_schema: String,

    /// Directory of the Terraform modules, one per provider: <dir>/<provider>.
    #[arg(long, env = "RUNNER_MODULES_DIR", default_value = "./terraform")]
    pub modules_dir: PathBuf,

    /// How many jobs run at once (jobs of one machine always run one after the other).
    #[arg(long, env = "RUNNER_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,

    /// Duration of one simulated step, in milliseconds.
    #[arg(long, env = "RUNNER_SIM_DELAY_MS", default_value_t = 300)]
    pub sim_delay_ms: u64,

    /// Simulate mode: how often each running machine's simulated agent posts a sample to
    /// record-metrics: seconds (60, 0.5) or 500ms, 2s, 1m; 0 turns the agents off.
    #[arg(long, env = "SIMULATE_METRICS_INTERVAL", default_value = "60", value_parser = crate::agent::parse_interval)]
    pub simulate_metrics_interval: Duration,

    /// SSH client used by deploy and command jobs (Terraform mode).
    #[arg(long, env = "SSH_BIN", default_value = "ssh")]
    pub ssh_bin: PathBuf,

    /// Private key for SSH (-i); without it ssh uses its defaults (agent, ~/.ssh).
    #[arg(long, env = "RUNNER_SSH_KEY")]
    pub ssh_key: Option<PathBuf>,

    /// Remote user for SSH.
    #[arg(long, env = "RUNNER_SSH_USER", default_value = "hangar")]
    pub ssh_user: String,

    /// The runner's own OpenSSH public key line (the pair of RUNNER_SSH_KEY): every machine's
    /// cloud-init installs it, and authorize_keys keeps it [default: <RUNNER_SSH_KEY>.pub].
    #[arg(long, env = "RUNNER_SSH_PUBLIC_KEY")]
    pub ssh_public_key: Option<String>,

    /// Log lines per "running" callback.
    #[arg(long, env = "RUNNER_LOG_BATCH", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub log_batch: u32,

    /// A partial batch of log lines is sent after this many milliseconds.
    #[arg(long, env = "RUNNER_LOG_FLUSH_MS", default_value_t = 1000)]
    pub log_flush_ms: u64,

    /// Retries of a failed callback (non-2xx or network error) before giving up for now.
    #[arg(long, env = "RUNNER_CALLBACK_RETRIES", default_value_t = 5)]
    pub callback_retries: u32,

    /// First back-off between callback retries, doubled each time (0.5, 1, 2, 4, 8 s).
    #[arg(long, env = "RUNNER_CALLBACK_BACKOFF_MS", default_value_t = 500)]
    pub callback_backoff_ms: u64,

    /// Interval of the further attempts to deliver a final report that could not be delivered.
    #[arg(long, env = "RUNNER_REDELIVER_MS", default_value_t = 60_000)]
    pub redeliver_ms: u64,

    /// On SIGINT/SIGTERM, how long running jobs may take to finish.
    #[arg(long, env = "RUNNER_SHUTDOWN_GRACE_SECS", default_value_t = 60)]
    pub shutdown_grace_secs: u64,

    /// Terraform mode: the provider:image pairs a create may use, comma-separated (split at
    /// the first ':'; an image may contain ':'). Any other create fails before Terraform runs.
    #[arg(long, env = "ALLOWED_IMAGES", default_value = DEFAULT_ALLOWED_IMAGES, value_parser = ImageAllowlist::parse)]
    pub allowed_images: ImageAllowlist,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Simulate,
    Terraform,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Simulate => "simulate",
            Mode::Terraform => "terraform",
        }
    }
}

/// `[a-z_][a-z0-9_]{0,62}`: a schema name that needs no quoting.
fn is_identifier(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

impl Config {
    /// The configuration of `args` (the first being the program name), ignoring defaults
    /// from the environment only where `args` sets a value.
    pub fn from_args<I, T>(args: I) -> Result<Config, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Config::try_parse_from(args)
    }

    /// Checks what clap cannot.
    pub fn validate(&self) -> Result<Mode, String> {
        if self.secret.trim().is_empty() {
            return Err("RUNNER_SECRET must not be empty".into());
        }
        if self.ssh_user.is_empty() || self.ssh_user.starts_with('-') || self.ssh_user.contains(['@', ' ', '\n']) {
            return Err("RUNNER_SSH_USER is not a valid user name".into());
        }
        if self.mode == Mode::Terraform && self.state_database_url.as_deref().is_none_or(|u| u.trim().is_empty()) {
            return Err("RUNNER_MODE=terraform needs RUNNER_STATE_DATABASE_URL (the Terraform state lives in Postgres)".into());
        }
        if !is_identifier(&self.state_schema) {
            return Err("RUNNER_STATE_SCHEMA must be a lowercase SQL identifier".into());
        }
        let id = self.runner_id();
        if !(1..=128).contains(&id.len()) || !id.chars().all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c)) {
            return Err("RUNNER_ID must be 1 to 128 letters, digits or ._:-".into());
        }
        Ok(self.mode)
    }

    /// RUNNER_ID, or one made up now (kept: `start` fills it in).
    pub fn runner_id(&self) -> String {
        self.runner_id.clone().unwrap_or_else(|| format!("runner-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]))
    }

    pub fn sim_delay(&self) -> Duration {
        Duration::from_millis(self.sim_delay_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Config {
        let mut args = vec!["hangar-runner", "--secret", "s"];
        if !extra.contains(&"--mode") {
            args.extend_from_slice(&["--mode", "simulate"]);
        }
        args.extend_from_slice(extra);
        Config::from_args(args).unwrap()
    }

    #[test]
    fn the_mode_is_required_and_explicit() {
        if std::env::var_os("RUNNER_MODE").is_none() {
            let e = Config::from_args(["hangar-runner", "--secret", "s"]).unwrap_err();
            assert!(e.to_string().contains("--mode"), "{e}");
        }
        assert!(parse(&["--mode", "terraform"]).validate().unwrap_err().contains("RUNNER_STATE_DATABASE_URL"));
        assert_eq!(parse(&["--mode", "terraform", "--state-database-url", "postgres://x/y"]).validate(), Ok(Mode::Terraform));
        assert!(parse(&["--mode", "simulate", "--state-schema", "Bad-Name"]).validate().is_err());
        assert_eq!(parse(&["--mode", "simulate"]).validate(), Ok(Mode::Simulate));
        assert!(Config::from_args(["hangar-runner", "--secret", "s", "--mode", "fake"]).is_err());
        let c = parse(&["--mode", "simulate", "--runner-id", "a/b"]);
        assert!(c.validate().is_err());
        assert_eq!(parse(&["--mode", "simulate", "--runner-id", "eu-1.runner:7"]).runner_id(), "eu-1.runner:7");
    }

    #[test]
    fn allowed_images() {
        if std::env::var_os("ALLOWED_IMAGES").is_none() {
            assert_eq!(parse(&[]).allowed_images, ImageAllowlist::default());
        }
        let c = parse(&["--allowed-images", "aws:ami-1,gcp:family/debian-12:v2"]);
        assert!(c.allowed_images.allows("gcp", "family/debian-12:v2"));
        assert!(!c.allowed_images.allows("aws", "ubuntu-22.04"));
        assert!(Config::from_args(["hangar-runner", "--secret", "s", "--mode", "simulate", "--allowed-images", "aws"]).is_err());
    }

    #[test]
    fn metrics_interval() {
        if std::env::var_os("SIMULATE_METRICS_INTERVAL").is_none() {
            assert_eq!(parse(&[]).simulate_metrics_interval, Duration::from_secs(60));
        }
        assert_eq!(parse(&["--simulate-metrics-interval", "1"]).simulate_metrics_interval, Duration::from_secs(1));
        assert_eq!(parse(&["--simulate-metrics-interval", "0"]).simulate_metrics_interval, Duration::ZERO);
        assert!(Config::from_args(["hangar-runner", "--secret", "s", "--mode", "simulate", "--simulate-metrics-interval", "soon"]).is_err());
    }

    #[test]
    fn ranges() {
        assert!(Config::from_args(["hangar-runner", "--secret", "s", "--mode", "simulate", "--concurrency", "0"]).is_err());
        assert!(Config::from_args(["hangar-runner", "--secret", "s", "--mode", "simulate", "--listen", "nope"]).is_err());
    }
}
