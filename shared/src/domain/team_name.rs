//! A team's name: trimmed, 1–64 characters, no control characters. Any script is fine (a
//! label for people); the table checks the same.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct TeamName(String);

impl TeamName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        super::trimmed_name(raw, 64).map(TeamName)
    }
}

super::string_type!(TeamName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimmed_and_kept() {
        assert_eq!(TeamName::parse("  Core team ").unwrap().as_ref(), "Core team");
        assert!(TeamName::parse("Équipe Ω / ops").is_ok());
        assert!(TeamName::parse(&"x".repeat(64)).is_ok());
        assert!(TeamName::parse(&"é".repeat(64)).is_ok());
    }

    #[test]
    fn refused() {
        for bad in ["", "   ", "a\nb", "tab\there", "nul\u{0}", &"x".repeat(65), &"é".repeat(65)] {
            assert!(TeamName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn from_json() {
        assert_eq!(serde_json::from_str::<TeamName>("\" t \"").unwrap().as_ref(), "t");
        assert!(serde_json::from_str::<TeamName>("5").is_err());
        assert!(serde_json::from_str::<TeamName>("null").is_err());
    }
}
