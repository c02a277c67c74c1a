//! A secret's name: `[A-Z_][A-Z0-9_]*`, at most 64 characters (it becomes the left side of
//! a `NAME='value'` line of /etc/hangar/secrets.env, which shells source). The rule is the
//! protocol's, so the Worker and the runner cannot disagree on it.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct SecretName(String);

impl SecretName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if protocol::payload::is_secret_name(raw) {
            Ok(SecretName(raw.to_string()))
        } else {
            Err("must be 1 to 64 characters of A-Z, 0-9 and _, not starting with a digit".into())
        }
    }
}

super::string_type!(SecretName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(SecretName::parse("DATABASE_URL").unwrap().as_ref(), "DATABASE_URL");
        assert!(SecretName::parse("_A9").is_ok());
        assert!(SecretName::parse(&"A".repeat(64)).is_ok());
        for bad in ["", "db_url", "9LIVES", "A-B", " A", "A\n", &"A".repeat(65)] {
            assert!(SecretName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
