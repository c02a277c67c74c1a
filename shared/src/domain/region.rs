//! A cloud region id: 2–32 lowercase letters, digits and `-`.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct Region(String);

impl Region {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = (2..=32).contains(&raw.len()) && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        ok.then(|| Region(raw.to_string()))
            .ok_or_else(|| "must be 2 to 32 lowercase letters, digits or '-'".into())
    }
}

super::string_type!(Region);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(Region::parse("us-east-1").is_ok());
        assert!(Region::parse("US East!").is_err());
        assert!(Region::parse("x").is_err());
    }
}
