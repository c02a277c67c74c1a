//! The `teams` function of API.md §7: GET (mine, with my role), POST `{name}`, GET /
//! PATCH / DELETE `teams/{id}`, GET / POST `teams/{id}/members` and DELETE
//! `teams/{id}/members/{accountId}`. Each request is parsed into domain types and answered
//! by one SQL function (one PostgREST round trip), which checks the caller's role: a team
//! that is not theirs is 404, an owner's action asked by a member 403.
use crate::auth::Caller;
use crate::db::{self, Db, Who};
use crate::domain::{parse_id, MemberIdentifier, TeamName};
use crate::error::ApiError;
use crate::http::{Call, Reply};
use serde::Deserialize;
use uuid::Uuid;
use worker::Method;

/// `teams` POST and `teams/{id}` PATCH: the name is all there is to set.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TeamBody {
    name: TeamName,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewMember {
    identifier: MemberIdentifier,
}

/// Where a request goes: the path after `teams`.
#[derive(Debug, PartialEq)]
enum Route {
    Teams,
    Team(Uuid),
    Members(Uuid),
    Member(Uuid, Uuid),
}

impl Route {
    fn parse(sub_path: &[String]) -> Result<Route, ApiError> {
        let team = |raw: &String| parse_id("id", Some(raw));
        Ok(match sub_path {
            [] => Route::Teams,
            [id] => Route::Team(team(id)?),
            [id, members] if members == "members" => Route::Members(team(id)?),
            [id, members, account] if members == "members" => Route::Member(team(id)?, parse_id("accountId", Some(account))?),
            _ => return Err(ApiError::NotFound("No such teams path".into())),
        })
    }

    fn allow(&self) -> &'static str {
        match self {
            Route::Teams | Route::Members(_) => "GET, POST, OPTIONS",
            Route::Team(_) => "GET, PATCH, DELETE, OPTIONS",
            Route::Member(..) => "DELETE, OPTIONS",
        }
    }
}

/// `teams`, `teams/{id}`, `teams/{id}/members`, `teams/{id}/members/{accountId}`.
pub async fn teams(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let route = Route::parse(&call.sub_path)?;
    match (call.method(), &route) {
        (Method::Get, Route::Teams) => read(call, caller, db::ListTeams {}).await,
        (Method::Post, Route::Teams) => create(call, caller).await,
        (Method::Get, &Route::Team(team_id)) => read(call, caller, db::GetTeam { team_id }).await,
        (Method::Patch, &Route::Team(team_id)) => rename(call, caller, team_id).await,
        (Method::Delete, &Route::Team(team_id)) => delete(call, caller, team_id).await,
        (Method::Get, &Route::Members(team_id)) => read(call, caller, db::ListTeamMembers { team_id }).await,
        (Method::Post, &Route::Members(team_id)) => add_member(call, caller, team_id).await,
        (Method::Delete, &Route::Member(team_id, account_id)) => remove_member(call, caller, team_id, account_id).await,
        _ => Err(ApiError::MethodNotAllowed { allow: route.allow().into() }),
    }
}

fn db(call: &Call) -> Db<'_> {
    Db::new(&call.config)
}

async fn read<R: db::Rpc<Output = db::Raw>>(call: Call, caller: Caller, args: R) -> Result<Reply, ApiError> {
    Ok(Reply::ok(db(&call).rpc(&args, Who::User(&caller.token)).await?))
}

async fn create(mut call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let body: TeamBody = call.json().await?;
    let team = db(&call).rpc(&db::CreateTeam { name: body.name.as_ref().to_string() }, Who::User(&caller.token)).await?;
    Ok(Reply::created(team).message("Team created"))
}

async fn rename(mut call: Call, caller: Caller, team_id: Uuid) -> Result<Reply, ApiError> {
    let body: TeamBody = call.json().await?;
    let args = db::UpdateTeam { team_id, name: body.name.as_ref().to_string() };
    Ok(Reply::ok(db(&call).rpc(&args, Who::User(&caller.token)).await?))
}

async fn delete(mut call: Call, caller: Caller, team_id: Uuid) -> Result<Reply, ApiError> {
    call.no_body().await?;
    let team = db(&call).rpc(&db::DeleteTeam { team_id }, Who::User(&caller.token)).await?;
    Ok(Reply::ok(team).message("Team deleted"))
}

async fn add_member(mut call: Call, caller: Caller, team_id: Uuid) -> Result<Reply, ApiError> {
    let body: NewMember = call.json().await?;
    let args = db::AddTeamMember { team_id, identifier: body.identifier.as_ref().to_string() };
    let member = db(&call).rpc(&args, Who::User(&caller.token)).await?;
    Ok(Reply::created(member).message("Member added"))
}

async fn remove_member(mut call: Call, caller: Caller, team_id: Uuid, account_id: Uuid) -> Result<Reply, ApiError> {
    call.no_body().await?;
    let member = db(&call).rpc(&db::RemoveTeamMember { team_id, account_id }, Who::User(&caller.token)).await?;
    Ok(Reply::ok(member).message("Member removed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::field_of as field;
    use crate::http::parse_json;

    const ID: &str = "6e603a27-0dc1-484d-a15e-5a13e402ded0";

    fn route(path: &[&str]) -> Result<Route, ApiError> {
        Route::parse(&path.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn routes() {
        let id = Uuid::parse_str(ID).unwrap();
        assert_eq!(route(&[]).ok(), Some(Route::Teams));
        assert_eq!(route(&[ID]).ok(), Some(Route::Team(id)));
        assert_eq!(route(&[ID, "members"]).ok(), Some(Route::Members(id)));
        assert_eq!(route(&[ID, "members", ID]).ok(), Some(Route::Member(id, id)));
        assert_eq!(field(route(&["nope"]).unwrap_err()), "id");
        assert_eq!(field(route(&[ID, "members", "nope"]).unwrap_err()), "accountId");
        assert_eq!(route(&[ID, "machines"]).unwrap_err().status(), 404);
        assert_eq!(route(&[ID, "members", ID, "x"]).unwrap_err().status(), 404);
    }

    #[test]
    fn bodies() {
        let team = |b: &str| parse_json::<TeamBody>(b.as_bytes());
        assert_eq!(team(r#"{"name":" Ops "}"#).ok().unwrap().name.as_ref(), "Ops");
        assert_eq!(field(team("{}").err().unwrap()), "name");
        assert_eq!(field(team(r#"{"name":""}"#).err().unwrap()), "name");
        assert_eq!(field(team(r#"{"name":"a","ownerId":"x"}"#).err().unwrap()), "ownerId");
        let member = |b: &str| parse_json::<NewMember>(b.as_bytes());
        assert_eq!(member(r#"{"identifier":"a@b.c"}"#).ok().unwrap().identifier.as_ref(), "a@b.c");
        assert_eq!(field(member("{}").err().unwrap()), "identifier");
        assert_eq!(field(member(r#"{"identifier":"a","role":"owner"}"#).err().unwrap()), "role");
    }
}
