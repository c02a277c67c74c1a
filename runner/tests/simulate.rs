//! Simulate mode end to end: signed webhooks in, signed callbacks out.
mod common;

use common::*;
use protocol::signing::{sign, Direction};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn create_reports_running_logs_and_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), |_| {}).await;
    let machine_id = new_id();
    let job = job("create", machine(&machine_id, "web-1"), &rx.url);
    let id = job["jobId"].as_str().unwrap();

    let (status, body) = deliver(&runner, &job).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["data"], json!({"jobId": id, "duplicate": false}));

    let last = rx.wait_final(id, 10).await;
    let claims = rx.claims(id);
    assert_eq!(claims.len(), 1);
    let runner_id = health(&runner).await["runnerId"].as_str().unwrap().to_string();
    assert_eq!(claims[0].body, json!({"jobId": id, "status": "claimed", "runnerId": runner_id}), "claimed first");
    let calls = rx.calls(id);
    assert!(claims[0].at <= calls[0].at);
    assert_eq!(calls[0].body, json!({"jobId": id, "status": "running", "fence": 1}), "the first report is a bare running");
    assert_eq!(calls.last().unwrap().body, last.body, "the final report is the last one");
    for c in &calls {
        assert_report_shape(&c.body);
    }
    let f = &last.body;
    assert_eq!(f["status"], "succeeded", "{f}");
    let ip = f["outputs"]["ipAddress"].as_str().unwrap();
    let n: u32 = ip.strip_prefix("192.0.2.").expect("an address of 192.0.2.0/24").parse().unwrap();
    assert!((1..=254).contains(&n));
    assert_eq!(ip, hangar_runner::simulate::sim_ip(&machine_id), "stable per machine");
    let instance = f["outputs"]["providerInstanceId"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(instance.strip_prefix("sim-").unwrap()).is_ok(), "{instance}");
    assert!(f.get("error").is_none());

    let messages = rx.messages(id);
    assert_eq!(messages[0], "simulate: provisioning web-1 (dev.small) in us-east-1");
    assert!(messages.iter().any(|m| m == &format!("simulate: instance {instance} created")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains(ip)));

    // Delivered: nothing is kept (the database knows the job is done).
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(files_in(&dir.path().join("jobs")), Vec::<String>::new());
    assert!(runner.stop().await);
}

#[tokio::test]
async fn refuses_missing_wrong_and_stale_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), |_| {}).await;
    let job = job("create", machine(&new_id(), "web"), &rx.url);
    let raw = serde_json::to_vec(&job).unwrap();
    let url = format!("http://{}/", runner.addr);
    let now = chrono::Utc::now().timestamp();

    let good = sign(SECRET, Direction::Webhook, now, &raw);
    let v1 = good.split_once("v1=").unwrap().1.to_string();
    let cases = [
        (None, "missing"),
        (Some(sign("another-secret", Direction::Webhook, now, &raw)), "mismatch"),
        (Some(sign(SECRET, Direction::Webhook, now - 400, &raw)), "stale"),
        (Some(sign(SECRET, Direction::Webhook, now, b"another body")), "mismatch"),
        // A callback signature of the same body never passes for a webhook.
        (Some(sign(SECRET, Direction::Callback, now, &raw)), "mismatch"),
        (Some("t=abc".to_string()), "malformed"),
        (Some(format!("{good},v1={v1}")), "malformed"),
        (Some(format!("{good},v0=00")), "malformed"),
    ];
    for (header, reason) in cases {
        let (status, body) = post_raw(&url, &raw, header).await;
        assert_eq!(status, 401, "{reason}: {body}");
        assert_eq!(body["success"], false);
        assert_eq!(body["error_code"], "unauthorized");
        assert_eq!(body["details"]["reason"], reason);
    }
    // Also on /webhook.
    let (status, _) = post_raw(&format!("http://{}/webhook", runner.addr), &raw, None).await;
    assert_eq!(status, 401);

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.attempts(), 0, "nothing ran");
    assert!(files_in(&dir.path().join("jobs")).is_empty());
    assert_eq!(health(&runner).await["queued"], 0);

    // The same job, properly signed, is new (the refused deliveries left nothing behind).
    let (status, body) = post_raw(&format!("http://{}/webhook", runner.addr), &raw, Some(sign_now(&raw))).await;
    assert_eq!((status, &body["data"]["duplicate"]), (202, &json!(false)), "{body}");
    assert_eq!(rx.wait_final(job["jobId"].as_str().unwrap(), 10).await.body["status"], "succeeded");
    runner.stop().await;
}

#[tokio::test]
async fn malformed_jobs_are_400_and_unknown_routes_404() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), |_| {}).await;
    let url = format!("http://{}/", runner.addr);
    let signed = |raw: &[u8]| Some(sign_now(raw));

    let (status, body) = post_raw(&url, b"{not json", signed(b"{not json")).await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("invalid_json")));

    let mut bad = job("explode", machine(&new_id(), "m"), &rx.url);
    let raw = serde_json::to_vec(&bad).unwrap();
    let (status, body) = post_raw(&url, &raw, signed(&raw)).await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("validation_error")), "{body}");

    bad["action"] = json!("create");
    bad["jobId"] = json!("../../etc/passwd");
    let raw = serde_json::to_vec(&bad).unwrap();
    let (status, body) = post_raw(&url, &raw, signed(&raw)).await;
    assert_eq!((status, &body["details"]["field"]), (400, &json!("jobId")), "{body}");

    // Exactly the contract: a field the Worker does not send is refused.
    let mut extra = job("create", machine(&new_id(), "m"), &rx.url);
    extra["priority"] = json!(1);
    let raw = serde_json::to_vec(&extra).unwrap();
    let (status, body) = post_raw(&url, &raw, signed(&raw)).await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("validation_error")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("priority"), "{body}");

    bad["jobId"] = json!(new_id());
    bad["callbackUrl"] = json!("ftp://example.com/x");
    let raw = serde_json::to_vec(&bad).unwrap();
    let (status, body) = post_raw(&url, &raw, signed(&raw)).await;
    assert_eq!((status, &body["details"]["field"]), (400, &json!("callbackUrl")), "{body}");

    let resp = client().get(format!("http://{}/nope", runner.addr)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let resp = client().get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert!(files_in(&dir.path().join("jobs")).is_empty());
    runner.stop().await;
}

#[tokio::test]
async fn a_job_delivered_again_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), |_| {}).await;
    let mut job = job("create", machine(&new_id(), "twice"), &rx.url);
    let id = job["jobId"].as_str().unwrap().to_string();

    // Two deliveries at once (the Worker re-sends with attempt + 1 when the answer was late).
    let mut again = job.clone();
    again["attempt"] = json!(2);
    let (a, b) = tokio::join!(deliver(&runner, &job), deliver(&runner, &again));
    assert_eq!((a.0, b.0), (202, 202));
    let dups = [&a.1, &b.1].iter().filter(|r| r["data"]["duplicate"] == true).count();
    assert_eq!(dups, 1, "{a:?} {b:?}");

    rx.wait_final(&id, 10).await;
    // And once more after it finished (here, or on any runner): the claim refuses it.
    job["attempt"] = json!(3);
    let (status, _) = deliver(&runner, &job).await;
    assert_eq!(status, 202);
    let other_dir = tempfile::tempdir().unwrap();
    let other = common::runner(other_dir.path(), |_| {}).await;
    assert_eq!(deliver(&other, &job).await.0, 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.claims(&id).len(), 3, "each delivery asked");
    assert_eq!(rx.finals(&id).len(), 1);
    let bare_running = rx.calls(&id).iter().filter(|c| c.body == json!({"jobId": id, "status": "running", "fence": 1})).count();
    assert_eq!(bare_running, 1, "ran once");
    other.stop().await;
    runner.stop().await;
}

#[tokio::test]
async fn deploy_and_command_results() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), |_| {}).await;
    let mut m = machine(&new_id(), "node");
    m["ipAddress"] = json!("192.0.2.10");

    let mut deploy = job("deploy", m.clone(), &rx.url);
    deploy["params"] = deploy_params("ethereum", "1.14.0", json!({"network": "holesky"}));
    let mut command = job("command", m.clone(), &rx.url);
    command["params"] = command_params("uname", &["-a", "x y"], 30);
    let mut broken = job("deploy", m.clone(), &rx.url);
    broken["params"] = deploy_params("ethereum", "1", json!({}));
    broken["params"].as_object_mut().unwrap().remove("name");
    // The old lenient shapes are gone: a key of another contract fails the job, named.
    let mut legacy = job("deploy", m.clone(), &rx.url);
    legacy["params"] = deploy_params("ethereum", "1", json!({}));
    legacy["params"]["protocolConfig"] = json!({"name": "other", "version": "2"});
    let mut no_timeout = job("command", m.clone(), &rx.url);
    no_timeout["params"] = json!({"command": "uname", "args": []});
    for j in [&deploy, &command, &broken, &legacy, &no_timeout] {
        assert_eq!(deliver(&runner, j).await.0, 202);
    }

    let d = rx.wait_final(deploy["jobId"].as_str().unwrap(), 10).await.body;
    assert_eq!(d["status"], "succeeded");
    assert_eq!(d["result"], json!({"protocol": "ethereum", "version": "1.14.0", "status": "deployed"}));
    let c = rx.wait_final(command["jobId"].as_str().unwrap(), 10).await.body;
    assert_eq!(c["status"], "succeeded");
    assert_eq!(c["result"], json!({"exitCode": 0, "stdout": "simulated: uname -a x y", "stderr": ""}));
    let b = rx.wait_final(broken["jobId"].as_str().unwrap(), 10).await.body;
    assert_eq!(b["status"], "failed");
    assert_eq!(b["error"], "invalid params for deploy: params.name is required (1 to 64 characters of letters, digits, spaces and ._- not starting with a dot or a space, not ending with a space)");
    let l = rx.wait_final(legacy["jobId"].as_str().unwrap(), 10).await.body;
    assert_eq!(l["status"], "failed");
    assert!(l["error"].as_str().unwrap().starts_with("invalid params for deploy: params.protocolConfig is not a parameter of deploy"), "{l}");
    let t = rx.wait_final(no_timeout["jobId"].as_str().unwrap(), 10).await.body;
    assert_eq!(t["error"], "invalid params for command: params.timeoutSec is required (an integer from 1 to 3600)");
    for body in [&d, &c, &b, &l, &t] {
        assert_report_shape(body);
    }
    // A job refused for its params did not run: only its final report, with the reason.
    assert_eq!(rx.calls(legacy["jobId"].as_str().unwrap()).len(), 1);
    assert_eq!(rx.logs(legacy["jobId"].as_str().unwrap())[0]["level"], "error");
    runner.stop().await;
}

#[tokio::test]
async fn simulate_failure_fails_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), |_| {}).await;

    let mut m = machine(&new_id(), "doomed");
    m["configuration"] = json!({"simulateFailure": true});
    let create = job("create", m, &rx.url);
    // Params are not a place for flags: the only switch is the machine's configuration.
    let mut stop = job("stop", machine(&new_id(), "fine"), &rx.url);
    stop["params"] = json!({"simulateFailure": true});
    // Only create fails for this one: deleting it still works.
    let mut m = machine(&new_id(), "picky");
    m["configuration"] = json!({"simulateFailure": ["create"]});
    let picky_create = job("create", m.clone(), &rx.url);
    let picky_terminate = job("terminate", m, &rx.url);
    for j in [&create, &stop, &picky_create, &picky_terminate] {
        assert_eq!(deliver(&runner, j).await.0, 202);
    }
    let id = |j: &Value| j["jobId"].as_str().unwrap().to_string();

    let f = rx.wait_final(&id(&create), 10).await.body;
    assert_report_shape(&f);
    assert_eq!(f["status"], "failed");
    assert!(f["error"].as_str().unwrap().contains("simulated failure of create"), "{f}");
    assert!(f.get("outputs").is_none());
    assert!(rx.logs(&id(&create)).iter().any(|l| l["level"] == "error"));
    let f = rx.wait_final(&id(&stop), 10).await.body;
    assert_eq!(f["status"], "failed");
    assert_eq!(f["error"], "invalid params for stop: params.simulateFailure is not a parameter of stop (it takes none)");
    assert_eq!(rx.wait_final(&id(&picky_create), 10).await.body["status"], "failed");
    assert_eq!(rx.wait_final(&id(&picky_terminate), 10).await.body["status"], "succeeded");
    runner.stop().await;
}

#[tokio::test]
async fn health_reports_mode_and_load_within_the_pool_bound() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), |c| {
        c.concurrency = 2;
        c.sim_delay_ms = 60;
    })
    .await;
    let h = health(&runner).await;
    assert_eq!(h["status"], "ok");
    assert_eq!(h["mode"], "simulate");
    assert_eq!((h["running"].as_u64(), h["queued"].as_u64()), (Some(0), Some(0)));

    let jobs: Vec<Value> = (0..5).map(|i| job("create", machine(&new_id(), &format!("m{i}")), &rx.url)).collect();
    for j in &jobs {
        assert_eq!(deliver(&runner, j).await.0, 202);
    }
    let (mut max_running, mut seen_queued) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let h = health(&runner).await;
        let (running, queued) = (h["running"].as_u64().unwrap(), h["queued"].as_u64().unwrap());
        max_running = max_running.max(running);
        seen_queued = seen_queued.max(queued);
        if running == 0 && queued == 0 {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(max_running, 2, "RUNNER_CONCURRENCY jobs at once, not more");
    assert!(seen_queued >= 2, "the others waited ({seen_queued})");
    for j in &jobs {
        assert_eq!(rx.wait_final(j["jobId"].as_str().unwrap(), 10).await.body["status"], "succeeded");
    }
    runner.stop().await;
}

#[tokio::test]
async fn jobs_of_one_machine_run_one_after_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), |c| c.sim_delay_ms = 80).await;
    let m = machine(&new_id(), "ordered");
    let jobs = [job("stop", m.clone(), &rx.url), job("start", m.clone(), &rx.url), job("restart", m.clone(), &rx.url)];
    let other = job("restart", machine(&new_id(), "elsewhere"), &rx.url);
    // The other machine's job first: it must not hold up, nor be held up by, this machine's.
    for j in [&other].into_iter().chain(jobs.iter()) {
        assert_eq!(deliver(&runner, j).await.0, 202);
    }
    let id = |j: &Value| j["jobId"].as_str().unwrap().to_string();
    let mut finals = Vec::new();
    for j in &jobs {
        finals.push(rx.wait_final(&id(j), 10).await);
    }
    for pair in jobs.windows(2) {
        let first_final = rx.finals(&id(&pair[0]))[0].at;
        let next_start = rx.calls(&id(&pair[1]))[0].at;
        assert!(next_start >= first_final, "{} started before {} finished", id(&pair[1]), id(&pair[0]));
    }
    // Another machine did not wait for this one.
    let other_start = rx.calls(&id(&other))[0].at;
    assert!(other_start < finals[0].at, "jobs of different machines run side by side");
    assert_eq!(rx.wait_final(&id(&other), 10).await.body["status"], "succeeded");
    runner.stop().await;
}

#[tokio::test]
async fn a_job_the_claim_refuses_is_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), |_| {}).await;
    let m = machine(&new_id(), "gone");
    let id = |j: &Value| j["jobId"].as_str().unwrap().to_string();
    // What the database answers for a machine whose terminate succeeded, and for a job
    // another runner holds (hangar_job_claim); the runner runs neither and reports nothing.
    let create = job("create", m.clone(), &rx.url);
    let start = job("start", m.clone(), &rx.url);
    rx.refuse_claim(&id(&create), "terminated");
    rx.refuse_claim(&id(&start), "leased");
    let other = job("create", machine(&new_id(), "other"), &rx.url);
    for j in [&create, &start, &other] {
        assert_eq!(deliver(&runner, j).await.0, 202);
    }
    assert_eq!(rx.wait_final(&id(&other), 10).await.body["status"], "succeeded", "other machines are not affected");
    tokio::time::sleep(Duration::from_millis(200)).await;
    for j in [&create, &start] {
        assert_eq!(rx.claims(&id(j)).len(), 1);
        assert!(rx.calls(&id(j)).is_empty(), "not run: no report at all");
    }
    assert_eq!(health(&runner).await["queued"], 0);
    runner.stop().await;
}

#[tokio::test]
async fn a_busy_claim_is_asked_again_heartbeats_keep_it_and_a_lost_claim_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), |c| c.sim_delay_ms = 2500).await;
    let id = |j: &Value| j["jobId"].as_str().unwrap().to_string();
    // busy: an earlier job of the machine is not done yet; asked again until it is.
    let stop = job("stop", machine(&new_id(), "waits"), &rx.url);
    rx.refuse_claim(&id(&stop), "busy");
    assert_eq!(deliver(&runner, &stop).await.0, 202);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(rx.claims(&id(&stop)).len() >= 2, "asked again");
    assert!(rx.calls(&id(&stop)).is_empty());
    rx.allow_claim(&id(&stop));
    assert_eq!(rx.wait_final(&id(&stop), 10).await.body["status"], "succeeded");
    // The claim's lease is 3 s: while the step sleeps 2.5 s without a line, heartbeats
    // (empty running reports) go at least every second.
    let bare = rx.calls(&id(&stop)).iter().filter(|c| c.body == json!({"jobId": id(&stop), "status": "running", "fence": 1})).count();
    assert!(bare >= 3, "the first report and heartbeats: {:?}", rx.calls(&id(&stop)));

    // Another runner took the job over: this one's reports are 409 and change nothing.
    let lost = job("stop", machine(&new_id(), "lost"), &rx.url);
    assert_eq!(deliver(&runner, &lost).await.0, 202);
    rx.wait_for(&id(&lost), 5, |b| b["status"] == "running").await;
    rx.take_over(&id(&lost));
    let rejected = dir.path().join("rejected").join(format!("{}.json", id(&lost)));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !rejected.exists() {
        assert!(Instant::now() < deadline, "the refused final report is kept for an operator");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(rx.finals(&id(&lost)).is_empty(), "its final report changed nothing");
    runner.stop().await;
}

#[tokio::test]
async fn a_failed_terminate_does_not_mark_the_machine() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), |_| {}).await;
    let mut m = machine(&new_id(), "stubborn");
    m["configuration"] = json!({"simulateFailure": "terminate"});
    let terminate = job("terminate", m.clone(), &rx.url);
    assert_eq!(deliver(&runner, &terminate).await.0, 202);
    assert_eq!(rx.wait_final(terminate["jobId"].as_str().unwrap(), 10).await.body["status"], "failed");
    let start = job("start", m, &rx.url);
    assert_eq!(deliver(&runner, &start).await.0, 202);
    assert_eq!(rx.wait_final(start["jobId"].as_str().unwrap(), 10).await.body["status"], "succeeded");
    runner.stop().await;
}

#[tokio::test]
async fn a_cancel_in_a_reports_answer_interrupts_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), |c| c.sim_delay_ms = 30_000).await;
    let mut m = machine(&new_id(), "busy");
    m["ipAddress"] = json!("192.0.2.10");
    let mut command = job("command", m, &rx.url);
    command["params"] = command_params("sleep", &["600"], 900);
    let id = command["jobId"].as_str().unwrap().to_string();
    assert_eq!(deliver(&runner, &command).await.0, 202);
    rx.wait_for(&id, 5, |b| b["status"] == "running").await;
    let asked = Instant::now();
    rx.cancel(&id);
    // The next heartbeat (a third of the 3 s lease) is answered `cancel: true`.
    let f = rx.wait_final(&id, 10).await;
    assert!(f.at.duration_since(asked) < Duration::from_secs(5), "interrupted, not run to its end");
    assert_eq!((f.body["status"].as_str(), f.body["error"].as_str()), (Some("failed"), Some(hangar_runner::pool::INTERRUPTED)));
    assert_report_shape(&f.body);
    assert_eq!(health(&runner).await["running"], 0);
    runner.stop().await;
}
