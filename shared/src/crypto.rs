//! Secret values at rest (API.md §7): AES-256-GCM under `SECRETS_KEY`, a random 96-bit
//! nonce per value and the secret's row id as associated data, so that a ciphertext copied
//! into another row does not decrypt there. In the Worker the cipher is WebCrypto's
//! (`crypto.subtle`, native code: no AES in the wasm); natively (the unit tests) it is the
//! `aes-gcm` crate, so the format is proven the same on both by the e2e suite, which also
//! decrypts what the Worker stored with Node's own AES-GCM.
//!
//! Rotation: every ciphertext is stored with the id of its key ([`key_id`], derived from the
//! key itself, so no second variable can disagree with it). `SECRETS_KEY_PREVIOUS` still
//! opens what the old key sealed; new values, and the scheduler's re-encrypt pass, seal
//! under `SECRETS_KEY`.
use crate::domain::SecretScope;
use crate::error::ApiError;
use base64::{engine::general_purpose::STANDARD, Engine};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Bytes of a key (AES-256), of a nonce (96 bits) and of the GCM tag.
pub const KEY_BYTES: usize = 32;
pub const NONCE_BYTES: usize = 12;

/// One AES-256 key and its id.
#[derive(Clone, PartialEq)]
pub struct Key {
    bytes: [u8; KEY_BYTES],
    pub id: String,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({}, [redacted])", self.id)
    }
}

/// The id stored beside each ciphertext: 16 hex digits of SHA-256 over a label and the
/// key (64 bits of a hash of a random 256-bit key reveal nothing usable about it).
pub fn key_id(bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"hangar-secrets-key-id:");
    h.update(bytes);
    hex::encode(&h.finalize()[..8])
}

impl Key {
    /// A key from its configured form: 32 bytes, base64 (standard or URL-safe, padding
    /// optional). `None` for anything else.
    pub fn parse(raw: &str) -> Option<Key> {
        use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
        let trimmed = raw.trim().trim_end_matches('=');
        let bytes = STANDARD_NO_PAD.decode(trimmed).or_else(|_| URL_SAFE_NO_PAD.decode(trimmed)).ok()?;
        let bytes: [u8; KEY_BYTES] = bytes.try_into().ok()?;
        Some(Key { id: key_id(&bytes), bytes })
    }
}

/// The keys that may be live at once: new values are sealed under `current`; a ciphertext
/// is opened with whichever key its id names.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyRing {
    pub current: Key,
    pub previous: Option<Key>,
}

impl KeyRing {
    fn by_id(&self, id: &str) -> Option<&Key> {
        std::iter::once(&self.current).chain(self.previous.as_ref()).find(|k| k.id == id)
    }
}

/// A sealed value as stored: base64 ciphertext (with its tag), base64 nonce, key id.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sealed {
    pub ciphertext: String,
    pub nonce: String,
    pub key_id: String,
}

/// Why a sealed value did not open. The message names the secret's id only: never the
/// value, the key or the ciphertext.
fn refused(id: Uuid, why: &str) -> ApiError {
    ApiError::Internal(format!("secret {id} could not be decrypted: {why}"))
}

/// Seals `plaintext` under the ring's current key, bound to the row `id`.
pub async fn seal(ring: &KeyRing, id: Uuid, plaintext: &str) -> Result<Sealed, ApiError> {
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::getrandom(&mut nonce).map_err(|e| ApiError::Internal(format!("getrandom: {e}")))?;
    let ciphertext = cipher::encrypt(&ring.current.bytes, &nonce, id.as_bytes(), plaintext.as_bytes()).await?;
    Ok(Sealed { ciphertext: STANDARD.encode(ciphertext), nonce: STANDARD.encode(nonce), key_id: ring.current.id.clone() })
}

/// Opens a value sealed for the row `id`, with the key its id names.
pub async fn open(ring: &KeyRing, id: Uuid, sealed: &Sealed) -> Result<String, ApiError> {
    let key = ring.by_id(&sealed.key_id).ok_or_else(|| {
        refused(id, &format!("its key {} is neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS", sealed.key_id))
    })?;
    let nonce: [u8; NONCE_BYTES] = STANDARD
        .decode(&sealed.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| refused(id, "malformed nonce"))?;
    let ciphertext = STANDARD.decode(&sealed.ciphertext).map_err(|_| refused(id, "malformed ciphertext"))?;
    let plain = cipher::decrypt(&key.bytes, &nonce, id.as_bytes(), &ciphertext)
        .await
        .map_err(|_| refused(id, "authentication failed (wrong key, or a ciphertext moved from another row)"))?;
    String::from_utf8(plain).map_err(|_| refused(id, "not UTF-8"))
}

/// The row id of a secret: derived from its scope, the id of what it belongs to (the
/// account, team, project or machine) and its name, as `private.secret_id` derives it in
/// SQL (which refuses any other). So the Worker knows the id, its associated data, before
/// the upsert, a re-put keeps the id, and an id cannot be chosen by a caller of /rpc.
/// A UUID of version 8 from the first 16 bytes of SHA-256 of
/// `hangar-secret-id:<scope>:<target>:<name>`.
pub fn secret_id(scope: &SecretScope, name: &str) -> Uuid {
    let digest = Sha256::digest(format!("hangar-secret-id:{}:{}:{name}", scope.name(), scope.target()).as_bytes());
    let bytes: [u8; 16] = digest[..16].try_into().expect("16 bytes");
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

#[cfg(target_arch = "wasm32")]
pub(crate) use cipher::subtle;

#[cfg(target_arch = "wasm32")]
mod cipher {
    //! AES-256-GCM through WebCrypto (128-bit tag, appended to the ciphertext).
    use crate::error::ApiError;
    use worker::js_sys::{Array, Object, Reflect, Uint8Array};
    use worker::wasm_bindgen::{JsCast, JsValue};
    use worker::wasm_bindgen_futures::JsFuture;
    use worker::web_sys::{Crypto, CryptoKey, SubtleCrypto};

    /// The runtime's `crypto.subtle` (also the JWT's ES256 verification, auth/jwt.rs).
    pub(crate) fn subtle() -> Result<SubtleCrypto, ApiError> {
        let crypto = Reflect::get(&worker::js_sys::global(), &JsValue::from_str("crypto"))
            .ok()
            .and_then(|c| c.dyn_into::<Crypto>().ok())
            .ok_or_else(|| ApiError::Internal("WebCrypto is not available".into()))?;
        Ok(crypto.subtle())
    }

    fn set(o: &Object, k: &str, v: &JsValue) {
        let _ = Reflect::set(o, &JsValue::from_str(k), v);
    }

    async fn key(subtle: &SubtleCrypto, bytes: &[u8], usage: &str) -> Result<CryptoKey, ApiError> {
        let algorithm = Object::new();
        set(&algorithm, "name", &JsValue::from_str("AES-GCM"));
        let usages = Array::of1(&JsValue::from_str(usage));
        let promise = subtle
            .import_key_with_object("raw", &Uint8Array::from(bytes), &algorithm, false, &usages)
            .map_err(|_| ApiError::Misconfigured { variable: "SECRETS_KEY" })?;
        Ok(JsFuture::from(promise).await.map_err(|_| ApiError::Misconfigured { variable: "SECRETS_KEY" })?.unchecked_into())
    }

    fn params(nonce: &[u8], aad: &[u8]) -> Object {
        let o = Object::new();
        set(&o, "name", &JsValue::from_str("AES-GCM"));
        set(&o, "iv", &Uint8Array::from(nonce).into());
        set(&o, "additionalData", &Uint8Array::from(aad).into());
        set(&o, "tagLength", &JsValue::from_f64(128.0));
        o
    }

    pub async fn encrypt(key_bytes: &[u8], nonce: &[u8], aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, ApiError> {
        let subtle = subtle()?;
        let key = key(&subtle, key_bytes, "encrypt").await?;
        let failed = |_| ApiError::Internal("AES-GCM encryption failed".into());
        let promise = subtle.encrypt_with_object_and_u8_array(&params(nonce, aad), &key, plain).map_err(failed)?;
        let out = JsFuture::from(promise).await.map_err(failed)?;
        Ok(Uint8Array::new(&out).to_vec())
    }

    /// `Err(())` when the tag does not verify (or WebCrypto refuses the input).
    pub async fn decrypt(key_bytes: &[u8], nonce: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, ()> {
        let subtle = subtle().map_err(|_| ())?;
        let key = key(&subtle, key_bytes, "decrypt").await.map_err(|_| ())?;
        let promise = subtle.decrypt_with_object_and_u8_array(&params(nonce, aad), &key, sealed).map_err(|_| ())?;
        let out = JsFuture::from(promise).await.map_err(|_| ())?;
        Ok(Uint8Array::new(&out).to_vec())
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod cipher {
    //! AES-256-GCM of the `aes-gcm` crate: the same format as WebCrypto's (ciphertext ‖ tag).
    use crate::error::ApiError;
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use aes_gcm::{Aes256Gcm, Nonce};

    pub async fn encrypt(key: &[u8], nonce: &[u8], aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, ApiError> {
        let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| ApiError::Misconfigured { variable: "SECRETS_KEY" })?;
        let nonce: [u8; super::NONCE_BYTES] = nonce.try_into().map_err(|_| ApiError::Internal("AES-GCM: a nonce is 12 bytes".into()))?;
        cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plain, aad })
            .map_err(|_| ApiError::Internal("AES-GCM encryption failed".into()))
    }

    pub async fn decrypt(key: &[u8], nonce: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, ()> {
        let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| ())?;
        let nonce: [u8; super::NONCE_BYTES] = nonce.try_into().map_err(|_| ())?;
        cipher.decrypt(&Nonce::from(nonce), Payload { msg: sealed, aad }).map_err(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The native cipher never waits: one poll finishes it.
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the native cipher does not wait"),
        }
    }

    fn key(byte: u8) -> Key {
        Key::parse(&STANDARD.encode([byte; KEY_BYTES])).unwrap()
    }

    fn ring() -> KeyRing {
        KeyRing { current: key(1), previous: Some(key(2)) }
    }

    #[test]
    fn keys_parse_from_32_bytes_of_base64_only() {
        let k = key(7);
        assert_eq!(k.id.len(), 16);
        assert_eq!(k.id, key_id(&[7; KEY_BYTES]));
        assert_ne!(k.id, key(8).id);
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xfb; KEY_BYTES]);
        assert_eq!(Key::parse(&url_safe).unwrap().id, key_id(&[0xfb; KEY_BYTES]));
        assert!(Key::parse(&STANDARD.encode([1u8; 31])).is_none());
        assert!(Key::parse(&STANDARD.encode([1u8; 33])).is_none());
        assert!(Key::parse("not base64!").is_none());
        assert!(!format!("{k:?}").contains(&STANDARD.encode([7u8; KEY_BYTES])));
    }

    #[test]
    fn seals_and_opens_bound_to_the_row() {
        let ring = ring();
        let (id, other) = (Uuid::new_v4(), Uuid::new_v4());
        let sealed = block_on(seal(&ring, id, "hunter2 'é'\n")).unwrap();
        assert_eq!(sealed.key_id, ring.current.id);
        assert_eq!(STANDARD.decode(&sealed.nonce).unwrap().len(), NONCE_BYTES);
        assert_eq!(STANDARD.decode(&sealed.ciphertext).unwrap().len(), "hunter2 'é'\n".len() + 16);
        assert!(!sealed.ciphertext.contains("hunter2"));
        assert_eq!(block_on(open(&ring, id, &sealed)).unwrap(), "hunter2 'é'\n");
        // Another row's id as associated data: refused, and the message holds no value.
        let e = block_on(open(&ring, other, &sealed)).unwrap_err();
        let detail = e.internal_detail().unwrap();
        assert!(detail.contains(&other.to_string()) && detail.contains("moved"), "{detail}");
        assert!(!detail.contains("hunter2") && !detail.contains(&sealed.ciphertext));
        // A fresh nonce per value.
        assert_ne!(block_on(seal(&ring, id, "x")).unwrap().nonce, block_on(seal(&ring, id, "x")).unwrap().nonce);
    }

    #[test]
    fn the_previous_key_still_opens_and_an_unknown_key_is_named() {
        let id = Uuid::new_v4();
        let old = KeyRing { current: key(2), previous: None };
        let sealed = block_on(seal(&old, id, "v")).unwrap();
        assert_eq!(block_on(open(&ring(), id, &sealed)).unwrap(), "v");
        let gone = KeyRing { current: key(1), previous: None };
        let e = block_on(open(&gone, id, &sealed)).unwrap_err().internal_detail().unwrap();
        assert!(e.contains(&key(2).id) && e.contains("SECRETS_KEY_PREVIOUS"), "{e}");
        // Same id, tampered bytes.
        let mut bad = block_on(seal(&ring(), id, "v")).unwrap();
        bad.ciphertext = STANDARD.encode(vec![0u8; 17]);
        assert!(block_on(open(&ring(), id, &bad)).is_err());
        bad.nonce = "AAAA".into();
        assert!(block_on(open(&ring(), id, &bad)).unwrap_err().internal_detail().unwrap().contains("nonce"));
    }

    #[test]
    fn secret_ids_are_stable_v8_uuids_per_scope_target_and_name() {
        let t = Uuid::parse_str("6e603a27-0dc1-484d-a15e-5a13e402ded0").unwrap();
        let a = secret_id(&SecretScope::Account(t), "DB_URL");
        assert_eq!(a, secret_id(&SecretScope::Account(t), "DB_URL"));
        assert_eq!(a.get_version_num(), 8);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        // Each scope has ids of its own, even for one target id and name.
        let scoped = [SecretScope::Team(t), SecretScope::Project(t), SecretScope::Machine(t)].map(|s| secret_id(&s, "DB_URL"));
        assert_eq!(std::collections::HashSet::from([a, scoped[0], scoped[1], scoped[2]]).len(), 4);
        assert_ne!(a, secret_id(&SecretScope::Account(t), "DB_URL2"));
        assert_ne!(a, secret_id(&SecretScope::Account(Uuid::new_v4()), "DB_URL"));
        // The SQL side (private.secret_id) derives the same: this is its expected output,
        // checked there by tests/e2e/secrets.
        for (scope, id) in [("account", a), ("team", scoped[0])] {
            let digest = Sha256::digest(format!("hangar-secret-id:{scope}:6e603a27-0dc1-484d-a15e-5a13e402ded0:DB_URL").as_bytes());
            let mut b: [u8; 16] = digest[..16].try_into().unwrap();
            b[6] = (b[6] & 0x0f) | 0x80;
            b[8] = (b[8] & 0x3f) | 0x80;
            assert_eq!(id.as_bytes(), &b, "{scope}");
        }
        // What `select private.secret_id('account', '6e60…ded0', 'DB_URL')` answers.
        assert_eq!(a.to_string(), "b05d4b23-9cb4-86eb-ba71-92fe57b504d2");
    }
}
