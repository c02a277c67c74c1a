//! Simulate mode's stand-in for the agent that cloud-init installs on a real machine
//! (terraform/agent/cloud-init.yaml.tftpl): while a simulated machine runs, it posts a
//! plausible load sample to `record-metrics` (API.md §4) with the machine's agent token,
//! right after the machine is running and then every SIMULATE_METRICS_INTERVAL, through
//! the real Worker, so that `insights` has data in `make dev` and in the tests.
//!
//! The token comes once, with the create job (API.md §5), and a start after a stop has
//! none, so it is kept per machine in `<workdir>/agents/<machineId>.json` (mode 0600, like
//! the journal that already holds the create job) with whether the machine runs: a
//! restarted runner resumes the agents of the machines that were running. An agent stops
//! before a stop, restart or terminate job runs (the machine goes down; restart brings it
//! back), when the runner shuts down, and for good when its token is refused (401, three
//! times in a row: the machine was terminated or the token replaced). Tokens never reach the log: they live
//! in [`AgentToken`], whose Debug is redacted, and log lines name the machine only.
use crate::job::{Action, Job};
use crate::journal::{atomic_write, remove_if_exists};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What the real agent allows itself per sample (curl --max-time is 20 s; shorter here, so
/// that a stop waits less for the sample in flight).
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// 401s in a row after which a token is given up for good.
const REFUSALS_TO_FORGET: u32 = 3;

/// A machine's agent token. Never printed: Debug is redacted and there is no Display.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentToken(String);

impl AgentToken {
    pub fn new(token: impl Into<String>) -> AgentToken {
        AgentToken(token.into())
    }
}

impl std::fmt::Debug for AgentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentToken([redacted])")
    }
}

/// SIMULATE_METRICS_INTERVAL: seconds (`60`, `0.5`) or with a unit (`500ms`, `2s`, `1m`);
/// `0` turns the simulated agents off.
pub fn parse_interval(raw: &str) -> Result<Duration, String> {
    let s = raw.trim();
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let what = || format!("`{raw}` is not an interval: seconds (60, 0.5) or 500ms, 2s, 1m; 0 turns the agents off");
    let n: f64 = number.trim().parse().map_err(|_| what())?;
    let secs = n * scale;
    if !secs.is_finite() || !(0.0..=24.0 * 3600.0).contains(&secs) {
        return Err(what());
    }
    let interval = Duration::from_secs_f64(secs);
    if !interval.is_zero() && interval < Duration::from_millis(10) {
        return Err(format!("`{raw}`: the interval is at least 10ms (or 0: off)"));
    }
    Ok(interval)
}

/// `{FUNCTIONS_URL}/functions/v1/record-metrics`, from the job's `callbackUrl` (same
/// origin and path prefix, `…/functions/v1/runner-callback`).
pub fn record_metrics_url(callback_url: &str) -> Option<String> {
    let url = reqwest::Url::parse(callback_url).ok()?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return None;
    }
    let mut url = url.join("record-metrics").ok()?;
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

/// What is kept of a machine's agent (`agents/<machineId>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    url: String,
    token: AgentToken,
    /// Whether the machine runs (its agent is resumed after a restart of the runner).
    running: bool,
}

/// The simulated machine's load: a random walk pulled back towards the machine's own level
/// (so it neither sticks at a bound nor drifts away), so that charts look like a machine.
#[derive(Debug, Clone)]
pub struct Load {
    rng: u64,
    cpu_level: f64,
    memory_level: f64,
    cpu: f64,
    memory: f64,
    disk: f64,
    /// Bytes per second in and out, around which each interval's traffic varies.
    rate_in: f64,
    rate_out: f64,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Load {
    /// A machine's starting point, drawn from `seed` (its id and the time).
    pub fn new(seed: u64) -> Load {
        let mut l = Load { rng: seed | 1, cpu_level: 0.0, memory_level: 0.0, cpu: 0.0, memory: 0.0, disk: 0.0, rate_in: 0.0, rate_out: 0.0 };
        l.cpu_level = 15.0 + 40.0 * l.next();
        l.memory_level = 20.0 + 50.0 * l.next();
        (l.cpu, l.memory) = (l.cpu_level, l.memory_level);
        l.disk = 8.0 + 20.0 * l.next();
        l.rate_in = 2_000.0 + 200_000.0 * l.next();
        l.rate_out = 1_000.0 + 60_000.0 * l.next();
        l
    }

    /// xorshift64*: 0 ≤ x < 1.
    fn next(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A step of ±`width` (uniform).
    fn jitter(&mut self, width: f64) -> f64 {
        (self.next() * 2.0 - 1.0) * width
    }

    /// The next sample, `elapsed` after the previous one: the body the real agent sends
    /// (percentages to 2 decimals, whole bytes since the previous sample).
    pub fn sample(&mut self, elapsed: Duration) -> Value {
        self.cpu = (self.cpu + 0.3 * (self.cpu_level - self.cpu) + self.jitter(8.0)).clamp(0.5, 97.0);
        self.memory = (self.memory + 0.3 * (self.memory_level - self.memory) + self.jitter(3.0)).clamp(5.0, 95.0);
        // Disks fill slowly and never empty by themselves.
        self.disk = (self.disk + 0.01 * self.next()).min(99.0);
        let secs = elapsed.as_secs_f64().max(0.001);
        let net_in = (self.rate_in * secs * (0.5 + self.next())).round() as u64;
        let net_out = (self.rate_out * secs * (0.5 + self.next())).round() as u64;
        json!({
            "cpuUsage": round2(self.cpu),
            "memoryUsage": round2(self.memory),
            "diskUsage": round2(self.disk),
            "networkIn": net_in,
            "networkOut": net_out,
        })
    }
}

fn seed_of(machine_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in machine_id.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^ chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64
}

struct Running {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// What one post came to.
#[derive(Debug, PartialEq)]
enum Posted {
    Stored,
    /// 401: the token is no longer valid; the agent stops for good.
    Refused,
    Failed(String),
}

/// The simulated agents of a runner (simulate mode only).
pub struct Agents {
    client: reqwest::Client,
    interval: Duration,
    dir: PathBuf,
    /// The runner's: every agent stops when it is cancelled.
    cancel: CancellationToken,
    tracker: TaskTracker,
    running: Mutex<HashMap<String, Running>>,
    /// Serializes the changes to one machine's file (jobs of a machine run one at a time,
    /// but an agent that is refused removes its file from its own task).
    files: Mutex<()>,
}

impl Agents {
    /// Opens `<workdir>/agents`. `interval` zero: no agent ever runs (tokens are not kept).
    pub fn open(workdir: &Path, interval: Duration, cancel: CancellationToken, tracker: TaskTracker) -> std::io::Result<Arc<Agents>> {
        let dir = workdir.join("agents");
        std::fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let client = reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("hangar-runner-simulated-agent/", env!("CARGO_PKG_VERSION")))
            // The token goes to the URL of the job's origin and nowhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Arc::new(Agents { client, interval, dir, cancel, tracker, running: Mutex::new(HashMap::new()), files: Mutex::new(()) }))
    }

    pub fn enabled(&self) -> bool {
        !self.interval.is_zero()
    }

    fn path(&self, machine_id: &str) -> PathBuf {
        self.dir.join(format!("{machine_id}.json"))
    }

    fn read(&self, machine_id: &str) -> Option<Identity> {
        let raw = std::fs::read(self.path(machine_id)).ok()?;
        serde_json::from_slice(&raw).ok()
    }

    fn write(&self, machine_id: &str, identity: &Identity) {
        let _guard = self.files.lock().unwrap();
        let bytes = serde_json::to_vec(identity).expect("serialisable");
        if let Err(e) = atomic_write(&self.path(machine_id), &bytes) {
            crate::log_event!("error", "agent_error", {"machineId": machine_id, "error": format!("cannot save the agent: {e}")});
        }
    }

    fn set_running(&self, machine_id: &str, running: bool) -> Option<Identity> {
        let mut identity = self.read(machine_id)?;
        if identity.running != running {
            identity.running = running;
            self.write(machine_id, &identity);
        }
        Some(identity)
    }

    fn forget(&self, machine_id: &str) {
        let _guard = self.files.lock().unwrap();
        if let Err(e) = remove_if_exists(&self.path(machine_id)) {
            crate::log_event!("error", "agent_error", {"machineId": machine_id, "error": format!("cannot remove the agent: {e}")});
        }
    }

    /// Whether an agent is posting for this machine now.
    pub fn is_running(&self, machine_id: &str) -> bool {
        self.running.lock().unwrap().get(machine_id).is_some_and(|r| !r.task.is_finished())
    }

    /// Before a job runs: the machine goes down for stop, restart and terminate.
    pub async fn before_job(&self, job: &Job) {
        if matches!(job.action, Action::Stop | Action::Restart | Action::Terminate) {
            self.stop(&job.machine.id, job.action.as_str()).await;
            self.set_running(&job.machine.id, false);
        }
    }

    /// After a job's final report: create keeps the token; a machine that now runs gets its
    /// agent; a terminated one's token is forgotten.
    pub fn after_job(self: &Arc<Self>, job: &Job, succeeded: bool) {
        if !self.enabled() {
            return;
        }
        let id = &job.machine.id;
        if job.action == Action::Create {
            if let Some(token) = &job.agent_token {
                match record_metrics_url(&job.callback_url) {
                    Some(url) => self.write(id, &Identity { url, token: AgentToken::new(token.clone()), running: false }),
                    None => crate::log_event!("warn", "agent_error", {"machineId": id, "error": "no record-metrics URL in the callbackUrl"}),
                }
            }
        }
        match (job.action, succeeded) {
            (Action::Create | Action::Start | Action::Restart, true) => match self.set_running(id, true) {
                Some(identity) => self.spawn(id.clone(), identity),
                None => crate::log_event!("info", "agent_not_started", {"machineId": id, "reason": "no agent token known for this machine"}),
            },
            (Action::Terminate, true) => self.forget(id),
            _ => {}
        }
    }

    /// At startup: the agents of the machines that were running.
    pub fn resume(self: &Arc<Self>) -> usize {
        if !self.enabled() {
            return 0;
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return 0 };
        let mut resumed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".json").filter(|id| crate::job::is_safe_id(id)) else { continue };
            match self.read(id) {
                Some(identity) if identity.running => {
                    self.spawn(id.to_string(), identity);
                    resumed += 1;
                }
                Some(_) => {}
                None => crate::log_event!("warn", "agent_error", {"machineId": id, "error": "unreadable agent file"}),
            }
        }
        resumed
    }

    fn spawn(self: &Arc<Self>, machine_id: String, identity: Identity) {
        let mut running = self.running.lock().unwrap();
        if running.get(&machine_id).is_some_and(|r| !r.task.is_finished()) {
            return;
        }
        let stop = self.cancel.child_token();
        let agents = self.clone();
        let (id, stop2) = (machine_id.clone(), stop.clone());
        let task = self.tracker.spawn(async move { agents.run(id, identity, stop2).await });
        running.insert(machine_id, Running { stop, task });
    }

    /// Stops a machine's agent and waits for it: a sample in flight lands (or fails) first,
    /// so none arrives after the stop job runs.
    pub async fn stop(&self, machine_id: &str, reason: &str) {
        let Some(r) = self.running.lock().unwrap().remove(machine_id) else { return };
        if r.task.is_finished() {
            return;
        }
        r.stop.cancel();
        let _ = r.task.await;
        crate::log_event!("info", "agent_stopped", {"machineId": machine_id, "reason": reason});
    }

    async fn post(&self, identity: &Identity, sample: &Value) -> Posted {
        let sent = self
            .client
            .post(&identity.url)
            .header("authorization", format!("Bearer {}", identity.token.0))
            .json(sample)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => Posted::Stored,
            Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => Posted::Refused,
            Ok(r) => Posted::Failed(format!("record-metrics answered {}", r.status().as_u16())),
            // Without the URL: the error names no more than the status or the cause.
            Err(e) => Posted::Failed(format!("record-metrics not reached: {}", e.without_url())),
        }
    }

    async fn run(self: Arc<Self>, machine_id: String, identity: Identity, stop: CancellationToken) {
        crate::log_event!("info", "agent_started", {"machineId": machine_id, "intervalMs": self.interval.as_millis() as u64});
        let mut load = Load::new(seed_of(&machine_id));
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first sample counts the traffic of one interval, as if the machine had booted then.
        let mut last = Instant::now() - self.interval;
        let (mut stored, mut refused, mut failing) = (0u64, 0u32, false);
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let now = Instant::now();
            let sample = load.sample(now - last);
            last = now;
            // Not cancelled mid-request: a stop waits for this post (bounded by POST_TIMEOUT).
            match self.post(&identity, &sample).await {
                Posted::Stored => {
                    stored += 1;
                    refused = 0;
                    if failing {
                        crate::log_event!("info", "agent_recovered", {"machineId": machine_id});
                        failing = false;
                    }
                }
                Posted::Refused => {
                    refused += 1;
                    // A few in a row: the first post may race the Worker recording the
                    // token's hash just after the create's webhook was accepted.
                    if refused >= REFUSALS_TO_FORGET {
                        crate::log_event!("warn", "agent_stopped", {"machineId": machine_id, "reason": "token refused (401): the machine is gone or has another token", "samples": stored});
                        self.forget(&machine_id);
                        return;
                    }
                    continue;
                }
                Posted::Failed(error) => {
                    refused = 0;
                    // Once per streak of failures, not every interval.
                    if !failing {
                        crate::log_event!("warn", "agent_sample_failed", {"machineId": machine_id, "error": error});
                        failing = true;
                    }
                }
            }
        }
        crate::log_event!("info", "agent_exited", {"machineId": machine_id, "samples": stored});
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_in_seconds_or_with_a_unit() {
        assert_eq!(parse_interval("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_interval("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_interval(" 2s "), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_interval("0"), Ok(Duration::ZERO), "0 turns the agents off");
        for bad in ["", "-1", "abc", "5h", "1ms", "NaN", "inf", "90000"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_url_is_record_metrics_next_to_the_callback() {
        assert_eq!(
            record_metrics_url("https://api.example/functions/v1/runner-callback").as_deref(),
            Some("https://api.example/functions/v1/record-metrics")
        );
        assert_eq!(
            record_metrics_url("http://127.0.0.1:8787/functions/v1/runner-callback?x=1#y").as_deref(),
            Some("http://127.0.0.1:8787/functions/v1/record-metrics")
        );
        assert_eq!(record_metrics_url("file:///etc/passwd"), None);
        assert_eq!(record_metrics_url("not a url"), None);
    }

    #[test]
    fn samples_have_the_shape_and_ranges_record_metrics_takes() {
        let mut load = Load::new(42);
        let mut disk = 0.0;
        for i in 0..2000 {
            let s = load.sample(Duration::from_secs(60));
            let o = s.as_object().unwrap();
            let keys: Vec<&str> = o.keys().map(String::as_str).collect();
            assert_eq!(keys.len(), 5, "{s}");
            for k in ["cpuUsage", "memoryUsage", "diskUsage"] {
                let v = o[k].as_f64().unwrap();
                assert!((0.0..=100.0).contains(&v), "{k} {v}");
                assert_eq!(round2(v), v, "{k} to 2 decimals");
            }
            for k in ["networkIn", "networkOut"] {
                assert!(o[k].is_u64(), "{k} whole bytes: {s}");
            }
            let d = o["diskUsage"].as_f64().unwrap();
            assert!(d >= disk - 0.005 || i == 0, "disk never shrinks: {disk} → {d}");
            disk = d;
        }
        // Traffic scales with the time since the previous sample.
        let (mut a, mut b) = (Load::new(7), Load::new(7));
        let short: u64 = (0..50).map(|_| a.sample(Duration::from_secs(1))["networkIn"].as_u64().unwrap()).sum();
        let long: u64 = (0..50).map(|_| b.sample(Duration::from_secs(60))["networkIn"].as_u64().unwrap()).sum();
        assert!(long > short * 20, "{short} vs {long}");
    }

    #[test]
    fn load_varies_around_the_machines_level_without_sticking_at_a_bound() {
        for seed in 0..200u64 {
            let mut load = Load::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let cpus: Vec<f64> = (0..500).map(|_| load.sample(Duration::from_secs(60))["cpuUsage"].as_f64().unwrap()).collect();
            let distinct = cpus.iter().map(|c| (c * 100.0) as i64).collect::<std::collections::HashSet<_>>().len();
            assert!(distinct > 250, "a walk, not a constant: {distinct} distinct values");
            let at_bounds = cpus.iter().filter(|c| **c <= 0.5 || **c >= 97.0).count();
            assert!(at_bounds < 50, "seed {seed}: {at_bounds} of 500 samples stuck at a bound");
            let mean = cpus.iter().sum::<f64>() / cpus.len() as f64;
            assert!((mean - load.cpu_level).abs() < 10.0, "seed {seed}: mean {mean} around the level {}", load.cpu_level);
            for w in cpus.windows(2) {
                assert!((w[1] - w[0]).abs() <= 8.0 + 0.3 * 97.0, "bounded steps: {w:?}");
            }
        }
    }

    #[test]
    fn tokens_are_never_printed() {
        let identity = Identity { url: "http://x/functions/v1/record-metrics".into(), token: AgentToken::new("s3cret-token"), running: true };
        let printed = format!("{identity:?} {:?}", identity.token);
        assert!(!printed.contains("s3cret"), "{printed}");
        // On disk it is the token itself (the file is the runner's, mode 0600).
        assert!(serde_json::to_string(&identity).unwrap().contains("\"token\":\"s3cret-token\""));
    }
}
