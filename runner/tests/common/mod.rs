//! Shared by the integration tests: a callback receiver that checks signatures like
//! `runner-callback` and answers claims as the database does (a fence per claim, a
//! finished job never claimed again, 409 to a stale fence), a runner started in-process,
//! and signed job deliveries.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hangar_runner::{start, Config, Runner};
use serde_json::{json, Value};
use protocol::signing::{self, Direction};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SECRET: &str = "test-secret-0123456789";

#[derive(Clone, Debug)]
pub struct Call {
    pub body: Value,
    pub at: Instant,
    pub header: String,
}

#[derive(Default)]
struct Inner {
    calls: Mutex<Vec<Call>>,
    /// Answer 503 to every report (claims still answered).
    down: AtomicBool,
    /// Answer this status (when non-zero) to final reports.
    refuse_finals: AtomicU16,
    attempts: AtomicUsize,
    bad_signatures: AtomicUsize,
    /// What simulated agents posted to record-metrics.
    samples: Mutex<Vec<Sample>>,
    /// record-metrics answers 401 to this bearer token (a machine that is gone).
    refused_token: Mutex<Option<String>>,
    /// Claims: the latest fence of each job, and the jobs whose final report came.
    fences: Mutex<std::collections::HashMap<String, u64>>,
    finished: Mutex<std::collections::HashSet<String>>,
    /// Claims of these jobs are answered `claimed: false` with this reason.
    refuse_claims: Mutex<std::collections::HashMap<String, String>>,
    /// Reports answer `cancel: true` for these jobs.
    cancel: Mutex<std::collections::HashSet<String>>,
    claims: Mutex<Vec<Call>>,
}

/// One post to the stand-in record-metrics.
#[derive(Clone, Debug)]
pub struct Sample {
    pub token: String,
    pub body: Value,
    pub at: Instant,
}

/// The stand-in for `record-metrics`: takes what the Worker takes (one sample of five
/// fields in range, a bearer token), 401 for the refused token.
async fn record_metrics(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(token) = auth.strip_prefix("Bearer ") else { return (StatusCode::UNAUTHORIZED, "no token".into()) };
    if inner.refused_token.lock().unwrap().as_deref() == Some(token) {
        return (StatusCode::UNAUTHORIZED, "invalid_token".into());
    }
    assert_eq!(headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
    let body: Value = serde_json::from_slice(&body).expect("a sample is JSON");
    let o = body.as_object().expect("one sample, an object");
    let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["cpuUsage", "diskUsage", "memoryUsage", "networkIn", "networkOut"], "{body}");
    for k in ["cpuUsage", "memoryUsage", "diskUsage"] {
        assert!((0.0..=100.0).contains(&o[k].as_f64().unwrap()), "{body}");
    }
    assert!(o["networkIn"].is_u64() && o["networkOut"].is_u64(), "{body}");
    inner.samples.lock().unwrap().push(Sample { token: token.to_string(), body, at: Instant::now() });
    (StatusCode::ACCEPTED, r#"{"success":true,"data":{"accepted":1}}"#.into())
}

/// The stand-in for `runner-callback`.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    inner.attempts.fetch_add(1, Ordering::SeqCst);
    let header = headers.get(signing::HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let now = chrono::Utc::now().timestamp();
    // Exactly what runner-callback checks: the callback context, not the webhook one.
    if signing::verify(SECRET, Direction::Callback, Some(&header), &body, now).is_err() {
        inner.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::UNAUTHORIZED, "bad signature".into());
    }
    assert_eq!(headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
    let body: Value = serde_json::from_slice(&body).expect("a report is JSON");
    // Down for reports only: a job that could not be claimed would not run at all.
    if inner.down.load(Ordering::SeqCst) && body["status"] != "claimed" {
        return (StatusCode::SERVICE_UNAVAILABLE, "down".into());
    }
    let job_id = body["jobId"].as_str().unwrap_or_default().to_string();
    if body["status"] == "claimed" {
        assert!(body["runnerId"].is_string() && body.get("fence").is_none(), "a claim: {body}");
        inner.claims.lock().unwrap().push(Call { body: body.clone(), at: Instant::now(), header });
        let refused = inner.refuse_claims.lock().unwrap().get(&job_id).cloned();
        let reason = refused.or_else(|| inner.finished.lock().unwrap().contains(&job_id).then(|| "finished".to_string()));
        let data = match reason {
            Some(reason) => json!({"claimed": false, "reason": reason, "leaseSeconds": 3}),
            None => {
                let mut fences = inner.fences.lock().unwrap();
                let fence = fences.entry(job_id).or_insert(0);
                *fence += 1;
                json!({"claimed": true, "fence": *fence, "leaseSeconds": 3})
            }
        };
        return (StatusCode::OK, json!({"success": true, "data": data}).to_string());
    }
    let current = inner.fences.lock().unwrap().get(&job_id).copied();
    if current.is_none() || body["fence"].as_u64() != current {
        return (StatusCode::CONFLICT, format!("stale claim: {:?} is not {:?}", body["fence"], current));
    }
    let is_final = matches!(body["status"].as_str(), Some("succeeded" | "failed"));
    let refuse = inner.refuse_finals.load(Ordering::SeqCst);
    if is_final && refuse != 0 {
        return (StatusCode::from_u16(refuse).unwrap(), "refused".into());
    }
    if is_final {
        inner.finished.lock().unwrap().insert(job_id.clone());
    }
    let cancel = inner.cancel.lock().unwrap().contains(&job_id);
    inner.calls.lock().unwrap().push(Call { body, at: Instant::now(), header });
    (StatusCode::OK, json!({"success": true, "data": {"applied": true, "cancel": cancel}}).to_string())
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/functions/v1/runner-callback", post(receive))
            .route("/functions/v1/record-metrics", post(record_metrics))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url: format!("http://{addr}/functions/v1/runner-callback"), inner }
    }

    pub fn functions_url(&self) -> String {
        self.url.trim_end_matches("/functions/v1/runner-callback").to_string()
    }

    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::SeqCst);
    }

    pub fn refuse_finals(&self, status: u16) {
        self.inner.refuse_finals.store(status, Ordering::SeqCst);
    }

    /// Claims of `job_id` are refused with `reason` (as the database says `terminated`...).
    pub fn refuse_claim(&self, job_id: &str, reason: &str) {
        self.inner.refuse_claims.lock().unwrap().insert(job_id.to_string(), reason.to_string());
    }

    /// Claims of `job_id` are answered as usual again.
    pub fn allow_claim(&self, job_id: &str) {
        self.inner.refuse_claims.lock().unwrap().remove(job_id);
    }

    /// Another runner claims `job_id`: the fence moves on, the current claim's reports are 409.
    pub fn take_over(&self, job_id: &str) {
        *self.inner.fences.lock().unwrap().entry(job_id.to_string()).or_insert(0) += 1;
    }

    /// Reports of `job_id` are answered `cancel: true` from now on.
    pub fn cancel(&self, job_id: &str) {
        self.inner.cancel.lock().unwrap().insert(job_id.to_string());
    }

    /// The claims of a job, in order.
    pub fn claims(&self, job_id: &str) -> Vec<Call> {
        self.inner.claims.lock().unwrap().iter().filter(|c| c.body["jobId"] == job_id).cloned().collect()
    }

    /// The samples posted with `token`, in order.
    pub fn samples(&self, token: &str) -> Vec<Sample> {
        self.inner.samples.lock().unwrap().iter().filter(|s| s.token == token).cloned().collect()
    }

    /// record-metrics answers 401 to `token` from now on.
    pub fn refuse_token(&self, token: &str) {
        *self.inner.refused_token.lock().unwrap() = Some(token.to_string());
    }

    /// Waits until `n` samples were posted with `token` (up to `secs`).
    pub async fn wait_samples(&self, token: &str, n: usize, secs: u64) -> Vec<Sample> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.samples(token);
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{} of {n} samples with the token within {secs} s", got.len());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn attempts(&self) -> usize {
        self.inner.attempts.load(Ordering::SeqCst)
    }

    pub fn bad_signatures(&self) -> usize {
        self.inner.bad_signatures.load(Ordering::SeqCst)
    }

    pub fn all(&self) -> Vec<Call> {
        self.inner.calls.lock().unwrap().clone()
    }

    pub fn calls(&self, job_id: &str) -> Vec<Call> {
        self.all().into_iter().filter(|c| c.body["jobId"] == job_id).collect()
    }

    pub fn finals(&self, job_id: &str) -> Vec<Call> {
        self.calls(job_id).into_iter().filter(|c| c.body["status"] != "running").collect()
    }

    /// The final report of a job (waits up to `secs`).
    pub async fn wait_final(&self, job_id: &str, secs: u64) -> Call {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(c) = self.finals(job_id).into_iter().next() {
                return c;
            }
            assert!(Instant::now() < deadline, "no final report for {job_id} within {secs} s; got {:#?}", self.calls(job_id));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until some report of `job_id` satisfies `pred`.
    pub async fn wait_for(&self, job_id: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Call {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(c) = self.calls(job_id).into_iter().find(|c| pred(&c.body)) {
                return c;
            }
            assert!(Instant::now() < deadline, "no matching report for {job_id} within {secs} s; got {:#?}", self.calls(job_id));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every log line reported for a job, in order.
    pub fn logs(&self, job_id: &str) -> Vec<Value> {
        self.calls(job_id).iter().flat_map(|c| c.body["logs"].as_array().cloned().unwrap_or_default()).collect()
    }

    pub fn messages(&self, job_id: &str) -> Vec<String> {
        self.logs(job_id).iter().map(|l| l["message"].as_str().unwrap().to_string()).collect()
    }
}

/// Checks a report against what `runner-callback` accepts (it rejects unknown fields).
pub fn assert_report_shape(body: &Value) {
    let o = body.as_object().expect("object");
    for k in o.keys() {
        assert!(["jobId", "status", "fence", "outputs", "logs", "result", "error"].contains(&k.as_str()), "unknown field {k} in {body}");
    }
    assert!(body["fence"].as_u64().is_some_and(|f| f >= 1), "a report carries its claim's fence: {body}");
    assert!(matches!(body["status"].as_str(), Some("running" | "succeeded" | "failed")), "{body}");
    if let Some(outputs) = o.get("outputs") {
        for k in outputs.as_object().unwrap().keys() {
            assert!(["ipAddress", "providerInstanceId"].contains(&k.as_str()), "unknown output {k}");
        }
    }
    for line in o.get("logs").and_then(Value::as_array).into_iter().flatten() {
        let l = line.as_object().unwrap();
        assert_eq!(l.len(), 3, "{line}");
        assert!(matches!(l["level"].as_str(), Some("info" | "warn" | "error")), "{line}");
        assert!(l["message"].is_string());
        let ts = l["ts"].as_str().unwrap();
        assert!(ts.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
    }
}

/// The arguments of a test runner: simulate mode, quick steps and retries.
pub fn config(workdir: &Path) -> Config {
    Config::from_args([
        "hangar-runner",
        "--secret",
        SECRET,
        "--listen",
        "127.0.0.1:0",
        "--workdir",
        workdir.to_str().unwrap(),
        "--mode",
        "simulate",
        "--sim-delay-ms",
        "20",
        "--callback-retries",
        "2",
        "--callback-backoff-ms",
        "20",
        "--log-flush-ms",
        "100",
        "--redeliver-ms",
        "200",
        "--shutdown-grace-secs",
        "5",
    ])
    .unwrap()
}

pub async fn runner(workdir: &Path, tweak: impl FnOnce(&mut Config)) -> Runner {
    let mut c = config(workdir);
    tweak(&mut c);
    start(c).await.expect("the runner starts")
}

pub fn machine(id: &str, name: &str) -> Value {
    json!({
        "id": id, "name": name, "tier": "dev.small", "cpu": 0.5, "memoryMb": 1024, "diskGb": 10,
        "provider": "aws", "region": "us-east-1", "image": "ubuntu-22.04", "ipAddress": null,
        "providerInstanceId": null, "sshPublicKey": "ssh-ed25519 AAAAC3Nza test@hangar", "configuration": {}
    })
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A job as the Worker builds it.
pub fn job(action: &str, machine: Value, callback_url: &str) -> Value {
    let mut j = json!({"jobId": new_id(), "action": action, "attempt": 1, "machine": machine, "params": {}, "callbackUrl": callback_url});
    if action == "create" {
        j["agentToken"] = json!("agent-token-123");
    }
    j
}

/// A webhook signature made now (the Worker's side).
pub fn sign_now(body: &[u8]) -> String {
    signing::sign(SECRET, Direction::Webhook, chrono::Utc::now().timestamp(), body)
}

/// Params of a deploy job as SQL writes them.
pub fn deploy_params(name: &str, version: &str, settings: Value) -> Value {
    json!({"deploymentId": new_id(), "name": name, "version": version, "settings": settings})
}

/// Params of a command job as SQL writes them.
pub fn command_params(command: &str, args: &[&str], timeout_sec: u32) -> Value {
    json!({"command": command, "args": args, "timeoutSec": timeout_sec})
}

/// One HTTP client for every request of a test binary (building one is not free). It
/// keeps no idle connections: each test has its own tokio runtime.
pub fn client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap()).clone()
}

pub async fn post_raw(url: &str, body: &[u8], header: Option<String>) -> (u16, Value) {
    let mut req = client().post(url).header("content-type", "application/json").body(body.to_vec());
    if let Some(h) = header {
        req = req.header(signing::HEADER, h);
    }
    let resp = req.send().await.expect("the runner answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Delivers a job, signed now, to a runner; returns the status and the body.
pub async fn deliver(runner: &Runner, job: &Value) -> (u16, Value) {
    let raw = serde_json::to_vec(job).unwrap();
    post_raw(&format!("http://{}/", runner.addr), &raw, Some(sign_now(&raw))).await
}

pub async fn health(runner: &Runner) -> Value {
    client().get(format!("http://{}/health", runner.addr)).send().await.unwrap().json().await.unwrap()
}

/// A free local TCP port, for a runner started as a process.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The runner binary as a process: a clean environment with PATH, the test secret,
/// 127.0.0.1:`port` and `workdir` only; each test adds its own settings.
pub fn runner_process(workdir: &Path, port: u16) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hangar-runner"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUNNER_SECRET", SECRET)
        .env("RUNNER_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUNNER_WORKDIR", workdir)
        .env("RUNNER_MODE", "simulate");
    cmd
}

/// Waits (up to 20 s) until the runner process on `port` answers its health check.
pub async fn wait_healthy(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !client().get(format!("http://127.0.0.1:{port}/health")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "the runner did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes a stand-in `ssh` at `path` that plays the remote end: `on_start` runs first (the
/// arguments are still in `$@`), then the options are read up to `--` (`$target` is the
/// user@host), `on_target` runs, 198.51.100.255 refuses like an unreachable host (exit
/// 255), and `remote` handles the remote command (`$*`). `$rec` is the recording folder.
pub fn ssh_stand_in(path: &Path, rec: &Path, on_start: &str, on_target: &str, remote: &str) {
    let body = format!(
        r#"#!/bin/sh
rec="{rec}"
{on_start}
target=
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; break; fi
  target=$1; shift
done
{on_target}
case "$target" in
  *@198.51.100.255) echo "ssh: connect to host 198.51.100.255 port 22: Connection refused" >&2; exit 255 ;;
esac
{remote}"#,
        rec = rec.display()
    );
    script(path, &body);
}

/// Writes an executable shell script.
pub fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}
