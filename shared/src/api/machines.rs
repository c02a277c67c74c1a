//! The machine functions of API.md §3. Each request is parsed into domain types here and
//! answered by one SQL function (one PostgREST round trip) that checks ownership and the
//! transition table and writes the machine, its job and its event in one transaction.
use crate::auth::Caller;
use crate::db::{self, Db, Who};
use crate::domain::{
    parse_id, Action, Configuration, EventType, Id, Image, Level, MachineName, MachineStatus, PageCursor, Patch, Provider,
    Region, SshKey, SshKeyIds, Tier, Vcpus, WholeSize,
};
use crate::error::ApiError;
use crate::http::{parse_json, Call, Reply};
use crate::runner::hand_over;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateMachine {
    name: MachineName,
    #[serde(default)]
    tier: Option<Tier>,
    #[serde(default)]
    provider: Option<Provider>,
    #[serde(default)]
    region: Option<Region>,
    #[serde(default)]
    image: Option<Image>,
    #[serde(default)]
    project_id: Option<Uuid>,
    /// A team of the caller's (API.md §7): its members share the machine; the caller pays.
    #[serde(default)]
    team_id: Option<Uuid>,
    #[serde(default)]
    configuration: Option<Configuration>,
    #[serde(default)]
    /// One key line besides `sshKeyIds`, read as `ssh-keys` reads one (API.md §7).
    ssh_public_key: Option<SshKey>,
    /// The caller's SSH keys (`ssh-keys`) the machine gets, besides `sshPublicKey`.
    #[serde(default)]
    ssh_key_ids: Option<SshKeyIds>,
    /// Seed 000's sizes instead of `tier`: the smallest tier that has them (SQL picks it).
    #[serde(default)]
    cpu: Option<Vcpus>,
    /// MiB.
    #[serde(default)]
    memory: Option<WholeSize>,
    /// GB.
    #[serde(default)]
    disk: Option<WholeSize>,
}

/// The editable fields of a machine (`update-machine`, `PATCH instances/{id}`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct MachinePatch {
    #[serde(default)]
    name: Patch<MachineName>,
    #[serde(default)]
    project_id: Patch<Uuid>,
    #[serde(default)]
    tier: Patch<Tier>,
    /// A running machine gets them through an authorize_keys job; a stopped one at start.
    #[serde(default)]
    ssh_key_ids: Patch<SshKeyIds>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MachineRef {
    machine_id: Id,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LogEvent {
    machine_id: Id,
    event_type: EventType,
    /// Any JSON value (API.md §3: seeds send a plain string), stored as given.
    #[serde(default)]
    details: Option<Value>,
    #[serde(default)]
    level: Option<Level>,
}

fn db(call: &Call) -> Db<'_> {
    Db::new(&call.config)
}

/// `create-machine` (and `POST instances`).
pub async fn create(mut call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let body: CreateMachine = call.json().await?;
    let idempotency_key = idempotency_key(&call)?;
    let provider = body.provider.unwrap_or(call.config.default_provider);
    let image = body.image.as_ref().map(AsRef::as_ref).unwrap_or(Image::DEFAULT).to_string();
    if !call.config.allowed_images.allows(provider, &image) {
        let allowed = call.config.allowed_images.for_provider(provider).join(", ");
        return Err(ApiError::validation("image", format!("`image` must be one of the images allowed on {}: {allowed}", provider.as_str())));
    }
    let args = db::CreateMachine {
        name: body.name.as_ref().to_string(),
        // None: the database's default (dev.small), or the tier that fits the sizes.
        tier: body.tier.map(|t| t.as_str().to_string()),
        provider: provider.as_str().to_string(),
        // None: the provider's default region, which the database states (for /rpc too).
        region: body.region.as_ref().map(|r| r.as_ref().to_string()),
        image,
        project_id: body.project_id,
        team_id: body.team_id,
        configuration: body.configuration.as_ref().map(Configuration::value).cloned().unwrap_or(json!({})),
        ssh_public_key: body.ssh_public_key.as_ref().map(|k| k.as_ref().to_string()),
        ssh_key_ids: body.ssh_key_ids.as_ref().map(|k| k.ids().to_vec()),
        idempotency_key,
        cpu: body.cpu.map(Vcpus::get),
        memory_mb: body.memory.map(WholeSize::get),
        disk_gb: body.disk.map(WholeSize::get),
    };
    let t = db(&call).rpc(&args, Who::User(&caller.token)).await?;
    hand_over(&call, t.delivery);
    Ok(Reply::created(t.machine).message("Machine is provisioning"))
}

fn idempotency_key(call: &Call) -> Result<Option<String>, ApiError> {
    match call.header("idempotency-key") {
        None => Ok(None),
        Some(k) if (1..=255).contains(&k.len()) && k.chars().all(|c| c.is_ascii_graphic()) => Ok(Some(k)),
        Some(_) => Err(ApiError::validation("Idempotency-Key", "Idempotency-Key must be 1 to 255 visible ASCII characters")),
    }
}

/// `start-machine`.
pub async fn start(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    transition(call, caller, Action::Start).await
}

/// `stop-machine`.
pub async fn stop(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    transition(call, caller, Action::Stop).await
}

/// `restart-machine`.
pub async fn restart(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    transition(call, caller, Action::Restart).await
}

/// `delete-machine`.
pub async fn delete(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    transition(call, caller, Action::Delete).await
}

async fn transition(mut call: Call, caller: Caller, action: Action) -> Result<Reply, ApiError> {
    let body: MachineRef = call.json().await?;
    let args = db::MachineAction { machine_id: body.machine_id.uuid(), action };
    let t = db(&call).rpc(&args, Who::User(&caller.token)).await?;
    hand_over(&call, t.delivery);
    let status = status_of(&t.machine);
    let reply = if t.changed { Reply::accepted(t.machine) } else { Reply::ok(t.machine) };
    Ok(reply.message(format!("Machine is {status}")))
}

/// `update-machine`: `{ machineId, …the fields of a MachinePatch }`.
pub async fn update(mut call: Call, caller: Caller) -> Result<Reply, ApiError> {
    // serde's `flatten` does not work with `deny_unknown_fields`: take the id out, then
    // parse the rest as the patch (errors still name their field).
    let mut body: serde_json::Map<String, Value> = call.json().await?;
    let id = body.remove("machineId").unwrap_or(Value::Null);
    let id: MachineRef = parse_json(json!({ "machineId": id }).to_string().as_bytes())?;
    let patch: MachinePatch = parse_json(Value::Object(body).to_string().as_bytes())?;
    apply_patch(&call, &caller, id.machine_id.uuid(), patch).await
}

/// `PUT`/`PATCH instances/{id}`.
async fn update_by_path(mut call: Call, caller: Caller, id: Uuid) -> Result<Reply, ApiError> {
    let patch: MachinePatch = call.json().await?;
    apply_patch(&call, &caller, id, patch).await
}

async fn apply_patch(call: &Call, caller: &Caller, id: Uuid, patch: MachinePatch) -> Result<Reply, ApiError> {
    if patch.name == Patch::Null {
        return Err(ApiError::validation("name", "`name` cannot be null"));
    }
    if patch.tier == Patch::Null {
        return Err(ApiError::validation("tier", "`tier` cannot be null"));
    }
    if patch.ssh_key_ids == Patch::Null {
        return Err(ApiError::validation("sshKeyIds", "`sshKeyIds` cannot be null (`[]` removes every key)"));
    }
    let args = db::UpdateMachine {
        machine_id: id,
        name: patch.name.to_sql(),
        project_id: patch.project_id.to_sql(),
        tier: patch.tier.to_sql(),
        ssh_key_ids: patch.ssh_key_ids.to_sql(),
    };
    let updated = db(call).rpc(&args, Who::User(&caller.token)).await?;
    // A running machine whose keys changed has an authorize_keys job to hand over.
    hand_over(call, updated.delivery);
    Ok(Reply::ok(updated.machine))
}

/// `get-user-machines`: `{ machines, nextCursor }`.
pub async fn list(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let (machines, next_cursor) = page(call, caller).await?;
    Ok(Reply::ok(MachinePage { machines, next_cursor }))
}

/// `GET instances`: the machines are `data` itself, the cursor beside it (seed 000's shape).
async fn list_instances(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let (machines, next_cursor) = page(call, caller).await?;
    Ok(Reply::ok(machines).next_cursor(next_cursor))
}

/// One page of the caller's machines and the cursor of the next (get-user-machines' query).
async fn page(call: Call, caller: Caller) -> Result<(Vec<db::Raw>, Option<String>), ApiError> {
    let status = match call.query("status") {
        None => None,
        Some(s) => Some(MachineStatus::parse(&s).ok_or_else(|| {
            let all: Vec<&str> = MachineStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::validation("status", format!("`status` must be one of {}", all.join(", ")))
        })?),
    };
    let project_id = call.query("projectId").map(|p| parse_id("projectId", Some(&p))).transpose()?;
    let team_id = call.query("teamId").map(|t| parse_id("teamId", Some(&t))).transpose()?;
    let limit = query_int(&call, "limit", 1, 100, 50)?;
    let cursor = call.query("cursor").map(|c| PageCursor::parse("cursor", &c)).transpose()?;
    let include_terminated = match call.query("includeTerminated").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::validation("includeTerminated", "`includeTerminated` must be true or false")),
    };
    let args = db::ListMachines {
        status: status.map(|s| s.as_str().to_string()),
        project_id,
        team_id,
        limit,
        cursor_ts: cursor.as_ref().map(|c| c.ts.clone()),
        cursor_id: cursor.as_ref().map(|c| c.id),
        include_terminated,
    };
    let page = db(&call).rpc(&args, Who::User(&caller.token)).await?;
    Ok((page.machines, page.next.as_ref().map(PageCursor::encode)))
}

/// A page of machines as get-user-machines answers it (the machines copied as SQL wrote them).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MachinePage {
    machines: Vec<db::Raw>,
    next_cursor: Option<String>,
}

/// A machine's `status`, read from its JSON without building a tree of the rest.
fn status_of(machine: &db::Raw) -> String {
    #[derive(Deserialize)]
    struct Status {
        #[serde(default)]
        status: String,
    }
    serde_json::from_str::<Status>(machine.get()).map(|s| s.status).unwrap_or_default()
}

fn query_int(call: &Call, name: &str, min: i64, max: i64, default: i64) -> Result<i64, ApiError> {
    match call.query(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| ApiError::validation(name, format!("`{name}` must be an integer from {min} to {max}"))),
    }
}

/// `get-machine-status` (`?machineId=`).
pub async fn status(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let id = parse_id("machineId", call.query("machineId").as_deref())?;
    get(call, caller, id).await
}

/// One machine with its recent events (`get-machine-status`, `GET instances/{id}`).
async fn get(call: Call, caller: Caller, id: Uuid) -> Result<Reply, ApiError> {
    let machine = db(&call).rpc(&db::GetMachine { machine_id: id }, Who::User(&caller.token)).await?;
    Ok(Reply::ok(machine))
}

/// `log-machine-event`.
pub async fn log_event(mut call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let body: LogEvent = call.json().await?;
    if body.details.as_ref().is_some_and(|d| d.to_string().len() > 16 * 1024) {
        return Err(ApiError::validation("details", "`details` must be at most 16 KiB"));
    }
    let args = db::LogEvent {
        machine_id: body.machine_id.uuid(),
        event_type: body.event_type.as_ref().to_string(),
        details: body.details,
        level: body.level.map(|l| l.as_str().to_string()),
    };
    let event = db(&call).rpc(&args, Who::User(&caller.token)).await?;
    Ok(Reply::created(event))
}

/// `get-logs` / `get-recent-logs`.
pub async fn logs(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let id = parse_id("machineId", call.query("machineId").as_deref())?;
    let limit = query_int(&call, "limit", 1, 500, 50)?;
    let before = match call.query("before") {
        None => None,
        Some(raw) => Some(
            chrono::DateTime::parse_from_rfc3339(raw.trim())
                .map_err(|_| ApiError::validation("before", "`before` must be an RFC 3339 timestamp"))?
                .with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        ),
    };
    let events = db(&call).rpc(&db::GetLogs { machine_id: id, limit, before }, Who::User(&caller.token)).await?;
    Ok(Reply::ok(events))
}

/// `get-job`.
pub async fn job(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let id = parse_id("jobId", call.query("jobId").as_deref())?;
    let job = db(&call).rpc(&db::GetJob { job_id: id }, Who::User(&caller.token)).await?;
    Ok(Reply::ok(job))
}

/// `instances`: a REST facade over the same operations.
pub async fn instances(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    use worker::Method;
    let id = match call.sub_path.as_slice() {
        [] => None,
        [raw] => Some(parse_id("id", Some(raw))?),
        // `instances/{id}/x` is no path of this API (it was served as `instances/{id}`).
        _ => return Err(ApiError::NotFound("No such instances path".into())),
    };
    match (call.method(), id) {
        (Method::Get, None) => list_instances(call, caller).await,
        (Method::Post, None) => create(call, caller).await,
        (Method::Get, Some(id)) => get(call, caller, id).await,
        (Method::Put | Method::Patch, Some(id)) => update_by_path(call, caller, id).await,
        (Method::Put | Method::Patch, None) => Err(ApiError::validation("id", "`instances/{id}` is required")),
        _ => Err(ApiError::MethodNotAllowed { allow: "GET, POST, PUT, PATCH, OPTIONS".into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_json;
    use crate::error::field_of as field;


    #[test]
    fn create_body_names_bad_fields() {
        let err = |body: &str| field(parse_json::<CreateMachine>(body.as_bytes()).err().unwrap());
        assert_eq!(err(r#"{}"#), "name");
        assert_eq!(err(r#"{"name":"bad/name"}"#), "name");
        assert_eq!(err(r#"{"name":5}"#), "name");
        assert_eq!(err(r#"{"name":"a","tier":"dev.huge"}"#), "tier");
        assert_eq!(err(r#"{"name":"a","provider":"digitalocean"}"#), "provider");
        assert_eq!(err(r#"{"name":"a","region":"US East!"}"#), "region");
        assert_eq!(err(r#"{"name":"a","configuration":[1]}"#), "configuration");
        assert_eq!(err(r#"{"name":"a","sshPublicKey":"hello"}"#), "sshPublicKey");
        assert_eq!(err(r#"{"name":"a","projectId":"nope"}"#), "projectId");
        assert_eq!(err(r#"{"name":"a","teamId":"nope"}"#), "teamId");
        assert_eq!(err(r#"{"name":"a","teamId":7}"#), "teamId");
        assert_eq!(err(r#"{"name":"a","sshKeyIds":"nope"}"#), "sshKeyIds");
        assert_eq!(err(r#"{"name":"a","sshKeyIds":["nope"]}"#), "sshKeyIds");
        let id = Uuid::new_v4();
        assert_eq!(err(&format!(r#"{{"name":"a","sshKeyIds":["{id}","{id}"]}}"#)), "sshKeyIds");
        assert_eq!(err(r#"{"name":"a","color":"red"}"#), "color");
        assert!(parse_json::<CreateMachine>(br#"{"name":"a","tier":"dev.large","provider":"gcp"}"#).is_ok());
    }

    #[test]
    fn action_and_update_bodies() {
        assert_eq!(field(parse_json::<MachineRef>(br#"{"machineId":"x"}"#).err().unwrap()), "machineId");
        assert_eq!(field(parse_json::<MachineRef>(b"{}").err().unwrap()), "machineId");
        let p = parse_json::<MachinePatch>(br#"{"projectId":null}"#).ok().unwrap();
        assert_eq!(p.project_id, Patch::Null);
        let p = parse_json::<MachinePatch>(br#"{"sshKeyIds":[]}"#).ok().unwrap();
        assert!(matches!(p.ssh_key_ids, Patch::Value(ref k) if k.ids().is_empty()));
        assert_eq!(field(parse_json::<MachinePatch>(br#"{"sshKeyIds":[1]}"#).err().unwrap()), "sshKeyIds");
        assert_eq!(field(parse_json::<LogEvent>(br#"{"machineId":"6e603a27-0dc1-484d-a15e-5a13e402ded0","eventType":"a","level":"loud"}"#).err().unwrap()), "level");
    }
}
