//! A command-line word (`send-command`): 1–1024 bytes, no NUL or newline
//! (`protocol::payload::is_word`, the runner's own rule).
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "String")]
pub(crate) struct Word(String);

impl TryFrom<String> for Word {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        protocol::payload::is_word(&raw)
            .then_some(Word(raw))
            .ok_or_else(|| "must be 1 to 1024 characters without NUL or newlines".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert!(Word::try_from("--flag=a b".to_string()).is_ok());
        for bad in ["", "a\nb", "a\rb", &"x".repeat(1025)] {
            assert!(Word::try_from(bad.to_string()).is_err(), "{bad:?}");
        }
    }
}
