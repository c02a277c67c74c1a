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
        if !is_http_url(raw) {
            return Err("must be an http(s) URL".into());
        }
        Ok(HttpUrl(raw.to_string()))
    }
}

/// A WHATWG URL with an http(s) scheme and a host. In the Worker, the runtime's own `URL`
/// parses it: the `url` crate is built without Unicode tables there (IDNA is ASCII-only,
/// see shared/Cargo.toml), and a host such as `bücher.example` must still be accepted.
#[cfg(target_arch = "wasm32")]
fn is_http_url(raw: &str) -> bool {
    match worker::web_sys::Url::new(raw) {
        Ok(url) => matches!(url.protocol().as_str(), "http:" | "https:") && !url.hostname().is_empty(),
        Err(_) => false,
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn is_http_url(raw: &str) -> bool {
    url::Url::parse(raw).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
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
