//! A machine size of API.md §3. Sizes and prices live in the `tiers` table, the one
//! source for the SQL that checks balances and builds the Machine JSON.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Tier {
    #[serde(rename = "dev.small")]
    DevSmall,
    #[serde(rename = "dev.medium")]
    DevMedium,
    #[serde(rename = "dev.large")]
    DevLarge,
    #[serde(rename = "dev.xlarge")]
    DevXlarge,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::DevSmall => "dev.small",
            Tier::DevMedium => "dev.medium",
            Tier::DevLarge => "dev.large",
            Tier::DevXlarge => "dev.xlarge",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_four_names() {
        let t: Tier = serde_json::from_str("\"dev.large\"").unwrap();
        assert_eq!(t, Tier::DevLarge);
        assert_eq!(t.as_str(), "dev.large");
        assert!(serde_json::from_str::<Tier>("\"dev.huge\"").is_err());
    }
}
