//! Simulate mode ([`Simulate`]'s [`Actions`]): no cloud, every step sleeps
//! RUNNER_SIM_DELAY_MS. It reads the same typed params as terraform mode, so the e2e suite
//! exercises the real contract.
use crate::engine::{Actions, Simulate};
use crate::job::{Job, Outcome, Outputs};
use crate::report::LogSink;
use protocol::payload::{CommandParams, DeployParams};
use serde_json::{json, Value};

/// 192.0.2.<1..254> (TEST-NET-1), stable for a machine id (FNV-1a).
pub fn sim_ip(machine_id: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in machine_id.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("192.0.2.{}", h % 254 + 1)
}

/// Whether `machine.configuration.simulateFailure` asks this action to fail: `true`, the
/// action's name, or an array holding it. Only the machine's configuration is read: params
/// are the action's own contract and carry no flags.
pub fn failure_requested(job: &Job) -> bool {
    let action = job.action.as_str();
    match job.machine.configuration.get("simulateFailure") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == action,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(action)),
        _ => false,
    }
}

/// The keys a machine gets (`machine.sshAuthorizedKeys`, API.md §7), as the simulation
/// records installing them: their fingerprints in the log and in the result
/// `{ sshAuthorizedKeys: [fingerprints] }` (the runner's own key is not simulated).
fn authorize(job: &Job, log: &LogSink) -> Value {
    let fingerprints: Vec<String> = job.machine.ssh_authorized_keys.iter().filter_map(|k| crate::ssh::fingerprint(k)).collect();
    let listed = if fingerprints.is_empty() { String::new() } else { format!(": {}", fingerprints.join(", ")) };
    log.info(format!("simulate: authorized_keys of hangar on {}: {} key(s){listed}", job.machine.name, fingerprints.len()));
    json!({ "sshAuthorizedKeys": fingerprints })
}

impl Simulate {
    async fn step(&self) {
        tokio::time::sleep(self.delay).await;
    }

    /// `Some(failed)` when the machine's configuration asks this action to fail.
    async fn failing(&self, job: &Job, log: &LogSink) -> Option<Outcome> {
        if !failure_requested(job) {
            return None;
        }
        log.info(format!("simulate: {} {}", job.action.as_str(), job.machine.name));
        self.step().await;
        log.error("simulate: failing as requested by simulateFailure");
        Some(Outcome::failed(format!("simulated failure of {} (simulateFailure is set)", job.action.as_str())))
    }

    /// start, stop, terminate: one step between two lines.
    async fn power(&self, job: &Job, log: &LogSink, doing: &str, done: &str) -> Outcome {
        if let Some(failed) = self.failing(job, log).await {
            return failed;
        }
        let name = &job.machine.name;
        log.info(format!("simulate: {doing} {name}"));
        self.step().await;
        log.info(format!("simulate: {name} is {done}"));
        Outcome::succeeded()
    }
}

impl Actions for Simulate {
    async fn create(&self, job: &Job, log: &LogSink) -> Outcome {
        if let Some(failed) = self.failing(job, log).await {
            return failed;
        }
        let m = &job.machine;
        let (name, tier, region) = (&m.name, &m.tier, &m.region);
        log.info(format!("simulate: provisioning {name} ({tier}) in {region}"));
        self.step().await;
        let id = format!("sim-{}", uuid::Uuid::new_v4());
        log.info(format!("simulate: instance {id} created"));
        self.step().await;
        let ip = sim_ip(&m.id);
        log.info(format!("simulate: address {ip} assigned"));
        self.step().await;
        log.info(format!("simulate: {name} is running"));
        let keys = authorize(job, log);
        let created = Outcome::succeeded().with_outputs(Outputs { ip_address: Some(ip), provider_instance_id: Some(id) }).with_result(keys);
        crate::secrets::simulated(job, log, created)
    }

    async fn start(&self, job: &Job, log: &LogSink) -> Outcome {
        let started = self.power(job, log, "starting", "running").await;
        // Keys chosen while the machine was stopped take effect now.
        if started.ok { started.with_result(authorize(job, log)) } else { started }
    }

    async fn stop(&self, job: &Job, log: &LogSink) -> Outcome {
        self.power(job, log, "stopping", "stopped").await
    }

    async fn terminate(&self, job: &Job, log: &LogSink) -> Outcome {
        self.power(job, log, "terminating", "terminated").await
    }

    async fn restart(&self, job: &Job, log: &LogSink) -> Outcome {
        if let Some(failed) = self.failing(job, log).await {
            return failed;
        }
        let name = &job.machine.name;
        log.info(format!("simulate: stopping {name}"));
        self.step().await;
        log.info(format!("simulate: starting {name}"));
        self.step().await;
        log.info(format!("simulate: {name} is running"));
        Outcome::succeeded()
    }

    async fn authorize_keys(&self, job: &Job, log: &LogSink) -> Outcome {
        if let Some(failed) = self.failing(job, log).await {
            return failed;
        }
        log.info(format!("simulate: authorizing SSH keys on {}", job.machine.name));
        self.step().await;
        Outcome::succeeded().with_result(authorize(job, log))
    }

    async fn deploy(&self, job: &Job, p: &DeployParams, log: &LogSink) -> Outcome {
        if let Some(failed) = self.failing(job, log).await {
            return failed;
        }
        let (protocol, version) = (&p.name, &p.version);
        log.info(format!("simulate: deploying {protocol} {version} to {}", job.machine.name));
        self.step().await;
        log.info(format!("simulate: wrote /etc/hangar/protocols/{protocol}.json"));
        let deployed = Outcome::succeeded().with_result(json!({"protocol": protocol, "version": version, "status": "deployed"}));
        crate::secrets::simulated(job, log, deployed)
    }

    async fn command(&self, job: &Job, p: &CommandParams, log: &LogSink) -> Outcome {
        if let Some(failed) = self.failing(job, log).await {
            return failed;
        }
        let line = std::iter::once(p.command.as_str()).chain(p.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ");
        log.info(format!("simulate: running `{line}` on {}", job.machine.name));
        self.step().await;
        Outcome::succeeded().with_result(json!({"exitCode": 0, "stdout": format!("simulated: {line}"), "stderr": ""}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulate_failure_is_read_from_the_configuration_only() {
        let raw = serde_json::json!({"jobId": "j", "action": "stop", "attempt": 1, "params": {}, "callbackUrl": "http://x/",
            "machine": {"id": "m", "name": "n", "tier": "dev.small", "cpu": 1, "memoryMb": 1, "diskGb": 1, "provider": "aws",
              "region": "r", "image": "i", "configuration": {}}});
        let mut job: Job = serde_json::from_value(raw).unwrap();
        assert!(!failure_requested(&job));
        for (flag, fails) in [(json!(true), true), (json!("stop"), true), (json!(["start", "stop"]), true), (json!("start"), false), (json!(1), false)] {
            job.machine.configuration.insert("simulateFailure".into(), flag.clone());
            assert_eq!(failure_requested(&job), fails, "{flag}");
        }
    }

    #[test]
    fn ips_are_stable_and_in_range() {
        for id in ["", "a", "6e603a27-0dc1-484d-a15e-5a13e402ded0", "zzzz"] {
            let ip = sim_ip(id);
            assert_eq!(ip, sim_ip(id));
            let last: u32 = ip.strip_prefix("192.0.2.").unwrap().parse().unwrap();
            assert!((1..=254).contains(&last), "{ip}");
        }
    }
}
