//! A cloud provider, and its default region.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Provider {
    Aws,
    Gcp,
    Azure,
}

impl Provider {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "aws" => Some(Provider::Aws),
            "gcp" => Some(Provider::Gcp),
            "azure" => Some(Provider::Azure),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Aws => "aws",
            Provider::Gcp => "gcp",
            Provider::Azure => "azure",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Provider::parse("GCP"), Some(Provider::Gcp));
        assert_eq!(Provider::parse("digitalocean"), None);
        assert_eq!(Provider::Azure.as_str(), "azure");
    }
}
