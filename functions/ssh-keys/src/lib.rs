//! /functions/v1/ssh-keys[/{id}] — the caller's SSH public keys: list, add (ed25519, ecdsa, rsa ≥ 2048; SHA256 fingerprints), delete.
shared::function!("ssh-keys" / {id}, [Get, Post, Delete], user => shared::api::ssh_keys::ssh_keys);
