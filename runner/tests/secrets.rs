//! The machine's secrets (`secrets` of create and deploy webhooks): written over SSH in
//! Terraform mode (a stand-in `ssh` keeps what it receives on stdin, so the test reads
//! the file the machine would get), recorded by name and count in simulate mode. No value
//! may reach a report.
mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;

const VALUE: &str = "hunter2-it's \"quoted\" $(id)\nline two";

/// Plays the remote end (common::ssh_stand_in): stdin of the secrets script goes to
/// rec/secrets.env (mode and all as the script sets them, checked below), of deploy to
/// rec/deploy-stdin; the script itself to rec/secrets-script.
const SSH_REMOTE: &str = r#"case "$*" in
  *secrets.env*) printf '%s' "$*" > "$rec/secrets-script"; echo "$target" >> "$rec/secrets-targets"; cat > "$rec/secrets.env"; echo "wrote /etc/hangar/secrets.env" ;;
  *hangar/protocols*) cat > "$rec/deploy-stdin"; echo "wrote"; echo "ssh-order: deploy" >> "$rec/order" ;;
  *) echo "unexpected remote command" >&2; exit 2 ;;
esac
case "$*" in *secrets.env*) echo "ssh-order: secrets" >> "$rec/order" ;; esac
"#;

/// Enough of Terraform for a create: apply succeeds, outputs an address.
const TF_STAND_IN: &str = r#"#!/bin/sh
case "$1" in
  init) echo "Terraform has been successfully initialized!" ;;
  workspace) echo "Switched to the machine's workspace." ;;
  apply) printf '{"@level":"info","@message":"Apply complete!","@module":"terraform.ui","@timestamp":"2026-11-22T10:00:00.000000Z","type":"change_summary"}\n'; echo '{"version":4}' > terraform.tfstate ;;
  output) printf '{"ip_address":{"value":"203.0.113.7"},"instance_id":{"value":"i-0abc"}}\n' ;;
  *) exit 2 ;;
esac
"#;

fn with_secrets(mut job: Value, secrets: Value) -> Value {
    job["secrets"] = secrets;
    job
}

fn id(j: &Value) -> String {
    j["jobId"].as_str().unwrap().to_string()
}

fn sourced(file: &Path, name: &str) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("set -a; . '{}'; set +a; printf '%s' \"${name}\"", file.display()))
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// No report of the job holds the value (nor its first line).
fn assert_no_value(rx: &Receiver, job_id: &str) {
    for c in rx.calls(job_id) {
        let text = c.body.to_string();
        assert!(!text.contains("hunter2"), "a report holds the value: {text}");
    }
}

#[tokio::test]
async fn terraform_mode_writes_the_file_after_create_and_before_each_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec");
    std::fs::create_dir_all(&rec).unwrap();
    let ssh = dir.path().join("ssh");
    ssh_stand_in(&ssh, &rec, "", "", SSH_REMOTE);
    let tf = dir.path().join("terraform");
    script(&tf, TF_STAND_IN);
    let modules = dir.path().join("modules");
    std::fs::create_dir_all(modules.join("aws")).unwrap();
    std::fs::write(modules.join("aws/main.tf"), "# aws\n").unwrap();
    let rx = Receiver::start().await;
    let runner = runner(&dir.path().join("work"), |c| {
        c.mode = hangar_runner::Mode::Terraform;
        c.terraform_bin = tf.clone();
        c.state_database_url = Some("postgres://stand-in@127.0.0.1:1/state".into());
        c.modules_dir = modules.clone();
        c.ssh_bin = ssh.clone();
        c.ssh_key = Some(dir.path().join("id_ed25519"));
    })
    .await;

    // Create: the file is written at the address Terraform reported.
    let machine_id = new_id();
    let create = with_secrets(job("create", machine(&machine_id, "sec"), &rx.url), json!({"DB_URL": VALUE, "B": "two"}));
    assert_eq!(deliver(&runner, &create).await.0, 202);
    let f = rx.wait_final(&id(&create), 20).await.body;
    assert_eq!(f["status"], "succeeded", "{f}");
    assert_eq!(f["result"]["secrets"], json!({"path": "/etc/hangar/secrets.env", "count": 2, "names": ["B", "DB_URL"]}));
    assert_eq!(std::fs::read_to_string(rec.join("secrets-targets")).unwrap().trim(), "hangar@203.0.113.7");
    assert_eq!(sourced(&rec.join("secrets.env"), "DB_URL"), VALUE);
    assert_eq!(sourced(&rec.join("secrets.env"), "B"), "two");
    let script_text = std::fs::read_to_string(rec.join("secrets-script")).unwrap();
    assert!(script_text.contains("install -m 600") && !script_text.contains("hunter2"), "the value goes on stdin only: {script_text}");
    assert!(rx.messages(&id(&create)).iter().any(|m| m == "create: wrote /etc/hangar/secrets.env (mode 0600): 2 secret(s): B, DB_URL"));
    assert_no_value(&rx, &id(&create));

    // Deploy: the file first (now without B: deleted secrets leave the file), then the protocol.
    let mut m = machine(&machine_id, "sec");
    m["ipAddress"] = json!("198.51.100.10");
    let mut deploy = with_secrets(job("deploy", m.clone(), &rx.url), json!({"DB_URL": VALUE}));
    deploy["params"] = deploy_params("geth", "1.0", json!({}));
    assert_eq!(deliver(&runner, &deploy).await.0, 202);
    let f = rx.wait_final(&id(&deploy), 20).await.body;
    assert_eq!(f["status"], "succeeded", "{f}");
    assert_eq!(f["result"]["status"], "deployed");
    assert_eq!(f["result"]["secrets"]["names"], json!(["DB_URL"]));
    assert_eq!(sourced(&rec.join("secrets.env"), "B"), "", "B is gone from the file");
    let order = std::fs::read_to_string(rec.join("order")).unwrap();
    assert_eq!(order.lines().collect::<Vec<_>>(), ["ssh-order: secrets", "ssh-order: secrets", "ssh-order: deploy"]);
    assert_no_value(&rx, &id(&deploy));

    // A deploy whose file cannot be written fails before the protocol, naming the file.
    let mut unreachable = m.clone();
    unreachable["ipAddress"] = json!("198.51.100.255");
    let mut refused = with_secrets(job("deploy", unreachable, &rx.url), json!({"DB_URL": VALUE}));
    refused["params"] = deploy_params("geth", "1.0", json!({}));
    assert_eq!(deliver(&runner, &refused).await.0, 202);
    let f = rx.wait_final(&id(&refused), 20).await.body;
    assert_eq!(f["status"], "failed");
    assert!(f["error"].as_str().unwrap().starts_with("secrets: ssh to hangar@198.51.100.255 failed"), "{f}");
    assert_no_value(&rx, &id(&refused));

    // A job without `secrets` (other actions; older Workers) writes nothing.
    let before = std::fs::read_to_string(rec.join("order")).unwrap();
    let mut plain = job("deploy", m, &rx.url);
    plain["params"] = deploy_params("geth", "1.1", json!({}));
    assert_eq!(deliver(&runner, &plain).await.0, 202);
    assert_eq!(rx.wait_final(&id(&plain), 20).await.body["status"], "succeeded");
    assert_eq!(std::fs::read_to_string(rec.join("order")).unwrap(), format!("{before}ssh-order: deploy\n"));
    assert!(runner.stop().await);
}

#[tokio::test]
async fn simulate_mode_records_names_and_count_only() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let runner = runner(dir.path(), |_| {}).await;
    let machine_id = new_id();
    let create = with_secrets(job("create", machine(&machine_id, "sim"), &rx.url), json!({"DB_URL": VALUE, "API_KEY": "hunter2-b"}));
    assert_eq!(deliver(&runner, &create).await.0, 202);
    let f = rx.wait_final(&id(&create), 10).await.body;
    assert_eq!(f["status"], "succeeded", "{f}");
    assert_eq!(f["result"]["secrets"], json!({"path": "/etc/hangar/secrets.env", "count": 2, "names": ["API_KEY", "DB_URL"]}));
    assert!(rx.messages(&id(&create)).contains(&"simulate: wrote /etc/hangar/secrets.env (mode 0600): 2 secret(s): API_KEY, DB_URL".to_string()));
    assert_no_value(&rx, &id(&create));

    let mut deploy = with_secrets(job("deploy", machine(&machine_id, "sim"), &rx.url), json!({}));
    deploy["params"] = deploy_params("geth", "1.0", json!({}));
    assert_eq!(deliver(&runner, &deploy).await.0, 202);
    let f = rx.wait_final(&id(&deploy), 10).await.body;
    assert_eq!(f["result"], json!({"protocol": "geth", "version": "1.0", "status": "deployed"}), "no secrets: the result as before");
    assert!(rx.messages(&id(&deploy)).contains(&"simulate: wrote /etc/hangar/secrets.env (mode 0600): no secrets".to_string()));

    // A bad name is refused at the door (it would be a line of a file shells source).
    let bad = with_secrets(job("create", machine(&new_id(), "bad"), &rx.url), json!({"A=B; rm -rf /": "x"}));
    let (status, body) = deliver(&runner, &bad).await;
    assert_eq!(status, 400, "{body}");
    assert!(runner.stop().await);
}
