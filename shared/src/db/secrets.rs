//! The SQL functions of secrets (migrations/20261201002100_secret_functions.sql), one
//! struct each. What goes in and out here is metadata and ciphertext only: a value is
//! sealed before `PutSecret` and opened after `JobSecrets`, in the Worker.
use super::rpc;
use crate::crypto::Sealed;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

rpc! {
    /// `secrets` GET (the caller's token: RLS decides what they read): `{secrets: Secret[]}`
    /// by scope and name, optionally filtered.
    ListSecrets => "hangar_list_secrets" -> super::Raw {
        scope: Option<String>,
        team_id: Option<Uuid>,
        project_id: Option<Uuid>,
        machine_id: Option<Uuid>,
    }
}

/// What a PUT came to: the Secret, and whether it is new (201) or replaced (200).
#[derive(Deserialize)]
pub(crate) struct SecretPut {
    pub secret: super::Raw,
    pub created: bool,
}

rpc! {
    /// `secrets` PUT (the service role: only the Worker stores a ciphertext), for the
    /// verified caller `account_id`, whose rights on the target the SQL function checks;
    /// `id` must be `private.secret_id` of its scope, target and name (the associated data
    /// the value was sealed with).
    PutSecret => "hangar_put_secret" -> SecretPut {
        account_id: Uuid,
        id: Uuid,
        name: String,
        team_id: Option<Uuid>,
        project_id: Option<Uuid>,
        machine_id: Option<Uuid>,
        ciphertext: String,
        nonce: String,
        key_id: String,
    }
}

rpc! {
    /// `secrets/{id}` DELETE (the caller's token): the Secret as it was.
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
    /// another key than `key_id`, by id, but none set aside as unopenable under `ring`.
    StaleSecrets => "hangar_stale_secrets" -> Vec<SealedSecret> { key_id: String, ring: String, limit: i64 }
}

rpc! {
    /// The pass's writes: `rows` `[{id, old: Sealed, new: Sealed}]` resealed, `unopenable`
    /// `[{id, old: Sealed}]` set aside under `ring`, each only if the row still holds `old`
    /// (a PUT meanwhile wins).
    ReencryptSecrets => "hangar_reencrypt_secrets" -> Reencrypted { rows: Value, unopenable: Value, ring: String }
}

/// What the pass's writes came to.
#[derive(Deserialize)]
pub(crate) struct Reencrypted {
    pub reencrypted: usize,
    pub unopenable: usize,
}
