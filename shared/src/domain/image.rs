//! An OS image reference: 1–128 characters of `[A-Za-z0-9._:/@-]`. Which images a machine
//! may boot is the operator's `ALLOWED_IMAGES` (config).
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct Image(String);

impl Image {
    pub const DEFAULT: &'static str = "ubuntu-22.04";

    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = super::is_word(raw, 128, "._:/@-");
        ok.then(|| Image(raw.to_string()))
            .ok_or_else(|| "must be 1 to 128 characters of letters, digits and ._:/@-".into())
    }
}

super::string_type!(Image);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert!(Image::parse("ubuntu-22.04").is_ok());
        assert!(Image::parse("ami-0abc/x:1@sha").is_ok());
        assert!(Image::parse("rm -rf").is_err());
    }
}
