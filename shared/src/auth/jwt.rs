//! JSON Web Tokens: Hangar session tokens (HS256, the Supabase JWT secret, so PostgREST
//! accepts them) and Privy access/identity tokens (ES256). The algorithm is pinned by the
//! verifier: a token whose header names another algorithm (`none`, or HS256 signed with a
//! public key as secret) is refused before any claim is read.
//!
//! Parsing and the claim checks are written here rather than taken from a JWT crate: a
//! generic one (`#[serde(flatten)]` claims, every algorithm's types) cost the Workers
//! tens of KB of wasm each. ES256 signatures are verified by WebCrypto in the Worker
//! (`crypto.subtle.verify`, native code, no elliptic-curve arithmetic in the wasm) and by
//! `p256` in native builds (the tests).
use crate::clock;
use crate::error::ApiError;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use serde::de::{DeserializeOwned, Deserializer, Error as _, Visitor};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(not(target_arch = "wasm32"))]
pub use p256::ecdsa::VerifyingKey as Es256Key;
#[cfg(target_arch = "wasm32")]
pub use webcrypto::Es256Key;

/// Clock skew tolerated on `exp` (seconds): none, as PostgREST, which the token is
/// forwarded to, checks `exp` to the second.
const LEEWAY_SECS: i64 = 0;
/// How far in the future `iat`/`nbf` may be (PostgREST's own allowance).
const FUTURE_SKEW_SECS: i64 = 30;
pub const SESSION_ROLE: &str = "authenticated";
pub const SESSION_AUDIENCE: &str = "authenticated";
pub const SESSION_ISSUER: &str = "hangar";
pub const PRIVY_ISSUER: &str = "privy.io";

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

/// A freshly minted access token.
pub struct MintedSession {
    pub token: String,
    pub expires_in: i64,
    pub expires_at: i64,
}

// ---- the token's parts ----------------------------------------------------------------

/// The JOSE header fields a token may carry (RFC 7515 §4.1), with their types: a header
/// that misstates one is malformed. `cty` other than JSON is refused.
#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    cty: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "jku")]
    _jku: Option<String>,
    #[serde(default, rename = "x5u")]
    _x5u: Option<String>,
    #[serde(default, rename = "x5t")]
    _x5t: Option<String>,
    #[serde(default, rename = "x5t#S256")]
    _x5t_s256: Option<String>,
    #[serde(default, rename = "typ")]
    _typ: Option<String>,
}

/// A token split into its parts, the signature not checked yet.
struct Untrusted<'a> {
    header: Header,
    /// `<header>.<claims>` as sent: what the signature covers.
    signed: &'a str,
    claims: Vec<u8>,
    signature: Vec<u8>,
}

/// Three base64url segments (no padding), a JSON header naming JSON content.
fn parse(token: &str) -> Option<Untrusted<'_>> {
    let mut parts = token.splitn(4, '.');
    let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header_json = URL_SAFE_NO_PAD.decode(header).ok()?;
    let claims = URL_SAFE_NO_PAD.decode(claims).ok()?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let header: Header = strict_json(&header_json).then(|| serde_json::from_slice(&header_json).ok())??;
    if header.cty.as_deref().is_some_and(|c| !c.eq_ignore_ascii_case("json")) {
        return None;
    }
    let signed = &token[..token.rfind('.')?];
    Some(Untrusted { header, signed, claims, signature })
}

/// Whether `bytes` are JSON as PostgREST (which reads the same token) accepts it: valid
/// UTF-8 and escapes everywhere, at most 128 levels deep. The typed reads below skip the
/// fields they do not know without looking at them; a token that passed here and then
/// failed at PostgREST would be a 502 instead of a 401.
fn strict_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes).is_ok()
}

/// The registered time claims (NumericDate: seconds; an integer or a float, truncated).
#[derive(Deserialize)]
struct Times {
    #[serde(default, deserialize_with = "timestamp")]
    exp: Option<i64>,
    #[serde(default, deserialize_with = "timestamp")]
    nbf: Option<i64>,
    #[serde(default, deserialize_with = "timestamp")]
    iat: Option<i64>,
}

fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct Seconds;
    impl Visitor<'_> for Seconds {
        type Value = i64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a UTC timestamp")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(E::custom)
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i64, E> {
            Ok(v as i64)
        }
    }
    let secs = d.deserialize_i64(Seconds)?;
    // Within the dates chrono represents (so the millisecond arithmetic below is exact).
    chrono::DateTime::from_timestamp(secs, 0).ok_or_else(|| D::Error::custom("UTC timestamp overflow"))?;
    Ok(Some(secs))
}

/// The time claims, then the token's own: the checks of `check_times` and the caller's. A
/// field named twice is refused (as a typed read refuses it), not read as its last value.
fn claims<T: DeserializeOwned>(json: &[u8]) -> Result<(Times, T), ApiError> {
    if !strict_json(json) {
        return Err(ApiError::InvalidToken);
    }
    let times: Times = serde_json::from_slice(json).map_err(|_| ApiError::InvalidToken)?;
    let custom: T = serde_json::from_slice(json).map_err(|_| ApiError::InvalidToken)?;
    Ok((times, custom))
}

/// `exp` is required and not passed (to the millisecond, as it is compared with the clock);
/// a token not valid yet (`nbf`, or `iat` in the future beyond the clock skew PostgREST
/// allows) would pass here and then fail at PostgREST, after the request was accepted.
fn check_times(times: &Times) -> Result<(), ApiError> {
    let now = clock::now_millis();
    let exp = times.exp.ok_or(ApiError::InvalidToken)?;
    if now > (exp + LEEWAY_SECS) * 1000 {
        return Err(ApiError::TokenExpired);
    }
    let latest = now + FUTURE_SKEW_SECS * 1000;
    if times.nbf.is_some_and(|t| t * 1000 > latest) || times.iat.is_some_and(|t| t * 1000 > latest) {
        return Err(ApiError::InvalidToken);
    }
    Ok(())
}

fn hs256(secret: &str) -> Hmac<sha2::Sha256> {
    Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length")
}

// ---- session tokens (HS256) -------------------------------------------------------------

/// The claims of a minted session token, in the order they are written.
#[derive(Serialize)]
struct Minted<'a> {
    exp: i64,
    iat: i64,
    sub: Uuid,
    role: &'a str,
    aud: &'a str,
    iss: &'a str,
    session_id: Uuid,
    jti: String,
}

pub fn mint_session(account_id: Uuid, session_id: Uuid, ttl_secs: i64, secret: &str) -> Result<MintedSession, ApiError> {
    let iat = clock::now_millis().div_euclid(1000);
    let claims = Minted {
        exp: iat + ttl_secs,
        iat,
        sub: account_id,
        role: SESSION_ROLE,
        aud: SESSION_AUDIENCE,
        iss: SESSION_ISSUER,
        session_id,
        jti: Uuid::new_v4().to_string(),
    };
    let json = serde_json::to_vec(&claims).map_err(|e| ApiError::Internal(format!("mint session: {e}")))?;
    let signed = format!("{}.{}", URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#), URL_SAFE_NO_PAD.encode(json));
    let mut mac = hs256(secret);
    mac.update(signed.as_bytes());
    let token = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
    Ok(MintedSession { token, expires_in: ttl_secs, expires_at: claims.exp })
}

/// Verifies a Hangar session token or a Supabase Auth access token.
pub fn verify_session(token: &str, secret: &str) -> Result<SessionClaims, ApiError> {
    let t = parse(token).ok_or(ApiError::InvalidToken)?;
    if t.header.alg != "HS256" {
        return Err(ApiError::InvalidToken);
    }
    let mut mac = hs256(secret);
    mac.update(t.signed.as_bytes());
    // Constant time, and the length must be HS256's (32 bytes).
    mac.verify_slice(&t.signature).map_err(|_| ApiError::InvalidToken)?;
    let (times, custom) = claims::<SessionClaims>(&t.claims)?;
    check_times(&times)?;
    if custom.role != SESSION_ROLE || !custom.aud.contains(SESSION_AUDIENCE) {
        return Err(ApiError::InvalidToken);
    }
    Ok(custom)
}

/// The `kid` of a token's header, to pick a key from a JWKS.
pub fn key_id(token: &str) -> Option<String> {
    parse(token)?.header.kid
}

// ---- Privy tokens (ES256) ---------------------------------------------------------------

/// The parts of a Privy token whose header names ES256 and whose signature is the 64
/// bytes of r‖s (JWS form, what WebCrypto and `p256` take as is).
fn es256_parts(token: &str) -> Result<Untrusted<'_>, ApiError> {
    let t = parse(token).ok_or(ApiError::InvalidToken)?;
    if t.header.alg != "ES256" || t.signature.len() != 64 {
        return Err(ApiError::InvalidToken);
    }
    Ok(t)
}

/// After the signature: `exp` (and `nbf`/`iat`), `iss`, `aud`, and a Privy DID as `sub`.
fn privy_claims(t: &Untrusted, app_id: &str) -> Result<PrivyClaims, ApiError> {
    let (times, custom) = claims::<PrivyClaims>(&t.claims)?;
    check_times(&times)?;
    if custom.iss != PRIVY_ISSUER || !custom.aud.contains(app_id) || !custom.sub.starts_with("did:privy:") {
        return Err(ApiError::InvalidToken);
    }
    Ok(custom)
}

/// Verifies a Privy access or identity token: ES256 signature, `iss`, `aud`, `exp`.
#[cfg(not(target_arch = "wasm32"))]
pub fn verify_privy(token: &str, app_id: &str, key: &Es256Key) -> Result<PrivyClaims, ApiError> {
    use p256::ecdsa::{signature::Verifier, Signature};
    let t = es256_parts(token)?;
    let signature = Signature::from_slice(&t.signature).map_err(|_| ApiError::InvalidToken)?;
    key.verify(t.signed.as_bytes(), &signature).map_err(|_| ApiError::InvalidToken)?;
    privy_claims(&t, app_id)
}

/// Verifies a Privy access or identity token: ES256 signature (WebCrypto), `iss`, `aud`,
/// `exp`.
#[cfg(target_arch = "wasm32")]
pub async fn verify_privy(token: &str, app_id: &str, key: &Es256Key) -> Result<PrivyClaims, ApiError> {
    let t = es256_parts(token)?;
    if !webcrypto::verify(key, &t.signature, t.signed.as_bytes()).await? {
        return Err(ApiError::InvalidToken);
    }
    privy_claims(&t, app_id)
}

/// Parses an SPKI PEM public key (Privy's dashboard shows one).
#[cfg(not(target_arch = "wasm32"))]
pub fn es256_key_from_pem(pem: &str) -> Result<Es256Key, ApiError> {
    use p256::pkcs8::DecodePublicKey;
    Es256Key::from_public_key_pem(pem.trim()).map_err(|_| ApiError::Misconfigured { variable: "PRIVY_VERIFICATION_KEY" })
}

/// Reads an SPKI PEM public key (Privy's dashboard shows one): a P-256 key's DER, which
/// WebCrypto imports when a token is verified.
#[cfg(target_arch = "wasm32")]
pub fn es256_key_from_pem(pem: &str) -> Result<Es256Key, ApiError> {
    webcrypto::spki_from_pem(pem).ok_or(ApiError::Misconfigured { variable: "PRIVY_VERIFICATION_KEY" })
}

/// The uncompressed SEC1 point of a JWK (`kty: EC`, `crv: P-256`, base64url `x` and `y`).
fn jwk_point(x_b64: &str, y_b64: &str) -> Option<Vec<u8>> {
    let x = URL_SAFE_NO_PAD.decode(x_b64).ok()?;
    let y = URL_SAFE_NO_PAD.decode(y_b64).ok()?;
    if x.len() != 32 || y.len() != 32 {
        return None;
    }
    let mut sec1 = Vec::with_capacity(65);
    sec1.push(0x04);
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    Some(sec1)
}

/// A key from a JWK (`kty: EC`, `crv: P-256`, base64url `x` and `y`).
#[cfg(not(target_arch = "wasm32"))]
pub fn es256_key_from_jwk(x_b64: &str, y_b64: &str) -> Option<Es256Key> {
    Es256Key::from_sec1_bytes(&jwk_point(x_b64, y_b64)?).ok()
}

/// A key from a JWK (`kty: EC`, `crv: P-256`, base64url `x` and `y`); WebCrypto checks
/// that the point is on the curve when it imports it.
#[cfg(target_arch = "wasm32")]
pub fn es256_key_from_jwk(x_b64: &str, y_b64: &str) -> Option<Es256Key> {
    jwk_point(x_b64, y_b64).map(Es256Key::Point)
}

#[cfg(target_arch = "wasm32")]
mod webcrypto {
    use crate::error::ApiError;
    use worker::js_sys::{Array, Object, Reflect, Uint8Array};
    use worker::wasm_bindgen::{JsCast, JsValue};
    use worker::wasm_bindgen_futures::JsFuture;
    use worker::web_sys::CryptoKey;

    /// A P-256 public key as WebCrypto imports it.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Es256Key {
        /// SubjectPublicKeyInfo DER (from a PEM): a key that WebCrypto refuses is a
        /// configuration error.
        Spki(Vec<u8>),
        /// An uncompressed SEC1 point (from a JWKS): a key that WebCrypto refuses makes
        /// the token invalid.
        Point(Vec<u8>),
    }

    /// id-ecPublicKey (1.2.840.10045.2.1) and prime256v1 (1.2.840.10045.3.1.7), as DER.
    const EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

    pub fn spki_from_pem(pem: &str) -> Option<Es256Key> {
        use base64::{engine::general_purpose::STANDARD, Engine};
        let body = pem.trim().strip_prefix("-----BEGIN PUBLIC KEY-----")?.strip_suffix("-----END PUBLIC KEY-----")?;
        let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = STANDARD.decode(b64).ok()?;
        let has = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
        (der.first() == Some(&0x30) && has(EC_PUBLIC_KEY) && has(P256)).then_some(Es256Key::Spki(der))
    }

    fn algorithm(entries: &[(&str, &str)]) -> Object {
        let o = Object::new();
        for (k, v) in entries {
            let _ = Reflect::set(&o, &JsValue::from_str(k), &JsValue::from_str(v));
        }
        o
    }

    /// ECDSA P-256 with SHA-256 over `data`; `signature` is r‖s (64 bytes).
    pub async fn verify(key: &Es256Key, signature: &[u8], data: &[u8]) -> Result<bool, ApiError> {
        let subtle = crate::crypto::subtle()?;
        let (format, bytes, refused) = match key {
            Es256Key::Spki(der) => ("spki", der, ApiError::Misconfigured { variable: "PRIVY_VERIFICATION_KEY" }),
            Es256Key::Point(point) => ("raw", point, ApiError::InvalidToken),
        };
        let usages = Array::of1(&JsValue::from_str("verify"));
        let import = algorithm(&[("name", "ECDSA"), ("namedCurve", "P-256")]);
        let promise = subtle
            .import_key_with_object(format, &Uint8Array::from(bytes.as_slice()), &import, false, &usages)
            .map_err(|_| refused.clone())?;
        let crypto_key: CryptoKey = JsFuture::from(promise).await.map_err(|_| refused)?.unchecked_into();
        let params = algorithm(&[("name", "ECDSA"), ("hash", "SHA-256")]);
        let promise = subtle
            .verify_with_object_and_u8_array_and_u8_array(&params, &crypto_key, signature, data)
            .map_err(|_| ApiError::InvalidToken)?;
        let valid = JsFuture::from(promise).await.map_err(|_| ApiError::InvalidToken)?;
        Ok(valid.as_bool() == Some(true))
    }
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

    /// An HS256 token over raw header and claims bytes (what a typed helper cannot write).
    fn hs256_raw(header: &[u8], claims: &[u8], secret: &[u8]) -> String {
        use hmac::{Hmac, Mac};
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// Signed tokens that PostgREST could not read are refused here (401), not forwarded
    /// to fail there (502): bad UTF-8 or escapes in any field, depth past 128, a claim
    /// named twice, a header naming `alg` twice.
    #[test]
    fn signed_but_malformed_json_is_refused() {
        let sub = Uuid::new_v4();
        let h = br#"{"alg":"HS256","typ":"JWT"}"#;
        let good = format!(r#"{{"sub":"{sub}","role":"authenticated","aud":"authenticated","exp":{}"#, now() + 600);
        assert!(verify_session(&hs256_raw(h, format!("{good}}}").as_bytes(), SECRET.as_bytes()), SECRET).is_ok(), "control");
        let mut bad_utf8 = format!(r#"{good},"x":""#).into_bytes();
        bad_utf8.extend_from_slice(&[0xff, 0xfe, b'"', b'}']);
        let deep = format!(r#"{good},"x":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
        let surrogate = format!(r#"{good},"x":"\ud800"}}"#);
        let twice = format!(r#"{good},"sub":"{}"}}"#, Uuid::new_v4());
        for claims in [bad_utf8, deep.into_bytes(), surrogate.into_bytes(), twice.into_bytes()] {
            assert_eq!(verify_session(&hs256_raw(h, &claims, SECRET.as_bytes()), SECRET).unwrap_err(), ApiError::InvalidToken);
        }
        let claims = format!("{good}}}");
        let mut header_utf8 = br#"{"alg":"HS256","x":""#.to_vec();
        header_utf8.extend_from_slice(&[0xc3, b'"', b'}']);
        for header in [br#"{"alg":"HS256","alg":"none"}"#.to_vec(), header_utf8, br#"{"alg":"HS256","cty":"cbor"}"#.to_vec()] {
            assert_eq!(verify_session(&hs256_raw(&header, claims.as_bytes(), SECRET.as_bytes()), SECRET).unwrap_err(), ApiError::InvalidToken);
        }
        // Floats are NumericDates too (truncated); out of chrono's range is refused.
        let float_exp = format!(r#"{{"sub":"{sub}","role":"authenticated","aud":"authenticated","exp":{}.75}}"#, now() + 600);
        assert!(verify_session(&hs256_raw(h, float_exp.as_bytes(), SECRET.as_bytes()), SECRET).is_ok());
        let huge_exp = format!(r#"{{"sub":"{sub}","role":"authenticated","aud":"authenticated","exp":1e20}}"#);
        assert_eq!(verify_session(&hs256_raw(h, huge_exp.as_bytes(), SECRET.as_bytes()), SECRET).unwrap_err(), ApiError::InvalidToken);
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
