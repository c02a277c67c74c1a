//! The description of a billing record an operator writes (`add-credits`): one line,
//! trimmed, 1–200 characters (the `billing_records` table checks the same length).
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct Memo(String);

impl Memo {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        if text.is_empty() || text.chars().count() > 200 {
            return Err("must be 1 to 200 characters".into());
        }
        if text.chars().any(char::is_control) {
            return Err("must be one line without control characters".into());
        }
        Ok(Memo(text.to_string()))
    }
}

super::string_type!(Memo);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memos() {
        assert_eq!(Memo::parse("  Refund for ticket #42 ").unwrap().as_ref(), "Refund for ticket #42");
        assert!(Memo::parse(&"é".repeat(200)).is_ok());
        for bad in ["", "  ", "two\nlines", &"x".repeat(201)] {
            assert!(Memo::parse(bad).is_err(), "{bad:?}");
        }
    }
}
