//! An http(s) URL of at most 2048 characters (a photo URL).
use serde::{Deserialize, Serialize};

/// An http(s) URL of at most 2048 characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct HttpUrl(String);

impl TryFrom<String> for HttpUrl {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.len() > 2048 {
            return Err("must be at most 2048 characters".into());
        }
        let url = url::Url::parse(raw).map_err(|_| "must be an http(s) URL".to_string())?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err("must be an http(s) URL".into());
        }
        Ok(HttpUrl(raw.to_string()))
    }
}

impl AsRef<str> for HttpUrl {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(HttpUrl::try_from("https://example.com/a.png".to_string()).is_ok());
        assert!(HttpUrl::try_from("javascript:alert(1)".to_string()).is_err());
        assert!(HttpUrl::try_from("ftp://x/y".to_string()).is_err());
        assert!(HttpUrl::try_from("not a url".to_string()).is_err());
    }
}
