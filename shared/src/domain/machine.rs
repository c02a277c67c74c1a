//! Machine inputs: names, tiers, providers, regions, images, configuration, SSH keys, ids.
use base64::{engine::general_purpose::STANDARD, Engine};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! string_type {
    ($name:ident) => {
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(raw: String) -> Result<Self, String> {
                Self::parse(&raw)
            }
        }
    };
}

/// 1–63 characters: letters, digits, `-`, `_`, space; trimmed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct MachineName(String);
string_type!(MachineName);

impl MachineName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > 63 {
            return Err("must be 1 to 63 characters".into());
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ' ')) {
            return Err("may contain only letters, digits, '-', '_' and spaces".into());
        }
        Ok(MachineName(name.to_string()))
    }
}

/// A machine size of API.md §3. Sizes and prices live in the `tiers` table (one source
/// of truth for the SQL that checks balances and builds the Machine JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tier {
    #[serde(rename = "dev.small")]
    DevSmall,
    #[serde(rename = "dev.medium")]
    DevMedium,
    #[serde(rename = "dev.large")]
    DevLarge,
    #[serde(rename = "dev.xlarge")]
    DevXlarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Aws,
    Gcp,
    Azure,
}

impl Provider {
    pub fn parse(raw: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(raw.trim().to_ascii_lowercase())).ok()
    }
    pub fn default_region(self) -> &'static str {
        match self {
            Provider::Aws => "us-east-1",
            Provider::Gcp => "us-central1",
            Provider::Azure => "eastus",
        }
    }
}

/// A cloud region id: lowercase letters, digits and `-`, 2–32 characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct Region(String);
string_type!(Region);

impl Region {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = (2..=32).contains(&raw.len()) && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        ok.then(|| Region(raw.to_string()))
            .ok_or_else(|| "must be 2 to 32 lowercase letters, digits or '-'".into())
    }
}

/// An OS image reference: 1–128 characters of `[A-Za-z0-9._:/@-]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct Image(String);
string_type!(Image);

impl Image {
    pub const DEFAULT: &'static str = "ubuntu-22.04";
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = is_word(raw, 128, "._:/@-");
        ok.then(|| Image(raw.to_string()))
            .ok_or_else(|| "must be 1 to 128 characters of letters, digits and ._:/@-".into())
    }
}

/// A JSON object of at most 16 KiB and nesting depth 16, stored as given (a machine's
/// `configuration`, a deployment's `settings`). SQL checks the same limits. The one key
/// Hangar reads, `ports`, must be what the firewall can open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct Configuration(serde_json::Value);

impl Configuration {
    pub const MAX_DEPTH: usize = 16;
    pub const MAX_PORTS: usize = 20;
}

impl TryFrom<serde_json::Value> for Configuration {
    type Error = String;
    fn try_from(v: serde_json::Value) -> Result<Self, String> {
        if !v.is_object() {
            return Err("must be a JSON object".into());
        }
        if json_depth(&v) > Self::MAX_DEPTH {
            return Err(format!("may nest at most {} levels deep", Self::MAX_DEPTH));
        }
        if v.to_string().len() > 16 * 1024 {
            return Err("must be at most 16 KiB".into());
        }
        if let Some(ports) = v.get("ports") {
            let ok = ports.as_array().is_some_and(|list| {
                list.len() <= Self::MAX_PORTS
                    && list.iter().all(|p| p.as_u64().is_some_and(|n| (1..=65535).contains(&n)))
            });
            if !ok {
                return Err(format!("`ports` must be a list of at most {} port numbers (1 to 65535)", Self::MAX_PORTS));
            }
        }
        Ok(Configuration(v))
    }
}

/// How deeply a JSON value nests arrays and objects (a scalar is 0, `{}` is 1), as
/// SQL's `private.jsonb_depth` counts it.
pub fn json_depth(v: &serde_json::Value) -> usize {
    use serde_json::Value;
    match v {
        Value::Array(items) => 1 + items.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

impl Configuration {
    pub fn value(&self) -> &serde_json::Value {
        &self.0
    }
}

/// One OpenSSH public key line: `<type> <base64 blob> [comment]`, where the blob
/// decodes and names the same key type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct SshPublicKey(String);
string_type!(SshPublicKey);

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

/// 1 to `max` ASCII letters, digits and the characters of `punctuation`.
pub fn is_word(raw: &str, max: usize, punctuation: &str) -> bool {
    (1..=max).contains(&raw.len()) && raw.chars().all(|c| c.is_ascii_alphanumeric() || punctuation.contains(c))
}

/// A UUID field of a body (`machineId`, …), reported at its JSON path when malformed.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub struct Id(Uuid);

impl Id {
    pub fn uuid(self) -> Uuid {
        self.0
    }
}

impl TryFrom<String> for Id {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Uuid::parse_str(raw.trim()).map(Id).map_err(|_| "must be a UUID".into())
    }
}

/// A machine, job or project id in a query string or path: a UUID.
pub fn parse_id(field: &str, raw: Option<&str>) -> Result<Uuid, crate::ApiError> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| crate::ApiError::validation(field, format!("`{field}` is required")))?;
    Uuid::parse_str(raw).map_err(|_| crate::ApiError::validation(field, format!("`{field}` must be a UUID")))
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
    fn names() {
        assert_eq!(MachineName::parse("  web-1 ").unwrap().as_ref(), "web-1");
        assert!(MachineName::parse("a b_c-9").is_ok());
        for bad in ["", "   ", "bad/name", "é", &"x".repeat(64)] {
            assert!(MachineName::parse(bad).is_err(), "{bad}");
        }
        assert!(MachineName::parse(&"x".repeat(63)).is_ok());
    }

    #[test]
    fn tiers_parse() {
        let t: Tier = serde_json::from_str("\"dev.large\"").unwrap();
        assert_eq!(t, Tier::DevLarge);
        assert!(serde_json::from_str::<Tier>("\"dev.huge\"").is_err());
    }

    #[test]
    fn providers_regions_images() {
        assert_eq!(Provider::parse("GCP"), Some(Provider::Gcp));
        assert_eq!(Provider::parse("digitalocean"), None);
        assert!(Region::parse("us-east-1").is_ok());
        assert!(Region::parse("US East!").is_err());
        assert!(Image::parse("ubuntu-22.04").is_ok());
        assert!(Image::parse("ami-0abc/x:1@sha").is_ok());
        assert!(Image::parse("rm -rf").is_err());
    }

    #[test]
    fn configuration() {
        let nested = |n: usize| (0..n).fold(serde_json::json!(1), |v, _| serde_json::json!({ "a": v }));
        assert_eq!(json_depth(&nested(16)), 16);
        assert!(Configuration::try_from(nested(16)).is_ok());
        assert!(Configuration::try_from(nested(17)).is_err());
        assert!(Configuration::try_from(serde_json::json!({"ports": [22, 8080]})).is_ok());
        for bad in [serde_json::json!({"ports": [0]}), serde_json::json!({"ports": "80"}),
            serde_json::json!({"ports": [70000]}), serde_json::json!({"ports": (1..=21).collect::<Vec<_>>()})] {
            assert!(Configuration::try_from(bad).is_err());
        }
        assert!(Configuration::try_from(serde_json::json!({"a": 1})).is_ok());
        assert!(Configuration::try_from(serde_json::json!([1])).is_err());
        assert!(Configuration::try_from(serde_json::json!({"a": "x".repeat(17000)})).is_err());
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

    #[test]
    fn ids() {
        assert!(parse_id("machineId", Some("not-a-uuid")).is_err());
        assert!(parse_id("machineId", None).is_err());
        assert!(parse_id("machineId", Some("6e603a27-0dc1-484d-a15e-5a13e402ded0")).is_ok());
    }
}
