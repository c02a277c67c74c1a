//! Sign-in and the account: exchange a Privy token for a session, rotate refresh tokens,
//! log out, read and edit one's own account. One PostgREST call per request.
use crate::api::models::Session;
use crate::auth::{jwt, privy, refresh, Caller};
use crate::db::{self, Db, Signed, Who};
use crate::domain::{DisplayName, HttpUrl, Patch};
use crate::error::ApiError;
use crate::http::{Call, Reply};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExchangeBody {
    token: String,
    #[serde(default)]
    identity_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RefreshBody {
    refresh_token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AccountPatch {
    #[serde(default)]
    display_name: Patch<DisplayName>,
    #[serde(default)]
    photo_url: Patch<HttpUrl>,
}

/// `exchange`: a verified Privy token (and optional identity token) becomes a session.
pub async fn exchange(mut call: Call) -> Result<Reply, ApiError> {
    let body: ExchangeBody = call.json().await?;
    let privy_cfg = call.config.privy()?;
    let access = privy::verify(&body.token, &privy_cfg).await?;
    let identity = match &body.identity_token {
        None => None,
        Some(token) => {
            let id_claims = privy::verify(token, &privy_cfg).await?;
            if id_claims.sub != access.sub {
                return Err(ApiError::InvalidToken);
            }
            privy::linked_identity(&id_claims)
        }
    };
    let refresh = refresh::generate()?;
    let args = db::Exchange {
        privy_did: access.sub,
        provider: identity.as_ref().map(|i| i.provider.clone()),
        identifier: identity.as_ref().and_then(|i| i.identifier.clone()),
        refresh_hash: refresh.hash,
        refresh_ttl_days: call.config.refresh_ttl_days,
    };
    let signed = Db::new(&call.config).rpc(&args, Who::Service).await?;
    session_reply(&call, signed, refresh.token)
}

/// `refresh-session`: spends a refresh token for a new pair; a reused one revokes its family.
pub async fn refresh_session(mut call: Call) -> Result<Reply, ApiError> {
    let body: RefreshBody = call.json().await?;
    let next = refresh::generate()?;
    let args = db::Refresh {
        refresh_hash: refresh::hash(&body.refresh_token),
        new_refresh_hash: next.hash,
        refresh_ttl_days: call.config.refresh_ttl_days,
    };
    let signed = Db::new(&call.config).rpc(&args, Who::Service).await?;
    session_reply(&call, signed, next.token)
}

fn session_reply(call: &Call, signed: Signed, refresh_token: String) -> Result<Reply, ApiError> {
    let minted = jwt::mint_session(signed.account.id, signed.session_id, call.config.session_ttl_secs, call.config.jwt_secret.expose())?;
    Ok(Reply::ok(Session {
        access_token: minted.token,
        refresh_token,
        token_type: "bearer",
        expires_in: minted.expires_in,
        expires_at: minted.expires_at,
        user: signed.account,
    }))
}

/// `logout`: revokes the refresh family of the caller's session.
pub async fn logout(mut call: Call, caller: Caller) -> Result<Reply, ApiError> {
    call.no_body().await?;
    let args = db::Logout { session_id: caller.claims.session_id };
    Db::new(&call.config).rpc(&args, Who::User(&caller.token)).await?;
    Ok(Reply::ok(serde_json::Value::Null).message("Signed out"))
}

/// `me`: GET reads the caller's account, PATCH edits its display name and photo.
pub async fn me(mut call: Call, caller: Caller) -> Result<Reply, ApiError> {
    let account = match call.method() {
        worker::Method::Patch => {
            let patch: AccountPatch = call.json().await?;
            let args = db::UpdateMe { display_name: patch.display_name.to_sql(), photo_url: patch.photo_url.to_sql() };
            Db::new(&call.config).rpc(&args, Who::User(&caller.token)).await?
        }
        _ => Db::new(&call.config).rpc(&db::Me {}, Who::User(&caller.token)).await?,
    };
    Ok(Reply::ok(account))
}
