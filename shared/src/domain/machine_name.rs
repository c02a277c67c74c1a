//! A machine's name: 1–63 characters of letters, digits, `-`, `_` and space; trimmed.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct MachineName(String);

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

super::string_type!(MachineName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimmed_and_kept() {
        assert_eq!(MachineName::parse("  web-1 ").unwrap().as_ref(), "web-1");
        assert!(MachineName::parse("a b_c-9").is_ok());
        assert!(MachineName::parse(&"x".repeat(63)).is_ok());
    }

    #[test]
    fn refused() {
        for bad in ["", "   ", "bad/name", "é", &"x".repeat(64)] {
            assert!(MachineName::parse(bad).is_err(), "{bad}");
        }
    }
}
