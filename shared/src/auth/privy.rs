//! Privy sign-in: where the verification key comes from, and what an identity token's
//! linked accounts say about the user (`provider`, `identifier`).
use crate::config::{PrivyConfig, PrivyKeySource};
use crate::error::ApiError;
use crate::auth::jwt::{self, Es256Key, PrivyClaims};
use serde_json::Value;

/// The linked account shown as the user's sign-in method.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedIdentity {
    pub provider: String,
    pub identifier: Option<String>,
}

/// Verifies a Privy token with the configured key (a PEM, or the app's JWKS).
pub async fn verify(token: &str, cfg: &PrivyConfig) -> Result<PrivyClaims, ApiError> {
    let key = key_for(token, cfg).await?;
    #[cfg(target_arch = "wasm32")]
    return jwt::verify_privy(token, &cfg.app_id, &key).await;
    #[cfg(not(target_arch = "wasm32"))]
    jwt::verify_privy(token, &cfg.app_id, &key)
}

async fn key_for(token: &str, cfg: &PrivyConfig) -> Result<Es256Key, ApiError> {
    match &cfg.key {
        PrivyKeySource::Pem(pem) => jwt::es256_key_from_pem(pem),
        PrivyKeySource::JwksUrl(url) => {
            let kid = jwt::key_id(token);
            let jwks = jwks::fetch(url).await?;
            pick_jwk(&jwks, kid.as_deref()).ok_or(ApiError::InvalidToken)
        }
    }
}

/// The P-256 key with `kid` from a JWKS document (or its only EC key when no kid is given).
pub fn pick_jwk(jwks: &Value, kid: Option<&str>) -> Option<Es256Key> {
    let keys = jwks.get("keys")?.as_array()?;
    keys.iter()
        .filter(|k| k.get("kty").and_then(Value::as_str) == Some("EC"))
        .filter(|k| k.get("crv").and_then(Value::as_str) == Some("P-256"))
        .filter(|k| kid.is_none() || k.get("kid").and_then(Value::as_str) == kid)
        .find_map(|k| jwt::es256_key_from_jwk(k.get("x")?.as_str()?, k.get("y")?.as_str()?))
}

#[cfg(target_arch = "wasm32")]
mod jwks {
    use crate::error::ApiError;
    use serde_json::Value;
    use std::cell::RefCell;

    // One fetch per isolate per hour: Privy rotates keys rarely.
    const TTL_MS: i64 = 3_600_000;
    thread_local!(static CACHE: RefCell<Option<(String, i64, Value)>> = const { RefCell::new(None) });

    pub async fn fetch(url: &str) -> Result<Value, ApiError> {
        let now = crate::clock::now_millis();
        let cached = CACHE.with(|c| c.borrow().clone());
        if let Some((u, at, v)) = cached {
            if u == url && now - at < TTL_MS {
                return Ok(v);
            }
        }
        let request = worker::Request::new(url, worker::Method::Get).map_err(|_| ApiError::Misconfigured { variable: "PRIVY_JWKS_URL" })?;
        let mut resp = worker::Fetch::Request(request)
            .send()
            .await
            .map_err(|e| ApiError::Unavailable(format!("privy jwks: {e}")))?;
        if resp.status_code() != 200 {
            return Err(ApiError::Upstream(format!("privy jwks: status {}", resp.status_code())));
        }
        let v: Value = resp.json().await.map_err(|e| ApiError::Upstream(format!("privy jwks: {e}")))?;
        CACHE.with(|c| *c.borrow_mut() = Some((url.to_string(), now, v.clone())));
        Ok(v)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod jwks {
    use crate::error::ApiError;
    pub async fn fetch(_url: &str) -> Result<serde_json::Value, ApiError> {
        Err(ApiError::Unavailable("JWKS fetching runs only in the Worker".into()))
    }
}

/// Picks the sign-in identity from an identity token's `linked_accounts`: a wallet first,
/// then an email, then an OAuth account, then whatever else is linked.
pub fn linked_identity(claims: &PrivyClaims) -> Option<LinkedIdentity> {
    let accounts = match claims.linked_accounts.as_ref()? {
        Value::String(s) => serde_json::from_str::<Value>(s).ok()?,
        other => other.clone(),
    };
    let accounts = accounts.as_array()?;
    let rank = |t: &str| match t {
        "wallet" | "smart_wallet" => 0,
        "email" => 1,
        t if t.ends_with("_oauth") => 2,
        _ => 3,
    };
    accounts
        .iter()
        .filter_map(|a| Some((a.get("type")?.as_str()?, a)))
        .min_by_key(|(t, _)| rank(t))
        .map(|(t, a)| identity_of(t, a))
}

fn identity_of(kind: &str, account: &Value) -> LinkedIdentity {
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| account.get(*n).and_then(Value::as_str).filter(|s| !s.is_empty()))
            .map(str::to_string)
    };
    let provider = match kind {
        "smart_wallet" => "wallet",
        k => k.strip_suffix("_oauth").unwrap_or(k),
    };
    let identifier = match kind {
        "wallet" | "smart_wallet" | "email" => field(&["address"]),
        "phone" => field(&["number", "phone_number", "phoneNumber"]),
        _ => field(&["email", "username", "address", "subject"]),
    };
    LinkedIdentity { provider: provider.to_string(), identifier }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::Audience;
    use serde_json::json;

    fn claims(linked: Value) -> PrivyClaims {
        PrivyClaims { sub: "did:privy:x".into(), iss: "privy.io".into(), aud: Audience::One("a".into()), linked_accounts: Some(linked) }
    }

    #[test]
    fn wallet_wins_and_string_form_is_read() {
        let linked = json!([{"type":"email","address":"a@b.c"},{"type":"wallet","address":"0xAbC","chain_type":"ethereum"}]);
        let id = linked_identity(&claims(Value::String(linked.to_string()))).unwrap();
        assert_eq!(id, LinkedIdentity { provider: "wallet".into(), identifier: Some("0xAbC".into()) });
    }

    #[test]
    fn email_and_oauth() {
        let id = linked_identity(&claims(json!([{"type":"email","address":"a@b.c"}]))).unwrap();
        assert_eq!((id.provider.as_str(), id.identifier.as_deref()), ("email", Some("a@b.c")));
        let id = linked_identity(&claims(json!([{"type":"google_oauth","email":"x@gmail.com","subject":"1"}]))).unwrap();
        assert_eq!((id.provider.as_str(), id.identifier.as_deref()), ("google", Some("x@gmail.com")));
        let id = linked_identity(&claims(json!([{"type":"github_oauth","username":"octo","subject":"2"}]))).unwrap();
        assert_eq!((id.provider.as_str(), id.identifier.as_deref()), ("github", Some("octo")));
    }

    #[test]
    fn nothing_linked() {
        assert_eq!(linked_identity(&claims(json!([]))), None);
        assert_eq!(linked_identity(&claims(json!("not json"))), None);
        let mut c = claims(json!([]));
        c.linked_accounts = None;
        assert_eq!(linked_identity(&c), None);
    }

    #[test]
    fn jwks_picks_by_kid() {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let vk = *p256::ecdsa::SigningKey::from_slice(&[3u8; 32]).unwrap().verifying_key();
        let p = vk.to_encoded_point(false);
        let jwk = |kid: &str| json!({"kty":"EC","crv":"P-256","kid":kid,"x":URL_SAFE_NO_PAD.encode(p.x().unwrap()),"y":URL_SAFE_NO_PAD.encode(p.y().unwrap())});
        let set = json!({"keys":[{"kty":"RSA","kid":"r"}, jwk("k1")]});
        assert_eq!(pick_jwk(&set, Some("k1")), Some(vk));
        assert_eq!(pick_jwk(&set, Some("k2")), None);
        assert_eq!(pick_jwk(&set, None), Some(vk));
    }
}
