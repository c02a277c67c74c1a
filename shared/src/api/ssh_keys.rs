//! The `ssh-keys` function of API.md §7: GET (the caller's keys), POST `{ name, publicKey }`
//! and DELETE `ssh-keys/{id}`. A key is parsed here (shared::domain::SshKey: type, size,
//! fingerprint, a 400 on `publicKey` saying why) and answered by one SQL function, which
//! reads the key again and refuses a duplicate (409 `conflict`). Deleting a key also takes
//! it off the running machines that had it: their authorize_keys jobs are handed to the
//! runner after the answer.
use crate::auth::Caller;
use crate::db::{self, Db, Who};
use crate::domain::{parse_id, SshKey, SshKeyName};
use crate::error::ApiError;
use crate::http::{Call, Reply};
use crate::runner::hand_over;
use serde::Deserialize;
use uuid::Uuid;
use worker::Method;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewSshKey {
    name: SshKeyName,
    public_key: SshKey,
}

const ALLOW: &str = "GET, POST, DELETE, OPTIONS";

/// `ssh-keys` and `ssh-keys/{id}`.
pub async fn ssh_keys(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let id = match call.sub_path.as_slice() {
        [] => None,
        [raw] => Some(parse_id("id", Some(raw))?),
        _ => return Err(ApiError::NotFound("No such ssh-keys path".into())),
    };
    match (call.method(), id) {
        (Method::Get, None) => list(call, caller).await,
        (Method::Post, None) => create(call, caller).await,
        (Method::Delete, Some(id)) => delete(call, caller, id).await,
        (Method::Delete, None) => Err(ApiError::validation("id", "`ssh-keys/{id}` is required")),
        _ => Err(ApiError::MethodNotAllowed { allow: ALLOW.into() }),
    }
}

fn db(call: &Call) -> Db<'_> {
    Db::new(&call.config)
}

async fn list(call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let keys = db(&call).rpc(&db::ListSshKeys {}, Who::User(&caller.token)).await?;
    Ok(Reply::ok(keys))
}

async fn create(mut call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let body: NewSshKey = call.json().await?;
    let args = db::CreateSshKey { name: body.name.as_ref().to_string(), public_key: body.public_key.as_ref().to_string() };
    let key = db(&call).rpc(&args, Who::User(&caller.token)).await?;
    let message = format!("SSH key {} ({}, {} bits) added", body.public_key.fingerprint(), body.public_key.kind(), body.public_key.bits());
    Ok(Reply::created(key).message(message))
}

async fn delete(mut call: Call, caller: Caller, id: Uuid) -> Result<Reply, ApiError> {
    call.no_body().await?;
    let deleted = db(&call).rpc(&db::DeleteSshKey { ssh_key_id: id }, Who::User(&caller.token)).await?;
    for delivery in deleted.deliveries {
        hand_over(&call, Some(delivery));
    }
    let message = match deleted.machine_ids.len() {
        0 => "SSH key deleted".to_string(),
        n => format!("SSH key deleted; removed from {n} machine(s)"),
    };
    Ok(Reply::ok(deleted.ssh_key).message(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::field_of as field;
    use crate::http::parse_json;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICXVaRhGv3TRk5safvYVwCoG1++iGTl/TukFbUNPNyRD demo@hangar";

    #[test]
    fn new_key_bodies_name_their_field() {
        let err = |body: String| field(parse_json::<NewSshKey>(body.as_bytes()).err().unwrap());
        assert_eq!(err("{}".into()), "name");
        assert_eq!(err(format!(r#"{{"name":"","publicKey":"{KEY}"}}"#)), "name");
        assert_eq!(err(r#"{"name":"laptop"}"#.into()), "publicKey");
        assert_eq!(err(r#"{"name":"laptop","publicKey":"ssh-rsa !!!"}"#.into()), "publicKey");
        assert_eq!(err(r#"{"name":"laptop","publicKey":5}"#.into()), "publicKey");
        assert_eq!(err(format!(r#"{{"name":"laptop","publicKey":"{KEY}","fingerprint":"x"}}"#)), "fingerprint");
        let ok = parse_json::<NewSshKey>(format!(r#"{{"name":" laptop ","publicKey":"{KEY}\n"}}"#).as_bytes()).ok().unwrap();
        assert_eq!((ok.name.as_ref(), ok.public_key.as_ref()), ("laptop", KEY));
    }

    #[test]
    fn a_bad_key_says_why_on_its_field() {
        let e = parse_json::<NewSshKey>(br#"{"name":"old","publicKey":"ssh-dss AAAAB3NzaC1kc3M="}"#).err().unwrap();
        assert!(e.message().contains("ssh-dss"), "{}", e.message());
    }
}
