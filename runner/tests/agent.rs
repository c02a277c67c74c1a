//! Simulate mode's agents (agent.rs): a machine that runs posts samples to record-metrics
//! with its create job's token, at the interval; stop, restart and terminate stop it, start
//! brings it back with the same token; a refused token stops it for good; a restarted
//! runner resumes the agents of running machines; tokens never reach the log.
mod common;

use common::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_millis(100);

fn fast_agents(c: &mut hangar_runner::Config) {
    c.simulate_metrics_interval = INTERVAL;
}

/// A job of `machine`; a create carries `token`.
fn job_with_token(action: &str, machine: &Value, rx: &Receiver, token: &str) -> Value {
    let mut j = job(action, machine.clone(), &rx.url);
    if action == "create" {
        j["agentToken"] = json!(token);
    }
    j
}

fn token() -> String {
    format!("agent-{}", new_id())
}

/// Delivers a job and waits for its final report, which must be `succeeded`.
async fn run(runner: &hangar_runner::Runner, rx: &Receiver, job: &Value) {
    let (status, body) = deliver(runner, job).await;
    assert_eq!(status, 202, "{body}");
    let id = job["jobId"].as_str().unwrap();
    let f = rx.wait_final(id, 10).await;
    assert_eq!(f.body["status"], "succeeded", "{}", f.body);
}

#[tokio::test]
async fn a_running_machine_posts_samples_until_it_stops_and_again_after_start() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), fast_agents).await;
    let (id, tok) = (new_id(), token());
    let m = machine(&id, "metrics");
    let create = job_with_token("create", &m, &rx, &tok);
    run(&runner, &rx, &create).await;
    let created = rx.finals(create["jobId"].as_str().unwrap())[0].at;

    // Right after the machine runs, then at the interval.
    let first = rx.wait_samples(&tok, 4, 10).await;
    assert!(first[0].at >= created, "the first sample follows the final report of the create");
    let gaps: Vec<Duration> = first.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(gaps.iter().all(|g| *g >= INTERVAL / 2), "samples come at the interval, not in a burst: {gaps:?}");
    assert!(dir.path().join(format!("agents/{id}.json")).exists());

    // Stop: the agent stops before the stop job runs, so nothing arrives after its report.
    let stop = job_with_token("stop", &m, &rx, &tok);
    run(&runner, &rx, &stop).await;
    let at_stop = rx.samples(&tok).len();
    // The control: another machine's agent keeps posting meanwhile.
    let (other_id, other_tok) = (new_id(), token());
    run(&runner, &rx, &job_with_token("create", &machine(&other_id, "control"), &rx, &other_tok)).await;
    rx.wait_samples(&other_tok, 5, 10).await;
    assert_eq!(rx.samples(&tok).len(), at_stop, "no sample after the machine stopped");

    // Start has no token of its own: the create's is used again.
    let start = job_with_token("start", &m, &rx, &tok);
    assert!(start.get("agentToken").is_none());
    run(&runner, &rx, &start).await;
    rx.wait_samples(&tok, at_stop + 2, 10).await;

    // Terminate: stopped and forgotten.
    run(&runner, &rx, &job_with_token("terminate", &m, &rx, &tok)).await;
    let at_terminate = rx.samples(&tok).len();
    let n = rx.samples(&other_tok).len();
    rx.wait_samples(&other_tok, n + 3, 10).await;
    assert_eq!(rx.samples(&tok).len(), at_terminate, "no sample after terminate");
    assert!(!dir.path().join(format!("agents/{id}.json")).exists(), "the token is forgotten");
    assert!(runner.stop().await);
}

#[tokio::test]
async fn restart_pauses_the_agent_and_a_failed_create_starts_none() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), fast_agents).await;
    let (id, tok) = (new_id(), token());
    let m = machine(&id, "restarted");
    run(&runner, &rx, &job_with_token("create", &m, &rx, &tok)).await;
    rx.wait_samples(&tok, 2, 10).await;
    run(&runner, &rx, &job_with_token("restart", &m, &rx, &tok)).await;
    let n = rx.samples(&tok).len();
    rx.wait_samples(&tok, n + 2, 10).await;

    // A create that fails: the machine does not run, so no agent (its token is kept for a
    // later start from `error`).
    let (bad, bad_tok) = (new_id(), token());
    let mut failing = machine(&bad, "failing");
    failing["configuration"] = json!({"simulateFailure": "create"});
    let create = job_with_token("create", &failing, &rx, &bad_tok);
    deliver(&runner, &create).await;
    let f = rx.wait_final(create["jobId"].as_str().unwrap(), 10).await;
    assert_eq!(f.body["status"], "failed");
    let n = rx.samples(&tok).len();
    rx.wait_samples(&tok, n + 3, 10).await;
    assert!(rx.samples(&bad_tok).is_empty(), "a machine that never ran posts nothing");
    let kept: Value = serde_json::from_slice(&std::fs::read(dir.path().join(format!("agents/{bad}.json"))).unwrap()).unwrap();
    assert_eq!(kept["running"], false);
    let mut start = job_with_token("start", &failing, &rx, &bad_tok);
    start["machine"]["configuration"] = json!({});
    run(&runner, &rx, &start).await;
    rx.wait_samples(&bad_tok, 1, 10).await;
    assert!(runner.stop().await);
}

#[tokio::test]
async fn a_refused_token_stops_the_agent_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), fast_agents).await;
    let (id, tok) = (new_id(), token());
    run(&runner, &rx, &job_with_token("create", &machine(&id, "refused"), &rx, &tok)).await;
    rx.wait_samples(&tok, 1, 10).await;
    rx.refuse_token(&tok);
    let deadline = Instant::now() + Duration::from_secs(10);
    while dir.path().join(format!("agents/{id}.json")).exists() {
        assert!(Instant::now() < deadline, "the agent forgets a refused token");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let n = rx.samples(&tok).len();
    let (other, other_tok) = (new_id(), token());
    run(&runner, &rx, &job_with_token("create", &machine(&other, "control"), &rx, &other_tok)).await;
    rx.wait_samples(&other_tok, 4, 10).await;
    assert_eq!(rx.samples(&tok).len(), n, "nothing posted after the 401");
    assert!(runner.stop().await);
}

#[tokio::test]
async fn zero_turns_the_agents_off() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), |c| c.simulate_metrics_interval = Duration::ZERO).await;
    let (id, tok) = (new_id(), token());
    run(&runner, &rx, &job_with_token("create", &machine(&id, "quiet"), &rx, &tok)).await;
    // Another runner with agents on, as the control that time passed.
    let dir2 = tempfile::tempdir().unwrap();
    let runner2 = common::runner(dir2.path(), fast_agents).await;
    let other_tok = token();
    run(&runner2, &rx, &job_with_token("create", &machine(&new_id(), "control"), &rx, &other_tok)).await;
    rx.wait_samples(&other_tok, 3, 10).await;
    assert!(rx.samples(&tok).is_empty());
    assert!(!dir.path().join(format!("agents/{id}.json")).exists(), "no token kept when the agents are off");
    assert!(runner.stop().await && runner2.stop().await);
}

fn binary(workdir: &std::path::Path, port: u16) -> Command {
    let mut cmd = runner_process(workdir, port);
    cmd.env("RUNNER_SIM_DELAY_MS", "20").env("SIMULATE_METRICS_INTERVAL", "100ms");
    cmd
}

async fn sigterm(child: std::process::Child) -> String {
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn shutdown_stops_the_agents_a_restart_resumes_them_and_tokens_are_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let port = free_port();
    let child = binary(dir.path(), port).stdout(Stdio::piped()).spawn().unwrap();
    wait_healthy(port).await;
    let (running, stopped) = ((new_id(), token()), (new_id(), token()));
    for (id, tok) in [&running, &stopped] {
        let job = job_with_token("create", &machine(id, "bin"), &rx, tok);
        let raw = serde_json::to_vec(&job).unwrap();
        assert_eq!(post_raw(&format!("http://127.0.0.1:{port}/"), &raw, Some(sign_now(&raw))).await.0, 202);
        rx.wait_final(job["jobId"].as_str().unwrap(), 10).await;
    }
    rx.wait_samples(&running.1, 2, 10).await;
    let stop = job_with_token("stop", &machine(&stopped.0, "bin"), &rx, &stopped.1);
    let raw = serde_json::to_vec(&stop).unwrap();
    assert_eq!(post_raw(&format!("http://127.0.0.1:{port}/"), &raw, Some(sign_now(&raw))).await.0, 202);
    rx.wait_final(stop["jobId"].as_str().unwrap(), 10).await;
    let log = sigterm(child).await;

    // Stopped: nothing while the runner is down (a second runner elsewhere is the control).
    let (at_shutdown, stopped_count) = (rx.samples(&running.1).len(), rx.samples(&stopped.1).len());
    let dir2 = tempfile::tempdir().unwrap();
    let control = common::runner(dir2.path(), fast_agents).await;
    let control_tok = token();
    run(&control, &rx, &job_with_token("create", &machine(&new_id(), "control"), &rx, &control_tok)).await;
    rx.wait_samples(&control_tok, 4, 10).await;
    assert_eq!(rx.samples(&running.1).len(), at_shutdown, "no sample while the runner is down");

    // Back: the running machine's agent resumes with its token; the stopped one stays quiet.
    let port = free_port();
    let child = binary(dir.path(), port).stdout(Stdio::piped()).spawn().unwrap();
    wait_healthy(port).await;
    rx.wait_samples(&running.1, at_shutdown + 2, 10).await;
    let n = rx.samples(&control_tok).len();
    rx.wait_samples(&control_tok, n + 2, 10).await;
    assert_eq!(rx.samples(&stopped.1).len(), stopped_count, "a stopped machine's agent is not resumed");
    let log2 = sigterm(child).await;
    assert!(control.stop().await);

    for (log, which) in [(&log, "first"), (&log2, "second")] {
        for tok in [&running.1, &stopped.1] {
            assert!(!log.contains(tok.as_str()), "a token in the {which} run's log");
        }
    }
    let events: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).expect("JSON lines")).collect();
    let of = |name: &str, id: &str| events.iter().any(|e| e["event"] == name && e["machineId"] == id);
    assert!(of("agent_started", &running.0) && of("agent_started", &stopped.0));
    assert!(events.iter().any(|e| e["event"] == "agent_stopped" && e["machineId"] == stopped.0.as_str() && e["reason"] == "stop"));
    assert!(log2.contains("\"event\":\"agents_resumed\""), "{log2}");
}
