//! The `secrets` function of API.md §7: GET (names only), PUT `{name, value, teamId? |
//! projectId? | machineId?}` (upsert by name within its scope; POST is the same), DELETE
//! `secrets/{id}`. One SQL function per request. A value is sealed here, under
//! `SECRETS_KEY` with the row id as associated data (crypto.rs), before its one database
//! call, and is never shown again: not in a response, a log line, an event or an error
//! message. The row id is derived from the scope, its target and the name
//! (`crypto::secret_id`, checked again in SQL), so the Worker knows it before the upsert
//! and a re-put keeps it. Only this Worker stores a ciphertext: the PUT's SQL function is
//! the service role's, called with the verified caller's account id, and decides there
//! whether that account may write the scope; reads and deletes run with the caller's token.
use crate::auth::Caller;
use crate::crypto;
use crate::db::{self, Db, Who};
use crate::domain::{parse_id, Id, SecretName, SecretScope, SecretValue};
use crate::error::ApiError;
use crate::http::{Call, Reply};
use serde::Deserialize;
use uuid::Uuid;
use worker::Method;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PutSecret {
    name: SecretName,
    value: SecretValue,
    #[serde(default)]
    team_id: Option<Id>,
    #[serde(default)]
    project_id: Option<Id>,
    #[serde(default)]
    machine_id: Option<Id>,
}

const ALLOW: &str = "GET, POST, PUT, DELETE, OPTIONS";

/// `secrets` and `secrets/{id}`.
pub async fn secrets(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    match (call.sub_path.as_slice(), call.method()) {
        ([], Method::Get) => list(call, caller).await,
        // POST too: `supabase.functions.invoke` sends POST unless told otherwise.
        ([], Method::Put | Method::Post) => put(call, caller).await,
        ([raw], Method::Delete) => {
            let id = parse_id("id", Some(raw))?;
            delete(call, caller, id).await
        }
        ([], Method::Delete) => Err(ApiError::validation("id", "`secrets/{id}` is required")),
        ([_], _) => Err(ApiError::MethodNotAllowed { allow: "DELETE, OPTIONS".into() }),
        ([], _) => Err(ApiError::MethodNotAllowed { allow: ALLOW.into() }),
        _ => Err(ApiError::NotFound("No such secrets path".into())),
    }
}

fn db(call: &Call) -> Db<'_> {
    Db::new(&call.config)
}

/// The optional filters of GET: `scope` (account, team, project or machine), `teamId`,
/// `projectId`, `machineId`.
fn filters(call: &Call) -> Result<db::ListSecrets, ApiError> {
    let scope = match call.query("scope").as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => match SecretScope::parse_name(raw) {
            Some(name) => Some(name.to_string()),
            None => return Err(ApiError::validation("scope", "`scope` must be account, team, project or machine")),
        },
    };
    let id = |name: &str| -> Result<Option<Uuid>, ApiError> {
        match call.query(name) {
            None => Ok(None),
            Some(raw) => parse_id(name, Some(&raw)).map(Some),
        }
    };
    Ok(db::ListSecrets { scope, team_id: id("teamId")?, project_id: id("projectId")?, machine_id: id("machineId")? })
}

async fn list(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let args = filters(&call)?;
    let page = db(&call).rpc(&args, Who::User(&caller.token)).await?;
    Ok(Reply::ok(page))
}

async fn put(mut call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let body: PutSecret = call.json().await?;
    let scope = SecretScope::of(caller.claims.sub, body.team_id.map(Id::uuid), body.project_id.map(Id::uuid), body.machine_id.map(Id::uuid))?;
    let id = crypto::secret_id(&scope, body.name.as_ref());
    let ring = call.config.secrets_keys()?;
    let sealed = crypto::seal(&ring, id, body.value.expose()).await?;
    let (team_id, project_id, machine_id) = scope.columns();
    let args = db::PutSecret {
        account_id: caller.claims.sub,
        id,
        name: body.name.as_ref().to_string(),
        team_id,
        project_id,
        machine_id,
        ciphertext: sealed.ciphertext,
        nonce: sealed.nonce,
        key_id: sealed.key_id,
    };
    let put = db(&call).rpc(&args, Who::Service).await?;
    Ok(if put.created {
        Reply::created(put.secret).message("Secret created")
    } else {
        Reply::ok(put.secret).message("Secret updated")
    })
}

async fn delete(mut call: Call, caller: Caller, id: Uuid) -> Result<Reply, ApiError> {
    call.no_body().await?;
    let secret = db(&call).rpc(&db::DeleteSecret { secret_id: id }, Who::User(&caller.token)).await?;
    Ok(Reply::ok(secret).message("Secret deleted"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::field_of as field;
    use crate::http::parse_json;

    #[test]
    fn put_bodies() {
        let err = |body: &str| parse_json::<PutSecret>(body.as_bytes()).err().unwrap();
        assert_eq!(field(err("{}")), "name");
        assert_eq!(field(err(r#"{"name":"A"}"#)), "value");
        assert_eq!(field(err(r#"{"name":"lower","value":"v"}"#)), "name");
        assert_eq!(field(err(r#"{"name":"A","value":"v","projectId":"x"}"#)), "projectId");
        assert_eq!(field(err(r#"{"name":"A","value":"v","machineId":7}"#)), "machineId");
        assert_eq!(field(err(r#"{"name":"A","value":"v","teamId":"x"}"#)), "teamId");
        assert_eq!(field(err(r#"{"name":"A","value":"v","scope":"account"}"#)), "scope");
        // The value is named, never quoted.
        let e = err(r#"{"name":"A","value":8675309}"#);
        assert!(!e.message().contains("8675309"), "{}", e.message());
        assert_eq!(field(e), "value");
        let big = format!(r#"{{"name":"A","value":"hunter2{}"}}"#, "x".repeat(8192));
        let e = err(&big);
        assert!(!e.message().contains("hunter2"), "{}", e.message());
        assert_eq!(field(e), "value");
        let ok = parse_json::<PutSecret>(br#"{"name":"DB_URL","value":"postgres://x","machineId":"6e603a27-0dc1-484d-a15e-5a13e402ded0"}"#).ok().unwrap();
        assert_eq!((ok.name.as_ref(), ok.value.expose()), ("DB_URL", "postgres://x"));
        assert!(ok.team_id.is_none() && ok.project_id.is_none() && ok.machine_id.is_some());
        let team = parse_json::<PutSecret>(br#"{"name":"A","value":"v","teamId":"6e603a27-0dc1-484d-a15e-5a13e402ded0"}"#).ok().unwrap();
        assert!(team.team_id.is_some());
    }
}
