//! authorize_keys (API.md §7) end to end in both modes: in Terraform mode over a stand-in
//! `ssh` that runs the runner's fixed script locally with HOME in a temporary directory
//! (so the file it writes is the one a machine's login user would get), in simulate mode
//! the fingerprints it records. Also: a start whose machine's keys changed while it was
//! stopped installs them (cloud-init only runs on first boot).
mod common;

use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Real keys (`ssh-keygen -t ed25519`), with what `ssh-keygen -lf` printed for each.
const ALICE: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICXVaRhGv3TRk5safvYVwCoG1++iGTl/TukFbUNPNyRD alice@laptop";
const ALICE_FP: &str = "SHA256:zcLSWk0rDwqQLegsfc8ZbDJMzIdDXskupBavLks7N/4";
const BOB: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILyV8lSFR+6j1FCaG1Bumb17QgUzOF1UklmZgD8MVZtn bob@desk";
const RUNNER_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILnnI//SmrrXeOWlmeEVLoSpWFpuzIXwS9+74gz1/RRh runner@hangar";

/// Plays ssh (common::ssh_stand_in): records the target, then runs the remote command
/// locally as a login user whose home is `<rec>/home`.
const SSH_ON_TARGET: &str = r#"echo "$target" >> "$rec/ssh-targets""#;
const SSH_REMOTE: &str = r#"HOME="$rec/home" exec sh -c "$*"
"#;

/// Terraform that always succeeds (create, start).
const TF_STAND_IN: &str = r#"#!/bin/sh
case "$1" in
  output) printf '{"ip_address":{"value":"203.0.113.9"},"instance_id":{"value":"i-keys"}}\n' ;;
  *) echo '{"@level":"info","@message":"ok","@module":"terraform.ui","@timestamp":"2026-11-22T10:00:00Z","type":"x"}' ;;
esac
"#;

struct Setup {
    _dir: tempfile::TempDir,
    rec: PathBuf,
    work: PathBuf,
    modules: PathBuf,
    ssh: PathBuf,
    tf: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec");
    let modules = dir.path().join("modules");
    std::fs::create_dir_all(rec.join("home")).unwrap();
    std::fs::create_dir_all(modules.join("aws")).unwrap();
    let ssh = dir.path().join("ssh");
    ssh_stand_in(&ssh, &rec, "", SSH_ON_TARGET, SSH_REMOTE);
    let tf = dir.path().join("terraform");
    script(&tf, TF_STAND_IN);
    Setup { work: dir.path().join("work"), rec, modules, ssh, tf, _dir: dir }
}

async fn tf_runner(s: &Setup, runner_key: Option<&str>) -> hangar_runner::Runner {
    runner(&s.work, |c| {
        c.mode = hangar_runner::Mode::Terraform;
        c.terraform_bin = s.tf.clone();
        c.state_database_url = Some("postgres://stand-in@127.0.0.1:1/state".into());
        c.modules_dir = s.modules.clone();
        c.ssh_bin = s.ssh.clone();
        c.ssh_public_key = runner_key.map(str::to_string);
    })
    .await
}

fn keys_job(machine_id: &str, keys: &[&str], ip: &str, callback: &str) -> Value {
    let mut m = machine(machine_id, "keys-1");
    m["ipAddress"] = json!(ip);
    m["sshAuthorizedKeys"] = json!(keys);
    job("authorize_keys", m, callback)
}

fn authorized_keys(rec: &Path) -> String {
    std::fs::read_to_string(rec.join("home/.ssh/authorized_keys")).unwrap_or_default()
}

#[tokio::test]
async fn authorize_keys_rewrites_the_login_users_file_and_keeps_the_runners_key() {
    let s = setup();
    let rx = Receiver::start().await;
    let runner = tf_runner(&s, Some(RUNNER_KEY)).await;
    let id = new_id();

    let j = keys_job(&id, &[ALICE, BOB], "203.0.113.9", &rx.url);
    assert_eq!(deliver(&runner, &j).await.0, 202);
    let f = rx.wait_final(j["jobId"].as_str().unwrap(), 20).await.body;
    assert_report_shape(&f);
    assert_eq!(f["status"], "succeeded", "{f}");
    assert_eq!(authorized_keys(&s.rec), format!("{ALICE}\n{BOB}\n{RUNNER_KEY}\n"));
    let fps = f["result"]["sshAuthorizedKeys"].as_array().unwrap();
    assert_eq!(fps.len(), 3);
    assert_eq!(fps[0], ALICE_FP);
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| std::fs::metadata(s.rec.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode("home/.ssh"), mode("home/.ssh/authorized_keys")), (0o700, 0o600));
    assert_eq!(std::fs::read_to_string(s.rec.join("ssh-targets")).unwrap().trim(), "hangar@203.0.113.9");
    let messages = rx.messages(j["jobId"].as_str().unwrap());
    assert!(messages.iter().any(|m| m.contains("authorized_keys: 3 key(s) for")), "{messages:?}");

    // A key taken off the machine is gone from the file; the runner's stays.
    let j = keys_job(&id, &[BOB], "203.0.113.9", &rx.url);
    deliver(&runner, &j).await;
    assert_eq!(rx.wait_final(j["jobId"].as_str().unwrap(), 20).await.body["status"], "succeeded");
    assert_eq!(authorized_keys(&s.rec), format!("{BOB}\n{RUNNER_KEY}\n"));
    runner.stop().await;
}

#[tokio::test]
async fn authorize_keys_refuses_to_lock_the_runner_out_or_install_a_bad_line() {
    let s = setup();
    let rx = Receiver::start().await;
    let runner = tf_runner(&s, None).await;
    let j = keys_job(&new_id(), &[ALICE], "203.0.113.9", &rx.url);
    deliver(&runner, &j).await;
    let f = rx.wait_final(j["jobId"].as_str().unwrap(), 20).await.body;
    assert_eq!(f["status"], "failed");
    assert!(f["error"].as_str().unwrap().contains("lock the runner out"), "{f}");
    assert!(!s.rec.join("ssh-targets").exists(), "no SSH without the runner's key");
    runner.stop().await;

    let runner = tf_runner(&s, Some(RUNNER_KEY)).await;
    let j = keys_job(&new_id(), &[ALICE, "ssh-ed25519 AAAA x\nssh-rsa BBBB evil"], "203.0.113.9", &rx.url);
    deliver(&runner, &j).await;
    let f = rx.wait_final(j["jobId"].as_str().unwrap(), 20).await.body;
    assert_eq!(f["status"], "failed");
    assert!(f["error"].as_str().unwrap().contains("sshAuthorizedKeys[1]"), "{f}");
    // An unreachable machine fails the job, saying so.
    let j = keys_job(&new_id(), &[ALICE], "198.51.100.255", &rx.url);
    deliver(&runner, &j).await;
    let f = rx.wait_final(j["jobId"].as_str().unwrap(), 20).await.body;
    assert_eq!(f["status"], "failed");
    assert!(f["error"].as_str().unwrap().contains("exit 255"), "{f}");
    assert_eq!(authorized_keys(&s.rec), "", "nothing was written");
    runner.stop().await;
}

#[tokio::test]
async fn a_start_installs_keys_chosen_while_the_machine_was_stopped() {
    let s = setup();
    let rx = Receiver::start().await;
    let runner = tf_runner(&s, Some(RUNNER_KEY)).await;
    let id = new_id();
    let mut m = machine(&id, "keys-2");
    m["sshAuthorizedKeys"] = json!([ALICE]);
    let create = job("create", m.clone(), &rx.url);
    deliver(&runner, &create).await;
    assert_eq!(rx.wait_final(create["jobId"].as_str().unwrap(), 20).await.body["status"], "succeeded");
    // cloud-init installed them: nothing to do over SSH.
    assert!(!s.rec.join("ssh-targets").exists());

    // Unchanged keys: a start does not log in.
    m["ipAddress"] = json!("203.0.113.9");
    let start = job("start", m.clone(), &rx.url);
    deliver(&runner, &start).await;
    assert_eq!(rx.wait_final(start["jobId"].as_str().unwrap(), 20).await.body["status"], "succeeded");
    assert!(!s.rec.join("ssh-targets").exists());

    // Keys changed while stopped: the start installs them.
    m["sshAuthorizedKeys"] = json!([BOB]);
    let start = job("start", m, &rx.url);
    deliver(&runner, &start).await;
    let f = rx.wait_final(start["jobId"].as_str().unwrap(), 20).await.body;
    assert_eq!(f["status"], "succeeded", "{f}");
    assert_eq!(authorized_keys(&s.rec), format!("{BOB}\n{RUNNER_KEY}\n"));
    runner.stop().await;
}

#[tokio::test]
async fn simulate_mode_records_the_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), |_| {}).await;
    let j = keys_job(&new_id(), &[ALICE, BOB], "192.0.2.1", &rx.url);
    deliver(&runner, &j).await;
    let f = rx.wait_final(j["jobId"].as_str().unwrap(), 20).await.body;
    assert_eq!(f["status"], "succeeded");
    assert_eq!(f["result"]["sshAuthorizedKeys"][0], ALICE_FP);
    assert_eq!(f["result"]["sshAuthorizedKeys"].as_array().unwrap().len(), 2);
    let messages = rx.messages(j["jobId"].as_str().unwrap());
    assert!(messages.iter().any(|m| m.contains(&format!("2 key(s): {ALICE_FP}, "))), "{messages:?}");
    // The keys ride on create too.
    let mut m = machine(&new_id(), "keys-3");
    m["sshAuthorizedKeys"] = json!([BOB]);
    let create = job("create", m, &rx.url);
    deliver(&runner, &create).await;
    let f = rx.wait_final(create["jobId"].as_str().unwrap(), 20).await.body;
    assert_eq!(f["result"]["sshAuthorizedKeys"].as_array().unwrap().len(), 1);
    runner.stop().await;
}
