//! The `teams` function of API.md §7: GET (mine, with my role, paged), POST `{name}`, GET /
//! PATCH / DELETE `teams/{id}`, GET / POST (invite) `teams/{id}/members`, DELETE
//! `teams/{id}/members/{accountId}` (remove or leave), GET `teams/invitations` (mine),
//! DELETE `teams/invitations/{id}` (decline or withdraw) and POST `teams/{id}/join`. Each
//! request is parsed into domain types and answered by one SQL function (one PostgREST
//! round trip), which checks the caller's role: a team that is not theirs is 404, an
//! owner's action asked by a member 403.
use crate::auth::Caller;
use crate::db::{self, Db, Who};
use crate::domain::{parse_id, MemberIdentifier, PageQuery, TeamName};
use crate::error::ApiError;
use crate::http::{Call, Reply};
use crate::runner::hand_over;
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
    Join(Uuid),
    Invitations,
    Invitation(Uuid),
}

impl Route {
    fn parse(sub_path: &[String]) -> Result<Route, ApiError> {
        let team = |raw: &String| parse_id("id", Some(raw));
        Ok(match sub_path {
            [] => Route::Teams,
            [invitations] if invitations == "invitations" => Route::Invitations,
            [invitations, id] if invitations == "invitations" => Route::Invitation(parse_id("id", Some(id))?),
            [id] => Route::Team(team(id)?),
            [id, join] if join == "join" => Route::Join(team(id)?),
            [id, members] if members == "members" => Route::Members(team(id)?),
            [id, members, account] if members == "members" => Route::Member(team(id)?, parse_id("accountId", Some(account))?),
            _ => return Err(ApiError::NotFound("No such teams path".into())),
        })
    }

    fn allow(&self) -> &'static str {
        match self {
            Route::Teams | Route::Members(_) => "GET, POST, OPTIONS",
            Route::Team(_) => "GET, PATCH, DELETE, OPTIONS",
            Route::Member(..) | Route::Invitation(_) => "DELETE, OPTIONS",
            Route::Join(_) => "POST, OPTIONS",
            Route::Invitations => "GET, OPTIONS",
        }
    }
}

/// `teams`, `teams/{id}`, `teams/{id}/members`, `teams/{id}/members/{accountId}`.
pub async fn teams(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let route = Route::parse(&call.sub_path)?;
    match (call.method(), &route) {
        (Method::Get, Route::Teams) => list(call, caller).await,
        (Method::Post, Route::Teams) => create(call, caller).await,
        (Method::Get, &Route::Team(team_id)) => read(call, caller, db::GetTeam { team_id }).await,
        (Method::Patch, &Route::Team(team_id)) => rename(call, caller, team_id).await,
        (Method::Delete, &Route::Team(team_id)) => delete(call, caller, team_id).await,
        (Method::Get, &Route::Members(team_id)) => read(call, caller, db::ListTeamMembers { team_id }).await,
        (Method::Post, &Route::Members(team_id)) => invite(call, caller, team_id).await,
        (Method::Delete, &Route::Member(team_id, account_id)) => remove_member(call, caller, team_id, account_id).await,
        (Method::Get, Route::Invitations) => invitations(call, caller).await,
        (Method::Delete, &Route::Invitation(invitation_id)) => decline(call, caller, invitation_id).await,
        (Method::Post, &Route::Join(team_id)) => join(call, caller, team_id).await,
        _ => Err(ApiError::MethodNotAllowed { allow: route.allow().into() }),
    }
}

fn db(call: &Call) -> Db<'_> {
    Db::new(&call.config)
}

async fn read<R: db::Rpc<Output = db::Raw>>(call: Call, caller: Caller, args: R) -> Result<Reply, ApiError> {
    Ok(Reply::ok(db(&call).rpc(&args, Who::User(&caller.token)).await?))
}

fn page(call: &Call) -> Result<PageQuery, ApiError> {
    PageQuery::parse(call.query("limit").as_deref(), call.query("cursor").as_deref())
}

async fn list(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let asked = page(&call)?;
    let args = db::ListTeams { limit: asked.limit, cursor_ts: asked.cursor_ts(), cursor_id: asked.cursor_id() };
    Ok(super::pages::reply("teams", db(&call).rpc(&args, Who::User(&caller.token)).await?))
}

async fn invitations(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let asked = page(&call)?;
    let args = db::ListTeamInvitations { limit: asked.limit, cursor_ts: asked.cursor_ts(), cursor_id: asked.cursor_id() };
    Ok(super::pages::reply("invitations", db(&call).rpc(&args, Who::User(&caller.token)).await?))
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

/// 202 whatever the identifier names (API.md §7: never whether an account exists).
async fn invite(mut call: Call, caller: Caller, team_id: Uuid) -> Result<Reply, ApiError> {
    let body: NewMember = call.json().await?;
    let args = db::InviteTeamMember { team_id, identifier: body.identifier.as_ref().to_string() };
    let invitation = db(&call).rpc(&args, Who::User(&caller.token)).await?;
    Ok(Reply::accepted(invitation).message("Invitation sent: the account it names joins when it accepts"))
}

async fn join(mut call: Call, caller: Caller, team_id: Uuid) -> Result<Reply, ApiError> {
    call.no_body().await?;
    let member = db(&call).rpc(&db::JoinTeam { team_id }, Who::User(&caller.token)).await?;
    Ok(Reply::ok(member).message("Joined the team"))
}

async fn decline(mut call: Call, caller: Caller, invitation_id: Uuid) -> Result<Reply, ApiError> {
    call.no_body().await?;
    let invitation = db(&call).rpc(&db::DeleteTeamInvitation { invitation_id }, Who::User(&caller.token)).await?;
    Ok(Reply::ok(invitation).message("Invitation deleted"))
}

async fn remove_member(mut call: Call, caller: Caller, team_id: Uuid, account_id: Uuid) -> Result<Reply, ApiError> {
    call.no_body().await?;
    let removed = db(&call).rpc(&db::RemoveTeamMember { team_id, account_id }, Who::User(&caller.token)).await?;
    // The keys that left the team's machines come off the running ones now.
    for delivery in removed.deliveries {
        hand_over(&call, Some(delivery));
    }
    Ok(Reply::ok(removed.member).message("Member removed"))
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
        assert_eq!(route(&[ID, "join"]).ok(), Some(Route::Join(id)));
        assert_eq!(route(&["invitations"]).ok(), Some(Route::Invitations));
        assert_eq!(route(&["invitations", ID]).ok(), Some(Route::Invitation(id)));
        assert_eq!(field(route(&["invitations", "nope"]).unwrap_err()), "id");
        assert_eq!(route(&["invitations", ID, "x"]).unwrap_err().status(), 404);
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
