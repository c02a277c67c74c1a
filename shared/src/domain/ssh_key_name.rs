//! The name of an SSH key on an account (`ssh-keys` POST): trimmed, 1–64 characters, no
//! control characters ("laptop", "CI deploy key"); the table checks the same.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct SshKeyName(String);

impl SshKeyName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        super::trimmed_name(raw, 64).map(SshKeyName)
    }
}

super::string_type!(SshKeyName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimmed_and_kept() {
        assert_eq!(SshKeyName::parse("  my laptop ").unwrap().as_ref(), "my laptop");
        assert!(SshKeyName::parse(&"é".repeat(64)).is_ok());
    }

    #[test]
    fn refused() {
        for bad in ["", "  ", "a\nb", "a\tb", &"x".repeat(65)] {
            assert!(SshKeyName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
