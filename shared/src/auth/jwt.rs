//! JSON Web Tokens: Hangar session tokens (HS256, the Supabase JWT secret, so PostgREST
//! accepts them) and Privy access/identity tokens (ES256). The algorithm is pinned by the
//! verifier: a token whose header names another algorithm (`none`, or HS256 signed with a
//! public key as secret) is refused before any claim is read.
use crate::clock;
use crate::error::ApiError;
use chrono::Duration;
use jwt_compact::alg::{Es256, Hs256, Hs256Key};
use jwt_compact::{AlgorithmExt, Claims, Header, TimeOptions, UntrustedToken, ValidationError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use p256::ecdsa::VerifyingKey as Es256Key;

/// Clock skew tolerated on `exp` (seconds): none, as PostgREST, which the token is
/// forwarded to, checks `exp` to the second.
const LEEWAY_SECS: i64 = 0;
pub const SESSION_ROLE: &str = "authenticated";
pub const SESSION_AUDIENCE: &str = "authenticated";
pub const SESSION_ISSUER: &str = "hangar";
pub const PRIVY_ISSUER: &str = "privy.io";

fn time_options() -> TimeOptions<fn() -> chrono::DateTime<chrono::Utc>> {
    TimeOptions::new(Duration::seconds(LEEWAY_SECS), clock::now)
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, wanted: &str) -> bool {
        match self {
            Audience::One(a) => a == wanted,
            Audience::Many(list) => list.iter().any(|a| a == wanted),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionClaims {
    pub sub: Uuid,
    pub role: String,
    pub aud: Audience,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The refresh family this access token belongs to (absent on Supabase Auth tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Uuid>,
    /// Unique per token, so two tokens minted in the same second differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// A freshly minted access token.
pub struct MintedSession {
    pub token: String,
    pub expires_in: i64,
    pub expires_at: i64,
}

pub fn mint_session(account_id: Uuid, session_id: Uuid, ttl_secs: i64, secret: &str) -> Result<MintedSession, ApiError> {
    let custom = SessionClaims {
        sub: account_id,
        role: SESSION_ROLE.into(),
        aud: Audience::One(SESSION_AUDIENCE.into()),
        iss: Some(SESSION_ISSUER.into()),
        session_id: Some(session_id),
        jti: Some(Uuid::new_v4().to_string()),
    };
    let claims = Claims::new(custom).set_duration_and_issuance(&time_options(), Duration::seconds(ttl_secs));
    let expires_at = claims.expiration.map(|t| t.timestamp()).unwrap_or_default();
    let header = Header::empty().with_token_type("JWT");
    let token = Hs256
        .token(&header, &claims, &Hs256Key::new(secret.as_bytes()))
        .map_err(|e| ApiError::Internal(format!("mint session: {e}")))?;
    Ok(MintedSession { token, expires_in: ttl_secs, expires_at })
}

/// Verifies a Hangar session token or a Supabase Auth access token.
pub fn verify_session(token: &str, secret: &str) -> Result<SessionClaims, ApiError> {
    let untrusted = UntrustedToken::new(token).map_err(|_| ApiError::InvalidToken)?;
    let verified = Hs256
        .validator::<SessionClaims>(&Hs256Key::new(secret.as_bytes()))
        .validate(&untrusted)
        .map_err(reject)?;
    let claims = verified.claims();
    check_expiry(claims)?;
    let custom = &claims.custom;
    if custom.role != SESSION_ROLE || !custom.aud.contains(SESSION_AUDIENCE) {
        return Err(ApiError::InvalidToken);
    }
    Ok(custom.clone())
}

#[derive(Debug, Clone, Deserialize)]
pub struct PrivyClaims {
    /// The Privy DID, `did:privy:…`.
    pub sub: String,
    pub iss: String,
    pub aud: Audience,
    /// Identity tokens only: the user's linked accounts (a JSON string, or an array).
    #[serde(default)]
    pub linked_accounts: Option<serde_json::Value>,
}

/// Verifies a Privy access or identity token: ES256 signature, `iss`, `aud`, `exp`.
pub fn verify_privy(token: &str, app_id: &str, key: &Es256Key) -> Result<PrivyClaims, ApiError> {
    let untrusted = UntrustedToken::new(token).map_err(|_| ApiError::InvalidToken)?;
    let verified = Es256.validator::<PrivyClaims>(key).validate(&untrusted).map_err(reject)?;
    let claims = verified.claims();
    check_expiry(claims)?;
    let custom = &claims.custom;
    if custom.iss != PRIVY_ISSUER || !custom.aud.contains(app_id) || !custom.sub.starts_with("did:privy:") {
        return Err(ApiError::InvalidToken);
    }
    Ok(custom.clone())
}

/// The `kid` of a token's header, to pick a key from a JWKS.
pub fn key_id(token: &str) -> Option<String> {
    UntrustedToken::new(token).ok()?.header().key_id.clone()
}

/// `exp`, and a token not valid yet (`nbf`, or `iat` in the future beyond the clock skew
/// PostgREST allows): such a token would pass here and then fail at PostgREST, after the
/// request had been accepted.
fn check_expiry<T>(claims: &Claims<T>) -> Result<(), ApiError> {
    claims.validate_expiration(&time_options()).map_err(reject)?;
    let latest = clock::now() + Duration::seconds(FUTURE_SKEW_SECS);
    if claims.not_before.is_some_and(|t| t > latest) || claims.issued_at.is_some_and(|t| t > latest) {
        return Err(ApiError::InvalidToken);
    }
    Ok(())
}

/// How far in the future `iat`/`nbf` may be (PostgREST's own allowance).
const FUTURE_SKEW_SECS: i64 = 30;

fn reject(e: ValidationError) -> ApiError {
    match e {
        ValidationError::Expired => ApiError::TokenExpired,
        _ => ApiError::InvalidToken,
    }
}

/// Parses an SPKI PEM public key (Privy's dashboard shows one).
pub fn es256_key_from_pem(pem: &str) -> Result<Es256Key, ApiError> {
    use p256::pkcs8::DecodePublicKey;
    Es256Key::from_public_key_pem(pem.trim()).map_err(|_| ApiError::Misconfigured { variable: "PRIVY_VERIFICATION_KEY" })
}

/// A key from a JWK (`kty: EC`, `crv: P-256`, base64url `x` and `y`).
pub fn es256_key_from_jwk(x_b64: &str, y_b64: &str) -> Option<Es256Key> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let x = URL_SAFE_NO_PAD.decode(x_b64).ok()?;
    let y = URL_SAFE_NO_PAD.decode(y_b64).ok()?;
    if x.len() != 32 || y.len() != 32 {
        return None;
    }
    let mut sec1 = Vec::with_capacity(65);
    sec1.push(0x04);
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    Es256Key::from_sec1_bytes(&sec1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    use p256::ecdsa::SigningKey;
    use serde_json::json;

    const SECRET: &str = "test-secret-with-at-least-32-characters!!";

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn hs256(header: serde_json::Value, claims: serde_json::Value, secret: &[u8]) -> String {
        use hmac::{Hmac, Mac};
        let input = format!("{}.{}", b64(&header), b64(&claims));
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    fn es256(key: &SigningKey, claims: serde_json::Value) -> String {
        use p256::ecdsa::{signature::Signer, Signature};
        let input = format!("{}.{}", b64(&json!({"alg":"ES256","typ":"JWT"})), b64(&claims));
        let sig: Signature = key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    fn now() -> i64 {
        clock::now().timestamp()
    }

    fn privy_claims(exp: i64) -> serde_json::Value {
        json!({"sub":"did:privy:abc","iss":"privy.io","aud":"app","sid":"s","iat":now(),"exp":exp})
    }

    fn key() -> SigningKey {
        SigningKey::from_slice(&[7u8; 32]).unwrap()
    }

    #[test]
    fn minted_session_round_trips() {
        let (id, sid) = (Uuid::new_v4(), Uuid::new_v4());
        let minted = mint_session(id, sid, 3600, SECRET).unwrap();
        let claims = verify_session(&minted.token, SECRET).unwrap();
        assert_eq!((claims.sub, claims.session_id), (id, Some(sid)));
        assert!(minted.expires_at > now());
        assert_eq!(verify_session(&minted.token, "another-secret").unwrap_err(), ApiError::InvalidToken);
    }

    #[test]
    fn session_rejections() {
        let sub = Uuid::new_v4();
        let good = json!({"sub":sub,"role":"authenticated","aud":"authenticated","exp":now()+60});
        let h = json!({"alg":"HS256","typ":"JWT"});
        assert!(verify_session(&hs256(h.clone(), good.clone(), SECRET.as_bytes()), SECRET).is_ok());
        let expired = json!({"sub":sub,"role":"authenticated","aud":"authenticated","exp":now()-600});
        assert_eq!(verify_session(&hs256(h.clone(), expired, SECRET.as_bytes()), SECRET).unwrap_err(), ApiError::TokenExpired);
        let wrong_aud = json!({"sub":sub,"role":"authenticated","aud":"other","exp":now()+60});
        assert_eq!(verify_session(&hs256(h.clone(), wrong_aud, SECRET.as_bytes()), SECRET).unwrap_err(), ApiError::InvalidToken);
        let service = json!({"sub":sub,"role":"service_role","aud":"authenticated","exp":now()+60});
        assert_eq!(verify_session(&hs256(h.clone(), service, SECRET.as_bytes()), SECRET).unwrap_err(), ApiError::InvalidToken);
        // Not valid yet at PostgREST either: refused here rather than failing there.
        let future = json!({"sub":sub,"role":"authenticated","aud":"authenticated","exp":now()+600,"iat":now()+120});
        assert_eq!(verify_session(&hs256(h.clone(), future, SECRET.as_bytes()), SECRET).unwrap_err(), ApiError::InvalidToken);
        let not_yet = json!({"sub":sub,"role":"authenticated","aud":"authenticated","exp":now()+600,"nbf":now()+120});
        assert_eq!(verify_session(&hs256(h.clone(), not_yet, SECRET.as_bytes()), SECRET).unwrap_err(), ApiError::InvalidToken);
        let skewed = json!({"sub":sub,"role":"authenticated","aud":"authenticated","exp":now()+600,"iat":now()+10});
        assert!(verify_session(&hs256(h.clone(), skewed, SECRET.as_bytes()), SECRET).is_ok());
        let no_exp = json!({"sub":sub,"role":"authenticated","aud":"authenticated"});
        assert_eq!(verify_session(&hs256(h, no_exp, SECRET.as_bytes()), SECRET).unwrap_err(), ApiError::InvalidToken);
        let none = format!("{}.{}.", b64(&json!({"alg":"none"})), b64(&good));
        assert_eq!(verify_session(&none, SECRET).unwrap_err(), ApiError::InvalidToken);
        assert_eq!(verify_session("garbage", SECRET).unwrap_err(), ApiError::InvalidToken);
    }

    #[test]
    fn privy_tokens() {
        let k = key();
        let vk = *k.verifying_key();
        assert_eq!(verify_privy(&es256(&k, privy_claims(now() + 60)), "app", &vk).unwrap().sub, "did:privy:abc");
        assert_eq!(verify_privy(&es256(&k, privy_claims(now() - 600)), "app", &vk).unwrap_err(), ApiError::TokenExpired);
        assert_eq!(verify_privy(&es256(&k, privy_claims(now() + 60)), "other-app", &vk).unwrap_err(), ApiError::InvalidToken);
        let mut wrong_iss = privy_claims(now() + 60);
        wrong_iss["iss"] = json!("evil.io");
        assert_eq!(verify_privy(&es256(&k, wrong_iss), "app", &vk).unwrap_err(), ApiError::InvalidToken);
        let other = SigningKey::from_slice(&[9u8; 32]).unwrap();
        assert_eq!(verify_privy(&es256(&other, privy_claims(now() + 60)), "app", &vk).unwrap_err(), ApiError::InvalidToken);
    }

    #[test]
    fn key_confusion_and_none_are_refused() {
        let k = key();
        let vk = *k.verifying_key();
        use p256::pkcs8::EncodePublicKey;
        let pem = vk.to_public_key_pem(Default::default()).unwrap();
        let forged = hs256(json!({"alg":"HS256","typ":"JWT"}), privy_claims(now() + 60), pem.as_bytes());
        assert_eq!(verify_privy(&forged, "app", &vk).unwrap_err(), ApiError::InvalidToken);
        let none = format!("{}.{}.", b64(&json!({"alg":"none"})), b64(&privy_claims(now() + 60)));
        assert_eq!(verify_privy(&none, "app", &vk).unwrap_err(), ApiError::InvalidToken);
        // A session token is not a Privy token, and the reverse.
        let session = mint_session(Uuid::new_v4(), Uuid::new_v4(), 60, SECRET).unwrap().token;
        assert_eq!(verify_privy(&session, "app", &vk).unwrap_err(), ApiError::InvalidToken);
        assert_eq!(verify_session(&es256(&k, privy_claims(now() + 60)), SECRET).unwrap_err(), ApiError::InvalidToken);
        assert!(es256_key_from_pem(&pem).is_ok());
    }

    #[test]
    fn jwk_keys() {
        let vk = *key().verifying_key();
        let point = vk.to_encoded_point(false);
        let x = URL_SAFE_NO_PAD.encode(point.x().unwrap());
        let y = URL_SAFE_NO_PAD.encode(point.y().unwrap());
        assert_eq!(es256_key_from_jwk(&x, &y), Some(vk));
        assert_eq!(es256_key_from_jwk("AA", &y), None);
    }
}
