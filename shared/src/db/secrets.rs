//! The SQL functions of secrets (migrations/20261201002100_secret_functions.sql), one
//! struct each. What goes in and out here is metadata and ciphertext only: a value is
//! sealed before `PutSecret` and opened after `JobSecrets`, in the Worker.
use super::rpc;
use crate::crypto::Sealed;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

rpc! {
    /// `secrets` GET: `{secrets: Secret[]}` by scope and name, optionally filtered.
    ListSecrets => "hangar_list_secrets" -> super::Raw { scope: Option<String>, project_id: Option<Uuid>, machine_id: Option<Uuid> }
}

/// What a PUT came to: the Secret, and whether it is new (201) or replaced (200).
#[derive(Deserialize)]
pub(crate) struct SecretPut {
    pub secret: super::Raw,
    pub created: bool,
}

rpc! {
    /// `secrets` PUT: the upsert of a sealed value; `id` must be `private.secret_id` of its
    /// scope, target and name (the associated data the value was sealed with).
    PutSecret => "hangar_put_secret" -> SecretPut {
        id: Uuid,
        name: String,
        project_id: Option<Uuid>,
        machine_id: Option<Uuid>,
        ciphertext: String,
        nonce: String,
        key_id: String,
    }
}

rpc! {
    /// `secrets/{id}` DELETE: the Secret as it was.
    DeleteSecret => "hangar_delete_secret" -> super::Raw { secret_id: Uuid }
}

/// A stored secret as the service role reads it: id, name and the sealed value.
#[derive(Deserialize)]
pub(crate) struct SealedSecret {
    pub id: Uuid,
    pub name: String,
    #[serde(flatten)]
    pub sealed: Sealed,
}

rpc! {
    /// Delivery of a create or deploy job (service role): the secrets in scope of its
    /// machine, the narrowest scope of each name (none for other actions).
    JobSecrets => "hangar_job_secrets" -> Vec<SealedSecret> { job_id: Uuid }
}

rpc! {
    /// The scheduler's re-encrypt pass (service role): up to `limit` secrets sealed under
    /// another key than `key_id`.
    StaleSecrets => "hangar_stale_secrets" -> Vec<SealedSecret> { key_id: String, limit: i64 }
}

rpc! {
    /// The pass's writes: `[{id, old: Sealed, new: Sealed}]`, each applied only if the row
    /// still holds `old` (a PUT meanwhile wins); `{reencrypted: n}`.
    ReencryptSecrets => "hangar_reencrypt_secrets" -> Value { rows: Value }
}
