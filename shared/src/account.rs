//! Sign-in and the account: exchange a Privy token for a session, rotate refresh tokens,
//! log out, read and edit one's own account. One PostgREST call per request.
use crate::db::{As, Db};
use crate::domain::{DisplayName, HttpUrl, Patch};
use crate::error::ApiError;
use crate::jwt;
use crate::models::{Account, Session};
use crate::privy;
use crate::refresh;
use crate::request::Call;
use crate::serve::Reply;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

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

/// What the session SQL functions answer: the account and the refresh family.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Signed {
    account: Account,
    session_id: Uuid,
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
    let args = json!({
        "p_privy_did": access.sub,
        "p_provider": identity.as_ref().map(|i| i.provider.clone()),
        "p_identifier": identity.as_ref().and_then(|i| i.identifier.clone()),
        "p_signup_credits_cents": call.config.signup_credits_cents,
        "p_refresh_hash": refresh.hash,
        "p_refresh_ttl_days": call.config.refresh_ttl_days,
    });
    let signed: Signed = Db::new(&call.config).call("hangar_exchange", &args, As::Service).await?;
    session_reply(&call, signed, refresh.token)
}

/// `refresh-session`: spends a refresh token for a new pair; a reused one revokes its family.
pub async fn refresh_session(mut call: Call) -> Result<Reply, ApiError> {
    let body: RefreshBody = call.json().await?;
    let next = refresh::generate()?;
    let args = json!({
        "p_refresh_hash": refresh::hash(&body.refresh_token),
        "p_new_refresh_hash": next.hash,
        "p_refresh_ttl_days": call.config.refresh_ttl_days,
    });
    let signed: Signed = Db::new(&call.config).call("hangar_refresh", &args, As::Service).await?;
    session_reply(&call, signed, next.token)
}

fn session_reply(call: &Call, signed: Signed, refresh_token: String) -> Result<Reply, ApiError> {
    let minted = jwt::mint_session(signed.account.id, signed.session_id, call.config.session_ttl_secs, &call.config.jwt_secret)?;
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
pub async fn logout(mut call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    call.no_body().await?;
    let args = json!({ "p_session_id": caller.claims.session_id });
    let _: serde_json::Value = Db::new(&call.config).call("hangar_logout", &args, As::User(&caller)).await?;
    Ok(Reply::ok(serde_json::Value::Null).message("Signed out"))
}

/// `me`: GET reads, PATCH edits.
pub async fn me_or_update(call: Call) -> Result<Reply, ApiError> {
    match call.method() {
        worker::Method::Patch => update_me(call).await,
        _ => me(call).await,
    }
}

/// `me` GET: the caller's account.
pub async fn me(call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let account: Account = Db::new(&call.config).call("hangar_me", &json!({}), As::User(&caller)).await?;
    Ok(Reply::ok(account))
}

/// `me` PATCH: edits the caller's display name and photo.
pub async fn update_me(mut call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let patch: AccountPatch = call.json().await?;
    let args = json!({
        "p_display_name": patch.display_name.to_sql(),
        "p_photo_url": patch.photo_url.to_sql(),
    });
    let account: Account = Db::new(&call.config).call("hangar_update_me", &args, As::User(&caller)).await?;
    Ok(Reply::ok(account))
}
