//! The journal, redelivery of final reports, restarts, and the binary itself.
mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn id(j: &Value) -> String {
    j["jobId"].as_str().unwrap().to_string()
}

async fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_job_body_left_by_an_older_runner_is_removed_and_left_to_the_reaper() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let job = job("create", machine(&new_id(), "orphan"), &rx.url);
    std::fs::create_dir_all(dir.path().join("jobs")).unwrap();
    std::fs::write(dir.path().join(format!("jobs/{}.json", id(&job))), serde_json::to_vec(&job).unwrap()).unwrap();
    std::fs::write(dir.path().join("jobs/garbage.json"), b"{\"jobId\":\"garbage\"}").unwrap();

    let runner = runner(dir.path(), |_| {}).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(files_in(&dir.path().join("jobs")).is_empty(), "a job body (it may hold secrets) is not kept");
    assert!(rx.claims(&id(&job)).is_empty() && rx.calls(&id(&job)).is_empty(), "not reported: its lease runs out instead");

    // The Worker re-sending it (after the reaper re-queued it) runs it.
    let (status, body) = deliver(&runner, &job).await;
    assert_eq!((status, &body["data"]["duplicate"]), (202, &json!(false)));
    assert_eq!(rx.wait_final(&id(&job), 10).await.body["status"], "succeeded");
    runner.stop().await;
}

#[tokio::test]
async fn an_undelivered_final_report_is_kept_and_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    rx.set_down(true);
    let runner = runner(dir.path(), |_| {}).await;
    let job = job("create", machine(&new_id(), "patient"), &rx.url);
    assert_eq!(deliver(&runner, &job).await.0, 202);

    let saved = dir.path().join(format!("jobs/{}.final.json", id(&job)));
    wait_until(10, "the saved final report", || saved.exists()).await;
    let before = rx.attempts();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(rx.attempts() > before, "still trying");

    rx.set_down(false);
    let f = rx.wait_final(&id(&job), 10).await.body;
    assert_eq!(f["status"], "succeeded");
    assert!(f["outputs"]["ipAddress"].as_str().unwrap().starts_with("192.0.2."));
    // The lines that could not be sent while it was down come with the final report.
    assert!(f["logs"].as_array().unwrap().iter().any(|l| l["message"].as_str().unwrap().starts_with("simulate: provisioning")));
    wait_until(5, "the journal to be cleaned", || !saved.exists()).await;
    assert_eq!(rx.finals(&id(&job)).len(), 1);
    runner.stop().await;
}

#[tokio::test]
async fn a_saved_final_report_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    rx.set_down(true);
    let first = runner(dir.path(), |c| c.redeliver_ms = 60_000).await;
    let job = job("create", machine(&new_id(), "durable"), &rx.url);
    assert_eq!(deliver(&first, &job).await.0, 202);
    let saved = dir.path().join(format!("jobs/{}.final.json", id(&job)));
    wait_until(10, "the saved final report", || saved.exists()).await;
    // Let the first round of retries end, then stop: the report stays on disk.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(first.stop().await);
    assert!(saved.exists());
    let kept: Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    assert_eq!(kept["callbackUrl"], rx.url.as_str());
    assert_eq!(kept["body"]["status"], "succeeded");

    rx.set_down(false);
    let second = runner(dir.path(), |_| {}).await;
    let f = rx.wait_final(&id(&job), 10).await.body;
    assert_eq!(f["status"], "succeeded", "the real outcome, not a restart failure: {f}");
    assert_eq!(f["outputs"], kept["body"]["outputs"]);
    wait_until(5, "the journal to be cleaned", || !saved.exists()).await;
    second.stop().await;
}

#[tokio::test]
async fn a_final_report_refused_for_good_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    rx.refuse_finals(404);
    let runner = runner(dir.path(), |_| {}).await;
    let job = job("stop", machine(&new_id(), "unknown"), &rx.url);
    assert_eq!(deliver(&runner, &job).await.0, 202);
    let rejected = dir.path().join(format!("rejected/{}.json", id(&job)));
    wait_until(10, "the rejected report", || rejected.exists()).await;
    let copy: Value = serde_json::from_slice(&std::fs::read(&rejected).unwrap()).unwrap();
    assert_eq!(copy["body"]["status"], "succeeded");
    assert!(copy["refusal"].as_str().unwrap().starts_with("404"));
    assert!(files_in(&dir.path().join("jobs")).is_empty());
    runner.stop().await;
}

#[tokio::test]
async fn shutdown_leaves_queued_jobs_unclaimed_and_lets_running_ones_finish() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), |c| {
        c.concurrency = 1;
        c.sim_delay_ms = 100;
    })
    .await;
    let running = job("create", machine(&new_id(), "a"), &rx.url);
    let queued = job("create", machine(&new_id(), "b"), &rx.url);
    assert_eq!(deliver(&runner, &running).await.0, 202);
    assert_eq!(deliver(&runner, &queued).await.0, 202);
    rx.wait_for(&id(&running), 5, |b| b["status"] == "running").await;
    let addr = runner.addr;
    assert!(runner.stop().await, "stopped within the grace period");
    assert_eq!(rx.finals(&id(&running))[0].body["status"], "succeeded");
    // Never claimed, so nothing to report: the reaper hands it to a runner again.
    assert!(rx.claims(&id(&queued)).is_empty() && rx.calls(&id(&queued)).is_empty());
    assert!(client().get(format!("http://{addr}/health")).send().await.is_err(), "no longer listening");
    assert!(files_in(&dir.path().join("jobs")).is_empty());
}

fn binary(workdir: &Path, port: u16, delay_ms: u64) -> Command {
    let mut cmd = runner_process(workdir, port);
    cmd.env("RUNNER_SIM_DELAY_MS", delay_ms.to_string()).env("RUNNER_CALLBACK_BACKOFF_MS", "20");
    cmd
}

async fn post_signed(port: u16, job: &Value) -> u16 {
    let raw = serde_json::to_vec(job).unwrap();
    post_raw(&format!("http://127.0.0.1:{port}/"), &raw, Some(sign_now(&raw))).await.0
}

#[tokio::test]
async fn a_runner_killed_mid_job_leaves_it_to_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let port = free_port();
    let mut child = binary(dir.path(), port, 5_000).stdout(Stdio::null()).spawn().unwrap();
    wait_healthy(port).await;
    let job = job("create", machine(&new_id(), "interrupted"), &rx.url);
    assert_eq!(post_signed(port, &job).await, 202);
    rx.wait_for(&id(&job), 10, |b| b["status"] == "running").await;
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();

    // Back on the same directory: nothing to report (no failure made up), nothing kept.
    let port = free_port();
    let mut child = binary(dir.path(), port, 20).stdout(Stdio::null()).spawn().unwrap();
    wait_healthy(port).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(rx.finals(&id(&job)).is_empty(), "{:?}", rx.finals(&id(&job)));
    assert_eq!(rx.claims(&id(&job)).len(), 1);
    // Given out again (the reaper), it is claimed anew and runs to the end.
    assert_eq!(post_signed(port, &job).await, 202);
    let f = rx.wait_final(&id(&job), 20).await.body;
    assert_eq!((f["status"].as_str(), f["fence"].as_u64()), (Some("succeeded"), Some(2)));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn sigterm_stops_the_binary_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let port = free_port();
    let child = binary(dir.path(), port, 50).stdout(Stdio::piped()).spawn().unwrap();
    wait_healthy(port).await;
    let job = job("restart", machine(&new_id(), "graceful"), &rx.url);
    assert_eq!(post_signed(port, &job).await, 202);
    rx.wait_for(&id(&job), 10, |b| b["status"] == "running").await;
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    // The running job was allowed to finish.
    assert_eq!(rx.finals(&id(&job))[0].body["status"], "succeeded");
    let log = String::from_utf8(out.stdout).unwrap();
    let events: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).expect("JSON lines")).collect();
    let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    for expected in ["started", "job_accepted", "job_started", "stopping", "job_finished", "final_delivered", "stopped"] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let finished = events.iter().find(|e| e["event"] == "job_finished").unwrap();
    assert_eq!(finished["jobId"], id(&job).as_str());
    assert_eq!(finished["action"], "restart");
    assert_eq!(finished["outcome"], "succeeded");
    assert!(finished["durationMs"].as_u64().unwrap() >= 100);
    assert!(!log.contains(SECRET), "the secret is never logged");
}

#[test]
fn help_documents_every_setting() {
    let out = Command::new(env!("CARGO_BIN_EXE_hangar-runner")).arg("--help").env_remove("RUNNER_SECRET").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for var in [
        "RUNNER_SECRET",
        "RUNNER_LISTEN",
        "RUNNER_WORKDIR",
        "TERRAFORM_BIN",
        "RUNNER_MODULES_DIR",
        "RUNNER_CONCURRENCY",
        "RUNNER_MODE",
        "RUNNER_ID",
        "RUNNER_STATE_DATABASE_URL",
        "RUNNER_STATE_SCHEMA",
        "RUNNER_SIM_DELAY_MS",
        "SSH_BIN",
        "RUNNER_SSH_KEY",
        "RUNNER_SSH_USER",
        "RUNNER_LOG_BATCH",
        "ALLOWED_IMAGES",
        "SIMULATE_METRICS_INTERVAL",
        "record-metrics",
        "hangar-webhook",
        "hangar-callback",
        "job_lease_seconds",
        "busy",
        "simulate",
        "terraform",
        "Hangar-Signature",
    ] {
        assert!(help.contains(var), "--help does not mention {var}");
    }
    let missing = Command::new(env!("CARGO_BIN_EXE_hangar-runner")).env_clear().output().unwrap();
    assert!(!missing.status.success(), "RUNNER_SECRET is required");
    // No mode, no runner: it never falls back to simulating.
    let no_mode = Command::new(env!("CARGO_BIN_EXE_hangar-runner")).env_clear().env("RUNNER_SECRET", SECRET).output().unwrap();
    assert!(!no_mode.status.success());
    assert!(String::from_utf8_lossy(&no_mode.stderr).contains("--mode"), "{}", String::from_utf8_lossy(&no_mode.stderr));
}
