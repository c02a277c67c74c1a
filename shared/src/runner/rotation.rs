//! The re-encrypt pass of a `SECRETS_KEY` rotation (README: set the new key, keep the old
//! one as `SECRETS_KEY_PREVIOUS`, let the scheduler run, then drop it). Each tick reseals
//! up to [`BATCH`] secrets still under another key than `SECRETS_KEY`: opened with the
//! key their id names, sealed again under the current one (a fresh nonce, the same row id
//! as associated data), written back only if the row still holds what was read, so a PUT
//! in between wins. Without `SECRETS_KEY_PREVIOUS` no rotation is under way and the pass
//! makes no database call at all.
use crate::config::Config;
use crate::crypto;
use crate::db::{self, Db, Who};
use crate::error::ApiError;
use crate::log;
use serde_json::{json, Value};

/// Secrets resealed per tick at most.
pub const BATCH: i64 = 100;

/// Secrets resealed by this pass (0 when no rotation is under way); failures are logged
/// and retried by the next tick.
pub async fn reencrypt(config: &Config, request_id: &str) -> usize {
    let ring = match config.secrets_keys() {
        Ok(ring) if ring.previous.is_some() => ring,
        _ => return 0,
    };
    match pass(config, &ring, request_id).await {
        Ok(n) => n,
        Err(e) => {
            log::line(&json!({"level": "error", "request_id": request_id, "event": "secrets_reencrypt",
                "error": e.internal_detail().unwrap_or_else(|| e.code().into())}));
            0
        }
    }
}

async fn pass(config: &Config, ring: &crypto::KeyRing, request_id: &str) -> Result<usize, ApiError> {
    let db = Db::new(config);
    let stale = db.rpc(&db::StaleSecrets { key_id: ring.current.id.clone(), limit: BATCH }, Who::Service).await?;
    if stale.is_empty() {
        return Ok(0);
    }
    let mut rows = Vec::with_capacity(stale.len());
    for s in stale {
        match crypto::open(ring, s.id, &s.sealed).await {
            Ok(value) => rows.push(json!({"id": s.id, "old": s.sealed, "new": crypto::seal(ring, s.id, &value).await?})),
            // It stays as it is (its deliveries fail with the same reason): logged by id.
            Err(e) => log::line(&json!({"level": "error", "request_id": request_id, "event": "secrets_reencrypt",
                "error": e.internal_detail().unwrap_or_else(|| e.code().into())})),
        }
    }
    if rows.is_empty() {
        return Ok(0);
    }
    let done = db.rpc(&db::ReencryptSecrets { rows: Value::Array(rows) }, Who::Service).await?;
    Ok(done.get("reencrypted").and_then(Value::as_u64).unwrap_or(0) as usize)
}
