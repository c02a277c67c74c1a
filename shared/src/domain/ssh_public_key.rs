//! One OpenSSH public key line: `<type> <base64 blob> [comment]`, where the blob decodes
//! and names the same key type.
use base64::{engine::general_purpose::STANDARD, Engine};
use serde::{Deserialize, Serialize};

/// One OpenSSH public key line: `<type> <base64 blob> [comment]`, where the blob
/// decodes and names the same key type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct SshPublicKey(String);
super::string_type!(SshPublicKey);

const SSH_KEY_TYPES: [&str; 7] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

impl SshPublicKey {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let line = raw.trim();
        let bad = || "must be an OpenSSH public key line (e.g. ssh-ed25519 AAAA… comment)".to_string();
        if line.len() > 8192 || line.contains('\n') {
            return Err(bad());
        }
        let mut parts = line.split_whitespace();
        let (kind, blob) = (parts.next().ok_or_else(bad)?, parts.next().ok_or_else(bad)?);
        if !SSH_KEY_TYPES.contains(&kind) {
            return Err(bad());
        }
        let bytes = STANDARD.decode(blob).map_err(|_| bad())?;
        // The blob starts with the key type as an SSH string: u32 length, then the name.
        let len = bytes.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize).ok_or_else(bad)?;
        if bytes.get(4..4 + len) != Some(kind.as_bytes()) || bytes.len() <= 4 + len {
            return Err(bad());
        }
        Ok(SshPublicKey(line.to_string()))
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    fn ssh_line(kind: &str, key_len: usize) -> String {
        let mut blob = (kind.len() as u32).to_be_bytes().to_vec();
        blob.extend_from_slice(kind.as_bytes());
        blob.extend_from_slice(&(key_len as u32).to_be_bytes());
        blob.extend(std::iter::repeat(7u8).take(key_len));
        format!("{kind} {} me@host", STANDARD.encode(blob))
    }

    #[test]
    fn ssh_keys() {
        assert!(SshPublicKey::parse(&ssh_line("ssh-ed25519", 32)).is_ok());
        assert!(SshPublicKey::parse(&ssh_line("ssh-rsa", 300)).is_ok());
        assert!(SshPublicKey::parse("hello").is_err());
        assert!(SshPublicKey::parse("ssh-rsa !!!").is_err());
        // The blob names another type than the line.
        let mismatched = ssh_line("ssh-ed25519", 32).replacen("ssh-ed25519", "ssh-rsa", 1);
        assert!(SshPublicKey::parse(&mismatched).is_err());
    }
}
