//! The SQL functions of the `ssh-keys` function (migrations/20261201001100_ssh_key_functions.sql),
//! one struct each, kept apart from `functions.rs` so that the resources built in
//! parallel do not edit one file.
use super::rpc;
use crate::runner::Delivery;
use serde::Deserialize;
use uuid::Uuid;

rpc! {
    /// `ssh-keys` GET: `{sshKeys: SshKey[]}`, newest first.
    ListSshKeys => "hangar_list_ssh_keys" -> super::Raw {}
}

rpc! {
    /// `ssh-keys` POST: the key line as parsed; SQL reads it again and computes its type,
    /// size and fingerprint itself (409 for a key already on the account).
    CreateSshKey => "hangar_create_ssh_key" -> super::Raw { name: String, public_key: String }
}

/// What a key's delete came to: the key as it was, the machines it came off, and the
/// authorize_keys jobs of the running ones (never shown to the caller: a payload carries keys).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SshKeyDeleted {
    pub ssh_key: super::Raw,
    pub machine_ids: Vec<Uuid>,
    pub deliveries: Vec<Delivery>,
}

rpc! {
    /// `ssh-keys/{id}` DELETE: 404 for a key that is not the caller's.
    DeleteSshKey => "hangar_delete_ssh_key" -> SshKeyDeleted { ssh_key_id: Uuid }
}
