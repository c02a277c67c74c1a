//! A project's name: trimmed, 1–63 characters, no control characters. Any script is
//! fine (a project is a label for people, never a path or a hostname); the table checks
//! the same length.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct ProjectName(String);

impl ProjectName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        super::trimmed_name(raw, 63).map(ProjectName)
    }
}

super::string_type!(ProjectName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimmed_and_kept() {
        assert_eq!(ProjectName::parse("  Web shop ").unwrap().as_ref(), "Web shop");
        assert!(ProjectName::parse("Équipe #2 / staging").is_ok());
        assert!(ProjectName::parse(&"x".repeat(63)).is_ok());
        assert!(ProjectName::parse(&"é".repeat(63)).is_ok());
    }

    #[test]
    fn refused() {
        for bad in ["", "   ", "a\nb", "tab\there", &"x".repeat(64), &"é".repeat(64)] {
            assert!(ProjectName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn from_json() {
        assert_eq!(serde_json::from_str::<ProjectName>("\" p \"").unwrap().as_ref(), "p");
        assert!(serde_json::from_str::<ProjectName>("5").is_err());
        assert!(serde_json::from_str::<ProjectName>("\"\"").is_err());
    }
}
