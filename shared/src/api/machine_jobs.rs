//! `deploy-protocol` and `send-command`: jobs on a running machine (the params sent are
//! exactly what SQL checks again and the runner reads, API.md §5); `cancel-job` stops one.
use crate::auth::Caller;
use crate::db::{self, Db, Who};
use crate::domain::{Action, Configuration, Id, Label, ProtocolName, TimeoutSec, Word};
use crate::error::ApiError;
use crate::http::{Call, Reply};
use crate::runner::hand_over;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProtocolConfig {
    name: ProtocolName,
    version: Label,
    #[serde(default)]
    settings: Option<Configuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeployBody {
    machine_id: Id,
    protocol_config: ProtocolConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CommandBody {
    machine_id: Id,
    command: Word,
    #[serde(default)]
    args: Vec<Word>,
    #[serde(default)]
    timeout_sec: Option<TimeoutSec>,
}

async fn queue(call: &Call, caller: &Caller, machine_id: Uuid, action: Action, params: Value) -> Result<db::Queued, ApiError> {
    let args = db::MachineJob { machine_id, action, params };
    let mut queued = Db::new(&call.config).rpc(&args, Who::User(&caller.token)).await?;
    hand_over(call, queued.delivery.take());
    Ok(queued)
}

/// `deploy-protocol`.
pub async fn deploy(mut call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let body: DeployBody = call.json().await?;
    let p = body.protocol_config;
    let params = json!({ "name": p.name, "version": p.version, "settings": p.settings.as_ref().map(|s| s.value()).unwrap_or(&json!({})) });
    let q = queue(&call, &caller, body.machine_id.uuid(), Action::Deploy, params).await?;
    Ok(Reply::accepted(Queued { deployment_id: q.deployment_id, job: q.job }).message("Deployment queued"))
}

/// `send-command`.
pub async fn command(mut call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let body: CommandBody = call.json().await?;
    if body.args.len() > 64 {
        return Err(ApiError::validation("args", "`args` may hold at most 64 words"));
    }
    let params = json!({
        "command": body.command,
        "args": body.args,
        "timeoutSec": body.timeout_sec.unwrap_or(TimeoutSec::DEFAULT).seconds(),
    });
    let q = queue(&call, &caller, body.machine_id.uuid(), Action::Command, params).await?;
    Ok(Reply::accepted(Queued { deployment_id: None, job: q.job }).message("Command queued"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CancelBody {
    job_id: Id,
}

/// `cancel-job`: the job, failed at once (no runner held it yet) or marked for its runner
/// to interrupt (the answer to its next report says so).
pub async fn cancel(mut call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let body: CancelBody = call.json().await?;
    let job = Db::new(&call.config).rpc(&db::CancelJob { job_id: body.job_id.uuid() }, Who::User(&caller.token)).await?;
    Ok(Reply::ok(job).message("Cancellation requested"))
}

/// What deploy-protocol (`deploymentId` and `job`) and send-command (`job`) answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Queued {
    #[serde(skip_serializing_if = "Option::is_none")]
    deployment_id: Option<Uuid>,
    job: db::Raw,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_json;
    use crate::error::field_of as field;


    #[test]
    fn bodies() {
        let id = "6e603a27-0dc1-484d-a15e-5a13e402ded0";
        let ok = format!(r#"{{"machineId":"{id}","protocolConfig":{{"name":"eth","version":"1.2"}}}}"#);
        assert!(parse_json::<DeployBody>(ok.as_bytes()).is_ok());
        let bad = format!(r#"{{"machineId":"{id}","protocolConfig":{{"name":"","version":"1"}}}}"#);
        assert_eq!(field(parse_json::<DeployBody>(bad.as_bytes()).err().unwrap()), "protocolConfig.name");
        let bad = format!(r#"{{"machineId":"{id}","command":"ls","timeoutSec":0}}"#);
        assert_eq!(field(parse_json::<CommandBody>(bad.as_bytes()).err().unwrap()), "timeoutSec");
        assert!(parse_json::<CancelBody>(format!(r#"{{"jobId":"{id}"}}"#).as_bytes()).is_ok());
        assert_eq!(field(parse_json::<CancelBody>(br#"{"jobId":"x"}"#).err().unwrap()), "jobId");
        let bad = format!(r#"{{"machineId":"{id}","command":"ls","args":["a\nb"]}}"#);
        assert_eq!(field(parse_json::<CommandBody>(bad.as_bytes()).err().unwrap()), "args[0]");
    }
}
