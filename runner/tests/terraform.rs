//! Terraform mode with a stand-in `terraform` (and `ssh`) written by the tests. The real
//! Terraform (with its `pg` backend on the stack's Postgres) runs in the e2e suite:
//! tests/e2e/runner/real-terraform.test.mjs.
mod common;

use common::*;
use hangar_runner::terraform::CONTRACT;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};


/// The runner's own public key, which every machine gets (`runner_ssh_public_key`).
const RUNNER_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICXVaRhGv3TRk5safvYVwCoG1++iGTl/TukFbUNPNyRD runner@hangar";

/// Speaks enough of Terraform's CLI: checks its arguments and files, prints `-json` lines.
/// Records `<cwd> <args>` in calls.log and a copy of terraform.tfvars.json per apply/destroy.
const STAND_IN: &str = r#"#!/bin/sh
rec="__REC__"
echo "$(pwd) $*" >> "$rec/calls.log"
# The state's place comes in the environment, never on the command line.
[ "$PG_CONN_STR" = "postgres://stand-in@127.0.0.1:1/state" ] || { echo "stand-in: PG_CONN_STR=$PG_CONN_STR" >&2; exit 2; }
[ "$PG_SCHEMA_NAME" = "terraform_state" ] || { echo "stand-in: PG_SCHEMA_NAME=$PG_SCHEMA_NAME" >&2; exit 2; }
# init and workspace select without a workspace; every other command in the machine's.
case "$1" in
  init|workspace) [ -z "$TF_WORKSPACE" ] || { echo "stand-in: TF_WORKSPACE=$TF_WORKSPACE for $1" >&2; exit 2; } ;;
  *) [ "$TF_WORKSPACE" = "$(basename "$(pwd)")" ] || { echo "stand-in: TF_WORKSPACE=$TF_WORKSPACE" >&2; exit 2; } ;;
esac
ts=2026-11-22T10:00:00.123456Z
line() { printf '{"@level":"%s","@message":"%s","@module":"terraform.ui","@timestamp":"%s","type":"%s"}\n' "$1" "$2" "$ts" "$3"; }
bad() { echo "stand-in: unexpected $*" >&2; exit 2; }
record() {
  [ -f terraform.tfvars.json ] || bad "missing terraform.tfvars.json"
  [ -f main.tf.json ] || bad "missing main.tf.json"
  n=$(($(cat "$rec/n" 2>/dev/null || echo 0) + 1)); echo "$n" > "$rec/n"
  cp terraform.tfvars.json "$rec/tfvars-$(printf %03d "$n")-$1.json"
}
case "$1" in
  init)
    [ "$*" = "init -input=false -no-color" ] || bad "$*"
    echo "Initializing the backend..."
    echo ""
    echo "Terraform has been successfully initialized!"
    ;;
  workspace)
    [ "$*" = "workspace select -or-create=true -no-color $(basename "$(pwd)")" ] || bad "$*"
    echo "Switched to workspace \"$(basename "$(pwd)")\"."
    ;;
  apply)
    [ "$*" = "apply -auto-approve -input=false -json -lock-timeout=300s" ] || bad "$*"
    record apply
    line info "Terraform 1.11.4" version
    if grep -q '"name": "fail-me"' terraform.tfvars.json; then
      line info "aws_instance.this: Creating..." apply_start
      printf '{"@level":"error","@message":"Error: creating EC2 Instance: UnauthorizedOperation","@module":"terraform.ui","@timestamp":"%s","diagnostic":{"severity":"error","summary":"creating EC2 Instance: UnauthorizedOperation","detail":""},"type":"diagnostic"}\n' "$ts"
      exit 1
    fi
    if grep -q '"name": "leaky"' terraform.tfvars.json; then
      line info "reading $(pwd)/module/aws/main.tf" apply_start
      echo "plain line about projects/acme-prod-42/zones/us-central1-a/instances/web"
      printf '{"@level":"error","@message":"Error: creating EC2 Instance: UnauthorizedOperation: arn:aws:iam::123456789012:user/ci in %s","@module":"terraform.ui","@timestamp":"%s","diagnostic":{"severity":"error","summary":"x","detail":""},"type":"diagnostic"}\n' "$(pwd)" "$ts"
      echo "Error: scope /subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourceGroups/x" >&2
      exit 1
    fi
    if grep -q '"name": "chatty"' terraform.tfvars.json; then
      i=1; while [ $i -le 45 ]; do line info "progress $i" apply_progress; i=$((i + 1)); done
    fi
    line info "aws_instance.this: Creating..." apply_start
    echo "a provider said something that is not JSON"
    line warn "Warning: Argument is deprecated" diagnostic
    line info "aws_instance.this: Creation complete after 1s [id=i-0abc]" apply_complete
    line info "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." change_summary
    echo '{"version":4}' > terraform.tfstate
    ;;
  destroy)
    [ "$*" = "destroy -auto-approve -input=false -json -lock-timeout=300s" ] || bad "$*"
    record destroy
    line info "aws_instance.this: Destroying... [id=i-0abc]" apply_start
    line info "Destroy complete! Resources: 1 destroyed." change_summary
    ;;
  output)
    [ "$*" = "output -json" ] || bad "$*"
    printf '{"ip_address":{"value":"203.0.113.7","sensitive":false,"type":"string"},"instance_id":{"value":"i-0abc","sensitive":false,"type":"string"}}\n'
    ;;
  *) bad "$*" ;;
esac
"#;

/// What the stand-in expects as the state's connection string.
const STATE_URL: &str = "postgres://stand-in@127.0.0.1:1/state";

/// Plays the remote end of ssh (common::ssh_stand_in): records its arguments (and
/// deploy's stdin), runs other commands locally.
const SSH_REMOTE: &str = r#"case "$*" in
  *hangar/protocols*) cat > "$rec/deploy-stdin"; echo "wrote /etc/hangar/protocols/x.json"; cat "$rec/deploy-stdin"; exit 0 ;;
esac
exec sh -c "$*"
"#;

struct Setup {
    dir: tempfile::TempDir,
    rec: PathBuf,
    work: PathBuf,
    modules: PathBuf,
    tf: PathBuf,
    ssh: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec");
    let work = dir.path().join("work");
    let modules = dir.path().join("modules");
    std::fs::create_dir_all(&rec).unwrap();
    std::fs::create_dir_all(modules.join("aws")).unwrap();
    std::fs::create_dir_all(modules.join("agent")).unwrap();
    std::fs::write(modules.join("aws/main.tf"), "# the aws module\n").unwrap();
    std::fs::write(modules.join("agent/cloud-init.yaml.tftpl"), "#cloud-config\n").unwrap();
    let tf = dir.path().join("terraform");
    script(&tf, &STAND_IN.replace("__REC__", rec.to_str().unwrap()));
    let ssh = dir.path().join("ssh");
    ssh_stand_in(&ssh, &rec, r#"printf '%s\n' "$@" > "$rec/ssh-args""#, "", SSH_REMOTE);
    Setup { dir, rec, work, modules, tf, ssh }
}

async fn tf_runner(s: &Setup) -> hangar_runner::Runner {
    runner(&s.work, |c| {
        c.mode = hangar_runner::Mode::Terraform;
        c.terraform_bin = s.tf.clone();
        c.state_database_url = Some(STATE_URL.into());
        c.modules_dir = s.modules.clone();
        c.ssh_bin = s.ssh.clone();
        c.ssh_key = Some(s.dir.path().join("id_ed25519"));
        c.ssh_public_key = Some(RUNNER_KEY.into());
    })
    .await
}

fn calls(rec: &Path) -> Vec<String> {
    std::fs::read_to_string(rec.join("calls.log")).unwrap_or_default().lines().map(str::to_string).collect()
}

fn tfvars(rec: &Path) -> Vec<(String, Value)> {
    files_in(rec)
        .into_iter()
        .filter(|n| n.starts_with("tfvars-"))
        .map(|n| (n.clone(), serde_json::from_slice(&std::fs::read(rec.join(&n)).unwrap()).unwrap()))
        .collect()
}

fn id(j: &Value) -> String {
    j["jobId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn lifecycle_runs_terraform_with_the_contract_variables() {
    let s = setup();
    let rx = Receiver::start().await;
    let runner = tf_runner(&s).await;
    assert_eq!(health(&runner).await["mode"], "terraform");
    let machine_id = new_id();
    let mut m = machine(&machine_id, "web-1");
    m["sshAuthorizedKeys"] = json!(["ssh-ed25519 AAAAC3Nza chosen@hangar", "ssh-ed25519 AAAAC3Nza test@hangar"]);
    let mdir = s.work.join("machines").join(&machine_id);
    let mdir_abs = std::fs::canonicalize(&s.work).unwrap().join("machines").join(&machine_id);

    // create
    let create = job("create", m.clone(), &rx.url);
    assert_eq!(deliver(&runner, &create).await.0, 202);
    let f = rx.wait_final(&id(&create), 20).await.body;
    assert_report_shape(&f);
    assert_eq!(f["status"], "succeeded", "{f}");
    assert_eq!(f["outputs"], json!({"ipAddress": "203.0.113.7", "providerInstanceId": "i-0abc"}));
    let logs = rx.logs(&id(&create));
    for l in &logs {
        assert!(l.as_object().unwrap().len() == 3);
    }
    let creating = logs.iter().find(|l| l["message"] == "aws_instance.this: Creating...").expect("terraform's lines arrive as logs");
    assert_eq!(creating["ts"], "2026-11-22T10:00:00.123Z", "Terraform's timestamp, in UTC");
    assert!(logs.iter().any(|l| l["message"] == "a provider said something that is not JSON" && l["level"] == "info"));
    assert!(logs.iter().any(|l| l["message"] == "Warning: Argument is deprecated" && l["level"] == "warn"));
    assert!(logs.iter().any(|l| l["message"] == "Terraform has been successfully initialized!"));

    let c = calls(&s.rec);
    let dir = mdir_abs.display().to_string();
    assert_eq!(
        c,
        vec![
            format!("{dir} init -input=false -no-color"),
            format!("{dir} workspace select -or-create=true -no-color {machine_id}"),
            format!("{dir} apply -auto-approve -input=false -json -lock-timeout=300s"),
            format!("{dir} output -json"),
        ]
    );
    // The module directory was copied whole (a module may use its siblings' files).
    assert!(mdir.join("module/aws/main.tf").exists());
    assert!(mdir.join("module/agent/cloud-init.yaml.tftpl").exists());
    let root: Value = serde_json::from_slice(&std::fs::read(mdir.join("main.tf.json")).unwrap()).unwrap();
    assert_eq!(root["module"]["machine"]["source"], "./module/aws");
    assert_eq!(root["terraform"]["backend"], json!({"pg": {}}), "the state lives in Postgres");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(mdir.join("terraform.tfvars.json")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the tfvars hold the agent token");

    let vars = tfvars(&s.rec);
    assert_eq!(vars.len(), 1);
    let v = &vars[0].1;
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, CONTRACT.iter().copied().collect::<BTreeSet<_>>(), "exactly the contract variables");
    assert_eq!(
        v,
        &json!({
            "machine_id": machine_id, "name": "web-1", "cpu": 0.5, "memory_mb": 1024, "disk_gb": 10,
            "region": "us-east-1", "image": "ubuntu-22.04",
            "ssh_authorized_keys": ["ssh-ed25519 AAAAC3Nza chosen@hangar", "ssh-ed25519 AAAAC3Nza test@hangar"],
            "runner_ssh_public_key": RUNNER_KEY,
            "agent_token": "agent-token-123", "functions_url": rx.functions_url(), "power_state": "running",
            "ports": []
        })
    );

    // stop: power_state stopped, no outputs; no agent token (only create has one, and the
    // modules ignore changes of what cloud-init got).
    let stop = job("stop", m.clone(), &rx.url);
    assert!(stop.get("agentToken").is_none());
    assert_eq!(deliver(&runner, &stop).await.0, 202);
    let f = rx.wait_final(&id(&stop), 20).await.body;
    assert_eq!(f["status"], "succeeded", "{f}");
    assert!(f.get("outputs").is_none());
    let vars = tfvars(&s.rec);
    assert_eq!(vars[1].1["power_state"], "stopped");
    assert_eq!(vars[1].1["agent_token"], "");

    // restart: stopped, then running, then the outputs.
    let restart = job("restart", m.clone(), &rx.url);
    assert_eq!(deliver(&runner, &restart).await.0, 202);
    let f = rx.wait_final(&id(&restart), 20).await.body;
    assert_eq!(f["status"], "succeeded", "{f}");
    assert_eq!(f["outputs"]["ipAddress"], "203.0.113.7");
    let vars = tfvars(&s.rec);
    let states: Vec<&str> = vars[2..].iter().map(|(_, v)| v["power_state"].as_str().unwrap()).collect();
    assert_eq!(states, ["stopped", "running"]);

    // The directory is a cache: gone, the next job rebuilds it (the state is in Postgres).
    std::fs::remove_dir_all(&mdir).unwrap();

    // terminate: destroy, then the cache goes.
    let terminate = job("terminate", m.clone(), &rx.url);
    assert_eq!(deliver(&runner, &terminate).await.0, 202);
    let f = rx.wait_final(&id(&terminate), 20).await.body;
    assert_eq!(f["status"], "succeeded", "{f}");
    let c = calls(&s.rec);
    assert_eq!(
        c[c.len() - 3..],
        [
            format!("{dir} init -input=false -no-color"),
            format!("{dir} workspace select -or-create=true -no-color {machine_id}"),
            format!("{dir} destroy -auto-approve -input=false -json -lock-timeout=300s")
        ]
    );
    assert!(rx.messages(&id(&terminate)).contains(&"Destroy complete! Resources: 1 destroyed.".to_string()));
    assert!(!mdir.exists());
    runner.stop().await;
}

#[tokio::test]
async fn a_failing_apply_fails_the_job_with_terraforms_error() {
    let s = setup();
    let rx = Receiver::start().await;
    let runner = tf_runner(&s).await;
    let create = job("create", machine(&new_id(), "fail-me"), &rx.url);
    assert_eq!(deliver(&runner, &create).await.0, 202);
    let f = rx.wait_final(&id(&create), 20).await.body;
    assert_report_shape(&f);
    assert_eq!(f["status"], "failed");
    assert_eq!(f["error"], "terraform apply failed (exit 1): Error: creating EC2 Instance: UnauthorizedOperation");
    assert!(f.get("outputs").is_none());
    let logs = rx.logs(&id(&create));
    assert!(logs.iter().any(|l| l["level"] == "error" && l["message"] == "Error: creating EC2 Instance: UnauthorizedOperation"));
    assert!(!calls(&s.rec).iter().any(|c| c.ends_with("output -json")), "no outputs after a failed apply");
    runner.stop().await;
}

#[tokio::test]
async fn a_missing_module_fails_clearly_and_any_runner_can_take_any_job() {
    let s = setup();
    let rx = Receiver::start().await;
    let runner = tf_runner(&s).await;
    let mut m = machine(&new_id(), "nowhere");
    m["provider"] = json!("gcp");
    let create = job("create", m.clone(), &rx.url);
    // Jobs of machines this runner never saw: their cache is built, their state is the
    // Postgres workspace (a machine never provisioned: an empty one, nothing to destroy).
    let start = job("start", machine(&new_id(), "created-elsewhere"), &rx.url);
    let never = job("terminate", machine(&new_id(), "never-provisioned"), &rx.url);
    for j in [&create, &start, &never] {
        assert_eq!(deliver(&runner, j).await.0, 202);
    }
    let f = rx.wait_final(&id(&create), 20).await.body;
    assert_eq!(f["status"], "failed");
    assert!(f["error"].as_str().unwrap().starts_with("no Terraform module for provider gcp at "), "{f}");
    let f = rx.wait_final(&id(&start), 20).await.body;
    assert_eq!(f["status"], "succeeded", "{f}");
    assert_eq!(f["outputs"]["ipAddress"], "203.0.113.7");
    assert_eq!(rx.wait_final(&id(&never), 20).await.body["status"], "succeeded");
    let c = calls(&s.rec);
    assert!(!c.iter().any(|l| l.contains(m["id"].as_str().unwrap())), "terraform never ran without its module");
    runner.stop().await;
}

#[tokio::test]
async fn log_lines_are_sent_in_batches_in_order() {
    let s = setup();
    let rx = Receiver::start().await;
    let runner = tf_runner(&s).await;
    let create = job("create", machine(&new_id(), "chatty"), &rx.url);
    assert_eq!(deliver(&runner, &create).await.0, 202);
    rx.wait_final(&id(&create), 20).await;
    let calls = rx.calls(&id(&create));
    let batches: Vec<usize> =
        calls.iter().filter(|c| c.body["status"] == "running").filter_map(|c| c.body["logs"].as_array().map(Vec::len)).collect();
    assert!(batches.iter().all(|n| *n <= 20), "{batches:?}");
    assert!(batches.iter().filter(|n| **n == 20).count() >= 2, "{batches:?}");
    let progress: Vec<String> = rx.messages(&id(&create)).into_iter().filter(|m| m.starts_with("progress ")).collect();
    let expected: Vec<String> = (1..=45).map(|i| format!("progress {i}")).collect();
    assert_eq!(progress, expected);
    runner.stop().await;
}

#[tokio::test]
async fn deploy_and_command_run_over_ssh() {
    let s = setup();
    let rx = Receiver::start().await;
    let runner = tf_runner(&s).await;
    let mut m = machine(&new_id(), "remote");
    m["ipAddress"] = json!("198.51.100.10");

    let mut deploy = job("deploy", m.clone(), &rx.url);
    deploy["params"] = deploy_params("ethereum", "1.14.0", json!({"network": "holesky"}));
    assert_eq!(deliver(&runner, &deploy).await.0, 202);
    let f = rx.wait_final(&id(&deploy), 20).await.body;
    assert_eq!(f["status"], "succeeded", "{f}");
    assert_eq!(f["result"], json!({"protocol": "ethereum", "version": "1.14.0", "status": "deployed"}));
    let args: Vec<String> = std::fs::read_to_string(s.rec.join("ssh-args")).unwrap().lines().map(str::to_string).collect();
    let key = s.dir.path().join("id_ed25519").display().to_string();
    assert_eq!(args[..6], ["-i", key.as_str(), "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes"]);
    let dash = args.iter().position(|a| a == "--").unwrap();
    assert_eq!(args[dash - 1], "hangar@198.51.100.10");
    assert!(args[dash + 1].contains("/etc/hangar/protocols") && args[dash + 1].contains("name=ethereum"));
    let written: Value = serde_json::from_slice(&std::fs::read(s.rec.join("deploy-stdin")).unwrap()).unwrap();
    assert_eq!(
        (&written["name"], &written["version"], &written["settings"]),
        (&json!("ethereum"), &json!("1.14.0"), &json!({"network": "holesky"}))
    );
    assert_eq!(written["deploymentId"], deploy["params"]["deploymentId"]);
    assert!(rx.messages(&id(&deploy)).iter().any(|l| l.contains("\"network\": \"holesky\"")), "the written config is printed");

    // Arguments are shell-quoted: they reach the remote command as given.
    let mut echo = job("command", m.clone(), &rx.url);
    echo["params"] = json!({"command": "printf", "args": ["%s|", "it's", "$(id)", "a b"], "timeoutSec": 30});
    let mut exit3 = job("command", m.clone(), &rx.url);
    exit3["params"] = json!({"command": "sh", "args": ["-c", "echo out; echo err >&2; exit 3"], "timeoutSec": 30});
    let mut slow = job("command", m.clone(), &rx.url);
    slow["params"] = json!({"command": "sleep", "args": ["20"], "timeoutSec": 1});
    let mut unreachable = m.clone();
    unreachable["ipAddress"] = json!("198.51.100.255");
    let mut refused = job("command", unreachable, &rx.url);
    refused["params"] = command_params("true", &[], 30);
    let mut no_ip = job("command", machine(&new_id(), "no-ip"), &rx.url);
    no_ip["params"] = command_params("true", &[], 30);
    for j in [&echo, &exit3, &slow, &refused, &no_ip] {
        assert_eq!(deliver(&runner, j).await.0, 202);
    }

    let f = rx.wait_final(&id(&echo), 20).await.body;
    assert_eq!(f["status"], "succeeded", "{f}");
    assert_eq!(f["result"], json!({"exitCode": 0, "stdout": "it's|$(id)|a b|", "stderr": ""}));
    let f = rx.wait_final(&id(&exit3), 20).await.body;
    assert_eq!(f["status"], "succeeded", "a non-zero exit is still a command that ran: {f}");
    assert_eq!(f["result"], json!({"exitCode": 3, "stdout": "out\n", "stderr": "err\n"}));
    let f = rx.wait_final(&id(&slow), 20).await.body;
    assert_eq!(f["status"], "failed");
    assert_eq!(f["error"], "command timed out after 1 s");
    assert_eq!(f["result"]["timedOut"], true);
    let f = rx.wait_final(&id(&refused), 20).await.body;
    assert_eq!(f["status"], "failed");
    assert!(f["error"].as_str().unwrap().contains("exit 255") && f["error"].as_str().unwrap().contains("Connection refused"), "{f}");
    let f = rx.wait_final(&id(&no_ip), 20).await.body;
    assert_eq!(f["status"], "failed");
    assert!(f["error"].as_str().unwrap().contains("no usable ipAddress"), "{f}");
    runner.stop().await;
}

#[tokio::test]
async fn images_outside_the_allowlist_and_bad_ports_fail_before_terraform_runs() {
    let s = setup();
    let rx = Receiver::start().await;
    let runner = tf_runner(&s).await;
    let mut m = machine(&new_id(), "odd-image");
    m["image"] = json!("windows-2022");
    let odd = job("create", m, &rx.url);
    let mut m = machine(&new_id(), "bad-ports");
    m["configuration"] = json!({"ports": [22, 0]});
    let bad_ports = job("create", m, &rx.url);
    let mut m = machine(&new_id(), "too-many-ports");
    m["configuration"] = json!({"ports": (1..=21).collect::<Vec<u32>>()});
    let too_many = job("create", m, &rx.url);
    for j in [&odd, &bad_ports, &too_many] {
        assert_eq!(deliver(&runner, j).await.0, 202);
    }
    let f = rx.wait_final(&id(&odd), 20).await.body;
    assert_eq!(f["status"], "failed");
    assert_eq!(
        f["error"],
        r#"image "windows-2022" is not allowed for provider "aws" on this runner (allowed: ubuntu-22.04, ubuntu-24.04, debian-12)"#
    );
    for j in [&bad_ports, &too_many] {
        let f = rx.wait_final(&id(j), 20).await.body;
        assert_eq!(f["status"], "failed");
        assert!(f["error"].as_str().unwrap().starts_with("configuration.ports must be an array of at most 20 port numbers"), "{f}");
    }
    assert!(calls(&s.rec).is_empty(), "terraform never ran");
    assert!(files_in(&s.work.join("machines")).is_empty(), "nothing was prepared");
    runner.stop().await;
}

#[tokio::test]
async fn declared_ports_reach_terraform() {
    let s = setup();
    let rx = Receiver::start().await;
    let runner = tf_runner(&s).await;
    let mut m = machine(&new_id(), "web-ports");
    m["configuration"] = json!({"ports": [80, 443, 8545]});
    let create = job("create", m.clone(), &rx.url);
    assert_eq!(deliver(&runner, &create).await.0, 202);
    assert_eq!(rx.wait_final(&id(&create), 20).await.body["status"], "succeeded");
    // A configuration broken since: a terminate still destroys (without the openings).
    m["configuration"] = json!({"ports": "all"});
    let terminate = job("terminate", m, &rx.url);
    assert_eq!(deliver(&runner, &terminate).await.0, 202);
    let f = rx.wait_final(&id(&terminate), 20).await.body;
    assert_eq!(f["status"], "succeeded", "{f}");
    let vars = tfvars(&s.rec);
    assert_eq!(vars.len(), 2);
    assert_eq!(vars[0].1["ports"], json!([80, 443, 8545]));
    assert_eq!(vars[1].1["ports"], json!([]));
    assert!(vars[1].0.ends_with("-destroy.json"));
    runner.stop().await;
}

#[tokio::test]
async fn paths_and_account_ids_never_reach_the_reports() {
    let s = setup();
    let rx = Receiver::start().await;
    let runner = tf_runner(&s).await;
    let create = job("create", machine(&new_id(), "leaky"), &rx.url);
    assert_eq!(deliver(&runner, &create).await.0, 202);
    let f = rx.wait_final(&id(&create), 20).await.body;
    assert_eq!(f["status"], "failed");
    let error = f["error"].as_str().unwrap();
    assert!(error.contains("arn:aws:iam::<account>:user/ci in <workdir>/machines/"), "{error}");
    let messages = rx.messages(&id(&create));
    assert!(messages.iter().any(|m| m.starts_with("reading <workdir>/machines/") && m.ends_with("/module/aws/main.tf")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("projects/<account>/zones/")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("/subscriptions/<account>/resourceGroups/x")), "{messages:?}");
    let work = s.work.display().to_string();
    let real = std::fs::canonicalize(&s.work).unwrap().display().to_string();
    for call in rx.calls(&id(&create)) {
        let text = call.body.to_string();
        for secret in [work.as_str(), real.as_str(), "123456789012", "acme-prod-42", "0b1f6471-1bf0-4dda-aec3-cb9272f09590"] {
            assert!(!text.contains(secret), "{secret} reached a report: {text}");
        }
    }
    runner.stop().await;
}
