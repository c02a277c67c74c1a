//! Simulate mode: no cloud, every step sleeps RUNNER_SIM_DELAY_MS.
use crate::job::{Action, Job, Outcome, Outputs};
use crate::report::LogSink;
use serde_json::{json, Value};
use std::time::Duration;

/// 192.0.2.<1..254> (TEST-NET-1), stable for a machine id (FNV-1a).
pub fn sim_ip(machine_id: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in machine_id.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("192.0.2.{}", h % 254 + 1)
}

/// Whether `simulateFailure` (params first, then the machine's configuration) asks this
/// action to fail: `true`, the action's name, or an array holding it.
pub fn failure_requested(job: &Job) -> bool {
    let action = job.action.as_str();
    match job.flag("simulateFailure") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == action,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(action)),
        _ => false,
    }
}

/// `params.protocolConfig.<key>` or `params.<key>` as a string.
pub fn param<'a>(job: &'a Job, key: &str) -> Option<&'a str> {
    job.params.get("protocolConfig").and_then(|p| p.get(key)).or_else(|| job.params.get(key)).and_then(Value::as_str)
}

pub fn command_words(job: &Job) -> Result<(String, Vec<String>), String> {
    let command = job.params.get("command").and_then(Value::as_str).filter(|c| !c.is_empty());
    let command = command.ok_or("command: params.command is required")?;
    let args = match job.params.get("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => {
            a.iter().map(|v| v.as_str().map(str::to_string).ok_or("command: params.args must hold strings")).collect::<Result<_, _>>()?
        }
        Some(_) => return Err("command: params.args must be an array of strings".into()),
    };
    Ok((command.to_string(), args))
}

pub async fn run(job: &Job, log: &LogSink, delay: Duration) -> Outcome {
    let m = &job.machine;
    let step = || tokio::time::sleep(delay);
    let name = m.name();
    if failure_requested(job) {
        log.info(format!("simulate: {} {name}", job.action.as_str()));
        step().await;
        log.error("simulate: failing as requested by simulateFailure");
        return Outcome::failed(format!("simulated failure of {} (simulateFailure is set)", job.action.as_str()));
    }
    match job.action {
        Action::Create => {
            let tier = m.tier.as_deref().unwrap_or("?");
            let region = m.region.as_deref().unwrap_or("?");
            log.info(format!("simulate: provisioning {name} ({tier}) in {region}"));
            step().await;
            let id = format!("sim-{}", uuid::Uuid::new_v4());
            log.info(format!("simulate: instance {id} created"));
            step().await;
            let ip = sim_ip(&m.id);
            log.info(format!("simulate: address {ip} assigned"));
            step().await;
            log.info(format!("simulate: {name} is running"));
            Outcome::succeeded().with_outputs(Outputs { ip_address: Some(ip), provider_instance_id: Some(id) })
        }
        Action::Start | Action::Stop | Action::Terminate => {
            let (doing, done) = match job.action {
                Action::Start => ("starting", "running"),
                Action::Stop => ("stopping", "stopped"),
                _ => ("terminating", "terminated"),
            };
            log.info(format!("simulate: {doing} {name}"));
            step().await;
            log.info(format!("simulate: {name} is {done}"));
            Outcome::succeeded()
        }
        Action::Restart => {
            log.info(format!("simulate: stopping {name}"));
            step().await;
            log.info(format!("simulate: starting {name}"));
            step().await;
            log.info(format!("simulate: {name} is running"));
            Outcome::succeeded()
        }
        Action::Deploy => {
            let (Some(protocol), Some(version)) = (param(job, "name"), param(job, "version")) else {
                return Outcome::failed("deploy: params.name and params.version are required");
            };
            if !crate::ssh::valid_label(protocol) || !crate::ssh::valid_label(version) {
                return Outcome::failed("deploy: name and version must be 1 to 64 characters of letters, digits and ._-");
            }
            log.info(format!("simulate: deploying {protocol} {version} to {name}"));
            step().await;
            log.info(format!("simulate: wrote /etc/hangar/protocols/{protocol}.json"));
            Outcome::succeeded().with_result(json!({"protocol": protocol, "version": version, "status": "deployed"}))
        }
        Action::Command => {
            let (command, args) = match command_words(job) {
                Ok(words) => words,
                Err(e) => return Outcome::failed(e),
            };
            let line = std::iter::once(command.as_str()).chain(args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ");
            log.info(format!("simulate: running `{line}` on {name}"));
            step().await;
            Outcome::succeeded().with_result(json!({"exitCode": 0, "stdout": format!("simulated: {line}"), "stderr": ""}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
