//! The `projects` function of API.md §4: GET (list, with machine counts, paged), POST, and
//! GET / PATCH / DELETE `projects/{id}`. Each request is parsed into domain types and
//! answered by one SQL function (one PostgREST round trip). DELETE of a project with
//! live machines is 409 `project_not_empty` unless `?cascade=true`, which deletes each
//! machine through delete-machine's own transition in the same transaction; the
//! terminate jobs it queues are handed to the runner after the answer.
use crate::auth::Caller;
use crate::db::{self, Db, Who};
use crate::domain::{parse_id, PageQuery, Patch, ProjectDescription, ProjectName};
use crate::error::ApiError;
use crate::http::{Call, Reply};
use crate::runner::hand_over;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use worker::Method;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewProject {
    name: ProjectName,
    #[serde(default)]
    description: Option<ProjectDescription>,
    /// A team of the caller's (API.md §7): its members see the project.
    #[serde(default)]
    team_id: Option<Uuid>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProjectPatch {
    #[serde(default)]
    name: Patch<ProjectName>,
    #[serde(default)]
    description: Patch<ProjectDescription>,
}

const ALLOW: &str = "GET, POST, PATCH, DELETE, OPTIONS";

/// `projects` and `projects/{id}`.
pub async fn projects(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let id = match call.sub_path.as_slice() {
        [] => None,
        [raw] => Some(parse_id("id", Some(raw))?),
        _ => return Err(ApiError::NotFound("No such project path".into())),
    };
    match (call.method(), id) {
        (Method::Get, None) => list(call, caller).await,
        (Method::Post, None) => create(call, caller).await,
        (Method::Get, Some(id)) => get(call, caller, id).await,
        (Method::Patch, Some(id)) => update(call, caller, id).await,
        (Method::Delete, Some(id)) => delete(call, caller, id).await,
        (Method::Patch | Method::Delete, None) => Err(ApiError::validation("id", "`projects/{id}` is required")),
        _ => Err(ApiError::MethodNotAllowed { allow: ALLOW.into() }),
    }
}

fn db(call: &Call) -> Db<'_> {
    Db::new(&call.config)
}

/// `?limit=&cursor=`: keyset pages, newest first.
async fn list(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let asked = PageQuery::parse(call.query("limit").as_deref(), call.query("cursor").as_deref())?;
    let args = db::ListProjects { limit: asked.limit, cursor_ts: asked.cursor_ts(), cursor_id: asked.cursor_id() };
    Ok(super::pages::reply("projects", db(&call).rpc(&args, Who::User(&caller.token)).await?))
}

async fn create(mut call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let body: NewProject = call.json().await?;
    let args = db::CreateProject {
        name: body.name.as_ref().to_string(),
        description: body.description.as_ref().and_then(ProjectDescription::stored).map(str::to_string),
        team_id: body.team_id,
    };
    let project = db(&call).rpc(&args, Who::User(&caller.token)).await?;
    Ok(Reply::created(project))
}

async fn get(call: Call, caller: Caller, id: Uuid) -> Result<Reply, ApiError> {
    let project = db(&call).rpc(&db::GetProject { project_id: id }, Who::User(&caller.token)).await?;
    Ok(Reply::ok(project))
}

async fn update(mut call: Call, caller: Caller, id: Uuid) -> Result<Reply, ApiError> {
    let patch: ProjectPatch = call.json().await?;
    if patch.name == Patch::Null {
        return Err(ApiError::validation("name", "`name` cannot be null"));
    }
    // An empty description clears it, as null does.
    let description = match patch.description {
        Patch::Value(d) if d.stored().is_none() => Patch::Null,
        other => other,
    };
    let args = db::UpdateProject { project_id: id, name: patch.name.to_sql(), description: description.to_sql() };
    let project = db(&call).rpc(&args, Who::User(&caller.token)).await?;
    Ok(Reply::ok(project))
}

async fn delete(mut call: Call, caller: Caller, id: Uuid) -> Result<Reply, ApiError> {
    call.no_body().await?;
    let cascade = match call.query("cascade").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::validation("cascade", "`cascade` must be true or false")),
    };
    let deleted = db(&call).rpc(&db::DeleteProject { project_id: id, cascade }, Who::User(&caller.token)).await?;
    for delivery in deleted.deliveries {
        hand_over(&call, Some(delivery));
    }
    let message = match deleted.machines.len() {
        0 => "Project deleted".to_string(),
        n => format!("Project deleted; {n} machine(s) deleted with it"),
    };
    Ok(Reply::ok(Deleted { project: deleted.project, machines: deleted.machines }).message(message))
}

/// What a project's delete answers: the project as it was, its machines as the cascade left them.
#[derive(Serialize)]
struct Deleted {
    project: db::Raw,
    machines: Vec<db::Raw>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::field_of as field;
    use crate::http::parse_json;

    #[test]
    fn new_project_bodies() {
        let err = |body: &str| field(parse_json::<NewProject>(body.as_bytes()).err().unwrap());
        assert_eq!(err("{}"), "name");
        assert_eq!(err(r#"{"name":""}"#), "name");
        assert_eq!(err(r#"{"name":7}"#), "name");
        assert_eq!(err(r#"{"name":"a","description":5}"#), "description");
        assert_eq!(err(&format!(r#"{{"name":"a","description":"{}"}}"#, "x".repeat(1001))), "description");
        assert_eq!(err(r#"{"name":"a","ownerId":"x"}"#), "ownerId");
        assert_eq!(err(r#"{"name":"a","teamId":"x"}"#), "teamId");
        let ok = parse_json::<NewProject>(br#"{"name":" Shop ","description":null}"#).ok().unwrap();
        assert_eq!(ok.name.as_ref(), "Shop");
        assert!(ok.description.is_none());
    }

    #[test]
    fn patches() {
        let p = parse_json::<ProjectPatch>(br#"{"description":null}"#).ok().unwrap();
        assert_eq!((p.name, p.description), (Patch::Absent, Patch::Null));
        let p = parse_json::<ProjectPatch>(br#"{"name":"b"}"#).ok().unwrap();
        assert_eq!(p.name.to_sql(), Patch::Value(ProjectName::parse("b").unwrap()).to_sql());
        assert_eq!(field(parse_json::<ProjectPatch>(br#"{"name":"   "}"#).err().unwrap()), "name");
        assert_eq!(field(parse_json::<ProjectPatch>(br#"{"id":"x"}"#).err().unwrap()), "id");
    }
}
