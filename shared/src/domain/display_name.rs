//! A person's display name: trimmed, 1–64 characters, no control characters.
use serde::{Deserialize, Serialize};

/// A person's display name: trimmed, 1–64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct DisplayName(String);

impl TryFrom<String> for DisplayName {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be empty".into());
        }
        if name.chars().count() > 64 {
            return Err("must be at most 64 characters".into());
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(DisplayName(name.to_string()))
    }
}

impl AsRef<str> for DisplayName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(DisplayName::try_from("  Ada ".to_string()).unwrap().as_ref(), "Ada");
        assert!(DisplayName::try_from("   ".to_string()).is_err());
        assert!(DisplayName::try_from("x".repeat(65)).is_err());
        assert!(DisplayName::try_from("é".repeat(64)).is_ok());
        assert!(DisplayName::try_from("a\nb".to_string()).is_err());
    }
}
