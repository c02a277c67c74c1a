//! A project's description: trimmed, at most 1000 characters, several lines allowed (no
//! other control characters). Empty means none: it is stored as null, like `null`.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct ProjectDescription(String);

impl ProjectDescription {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        if text.chars().count() > 1000 {
            return Err("must be at most 1000 characters".into());
        }
        if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err("must not contain control characters other than line breaks and tabs".into());
        }
        Ok(ProjectDescription(text.to_string()))
    }

    /// The text to store: `None` for an empty description.
    pub fn stored(&self) -> Option<&str> {
        (!self.0.is_empty()).then_some(self.0.as_str())
    }
}

super::string_type!(ProjectDescription);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept() {
        let d = ProjectDescription::parse("  Line one\n\tLine two  ").unwrap();
        assert_eq!(d.stored(), Some("Line one\n\tLine two"));
        assert!(ProjectDescription::parse(&"é".repeat(1000)).is_ok());
    }

    #[test]
    fn empty_is_none() {
        assert_eq!(ProjectDescription::parse("").unwrap().stored(), None);
        assert_eq!(ProjectDescription::parse("  \n ").unwrap().stored(), None);
    }

    #[test]
    fn refused() {
        for bad in [&"x".repeat(1001), "bell\u{7}", "esc\u{1b}[0m"] {
            assert!(ProjectDescription::parse(bad).is_err(), "{bad:?}");
        }
    }
}
