//! The re-encrypt pass of a `SECRETS_KEY` rotation (README: set the new key, keep the old
//! one as `SECRETS_KEY_PREVIOUS`, let the scheduler run, then drop it). Each tick reseals
//! up to [`BATCH`] secrets still under another key than `SECRETS_KEY`: opened with the
//! key their id names, sealed again under the current one (a fresh nonce, the same row id
//! as associated data), written back only if the row still holds what was read, so a PUT
//! in between wins. A row that does not open (a key neither of the two, a ciphertext not
//! of its row) is set aside under this key ring and not read again while the ring is the
//! same: the pass walks the rows by id past any it cannot open, so they never hold up the
//! rest; `health` counts them. Without `SECRETS_KEY_PREVIOUS` no rotation is under way and
//! the pass makes no database call at all.
use crate::config::Config;
use crate::crypto;
use crate::db::{self, Db, Who};
use crate::error::ApiError;
use crate::log;
use serde_json::{json, Value};

/// Secrets read per tick at most.
pub const BATCH: i64 = 100;

/// What one pass came to.
#[derive(Debug, Default, PartialEq)]
pub struct Pass {
    /// Secrets resealed under `SECRETS_KEY`.
    pub reencrypted: usize,
    /// Secrets that did not open, set aside by this pass.
    pub unopenable: usize,
}

/// The pass of this tick (nothing when no rotation is under way); a failure is logged
/// and retried by the next tick.
pub async fn reencrypt(config: &Config, request_id: &str) -> Pass {
    let ring = match config.secrets_keys() {
        Ok(ring) if ring.previous.is_some() => ring,
        _ => return Pass::default(),
    };
    match pass(config, &ring, request_id).await {
        Ok(p) => p,
        Err(e) => {
            log::line(&json!({"level": "error", "request_id": request_id, "event": "secrets_reencrypt",
                "error": e.internal_detail().unwrap_or_else(|| e.code().into())}));
            Pass::default()
        }
    }
}

/// The ring a row is set aside under: `<SECRETS_KEY id>:<SECRETS_KEY_PREVIOUS id>`. Another
/// ring (an operator fixing `SECRETS_KEY_PREVIOUS`, say) tries the row again.
fn ring_id(ring: &crypto::KeyRing) -> String {
    format!("{}:{}", ring.current.id, ring.previous.as_ref().map_or("", |k| k.id.as_str()))
}

async fn pass(config: &Config, ring: &crypto::KeyRing, request_id: &str) -> Result<Pass, ApiError> {
    let db = Db::new(config);
    let ring_id = ring_id(ring);
    let stale = db.rpc(&db::StaleSecrets { key_id: ring.current.id.clone(), ring: ring_id.clone(), limit: BATCH }, Who::Service).await?;
    if stale.is_empty() {
        return Ok(Pass::default());
    }
    let (mut rows, mut unopenable) = (Vec::new(), Vec::new());
    for s in stale {
        match crypto::open(ring, s.id, &s.sealed).await {
            Ok(value) => rows.push(json!({"id": s.id, "old": s.sealed, "new": crypto::seal(ring, s.id, &value).await?})),
            // Its deliveries fail with the same reason until a PUT replaces it: logged by id.
            Err(e) => {
                log::line(&json!({"level": "error", "request_id": request_id, "event": "secrets_reencrypt",
                    "error": e.internal_detail().unwrap_or_else(|| e.code().into())}));
                unopenable.push(json!({"id": s.id, "old": s.sealed}));
            }
        }
    }
    let args = db::ReencryptSecrets { rows: Value::Array(rows), unopenable: Value::Array(unopenable), ring: ring_id };
    let done = db.rpc(&args, Who::Service).await?;
    Ok(Pass { reencrypted: done.reencrypted, unopenable: done.unopenable })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_id_names_both_keys() {
        let key = |b: u8| crypto::Key::parse(&base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [b; 32])).unwrap();
        let ring = crypto::KeyRing { current: key(1), previous: Some(key(2)) };
        let id = ring_id(&ring);
        assert_eq!(id, format!("{}:{}", key(1).id, key(2).id));
        // As the column's CHECK takes it.
        assert!(id.len() == 33 && id.chars().enumerate().all(|(i, c)| if i == 16 { c == ':' } else { c.is_ascii_hexdigit() }));
        assert_ne!(id, ring_id(&crypto::KeyRing { current: key(1), previous: Some(key(3)) }));
    }
}
