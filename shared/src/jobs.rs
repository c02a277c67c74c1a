//! `deploy-protocol` and `send-command`: jobs on a running machine.
use crate::db::{As, Db};
use crate::domain::Id;
use crate::error::ApiError;
use crate::request::{Call, Caller};
use crate::serve::Reply;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

/// 1–64 characters of `[A-Za-z0-9._-]`, not starting with `.` (protocol names and
/// versions: the runner puts them in paths). The rule is `protocol::payload::is_label`.
#[derive(Deserialize, Serialize)]
#[serde(try_from = "String")]
struct Label(String);

impl TryFrom<String> for Label {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        protocol::payload::is_label(&raw)
            .then_some(Label(raw))
            .ok_or_else(|| "must be 1 to 64 characters of letters, digits and ._- (not starting with .)".into())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProtocolConfig {
    name: Label,
    version: Label,
    #[serde(default)]
    settings: Option<crate::domain::Configuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeployBody {
    machine_id: Id,
    protocol_config: ProtocolConfig,
}

/// A command line word: 1–1024 bytes, no NUL or newline (`protocol::payload::is_word`).
#[derive(Deserialize, Serialize)]
#[serde(try_from = "String")]
struct Word(String);

impl TryFrom<String> for Word {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        protocol::payload::is_word(&raw)
            .then_some(Word(raw)).ok_or_else(|| "must be 1 to 1024 characters without NUL or newlines".into())
    }
}

/// `timeoutSec`: 1..3600.
#[derive(Deserialize, Serialize, Clone, Copy)]
#[serde(try_from = "i64")]
struct TimeoutSec(i64);

impl TryFrom<i64> for TimeoutSec {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        (1..=3600).contains(&n).then_some(TimeoutSec(n)).ok_or_else(|| "must be from 1 to 3600".into())
    }
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Queued {
    job: Value,
    deployment_id: Option<Uuid>,
    delivery: Option<crate::dispatch::Delivery>,
}

async fn queue(call: &Call, caller: &Caller, machine_id: Uuid, action: &str, params: Value) -> Result<Queued, ApiError> {
    let args = json!({ "p_machine_id": machine_id, "p_action": action, "p_params": params });
    let mut queued: Queued = Db::new(&call.config).call("hangar_machine_job", &args, As::User(caller)).await?;
    call.deliver_later(queued.delivery.take());
    Ok(queued)
}

pub async fn deploy(mut call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let body: DeployBody = call.json().await?;
    let p = body.protocol_config;
    let params = json!({ "name": p.name, "version": p.version, "settings": p.settings.as_ref().map(|s| s.value()).unwrap_or(&json!({})) });
    let q = queue(&call, &caller, body.machine_id.uuid(), "deploy", params).await?;
    Ok(Reply::accepted(json!({ "deploymentId": q.deployment_id, "job": q.job })).message("Deployment queued"))
}

pub async fn command(mut call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let body: CommandBody = call.json().await?;
    if body.args.len() > 64 {
        return Err(ApiError::validation("args", "`args` may hold at most 64 words"));
    }
    let params = json!({
        "command": body.command,
        "args": body.args,
        "timeoutSec": body.timeout_sec.map(|t| t.0).unwrap_or(300),
    });
    let q = queue(&call, &caller, body.machine_id.uuid(), "command", params).await?;
    Ok(Reply::accepted(json!({ "job": q.job })).message("Command queued"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::parse_json;
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
        let bad = format!(r#"{{"machineId":"{id}","command":"ls","args":["a\nb"]}}"#);
        assert_eq!(field(parse_json::<CommandBody>(bad.as_bytes()).err().unwrap()), "args[0]");
    }
}
