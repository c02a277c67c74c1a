//! Domain types parsed once at the edge: a value of these types is valid by construction.
//! Each deserializes through `TryFrom`, so a bad value is reported at its JSON path.
use serde::{Deserialize, Deserializer, Serialize};

mod machine;
pub use machine::*;

/// A body that must carry no fields (`{}` or nothing).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// A field of a PATCH body: absent (leave alone), `null` (clear) or a new value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            None => Patch::Null,
            Some(v) => Patch::Value(v),
        })
    }
}

impl<T: Serialize> Patch<T> {
    /// `{"set": bool, "value": …}` for SQL functions that must tell "clear" from "leave".
    pub fn to_sql(&self) -> serde_json::Value {
        match self {
            Patch::Absent => serde_json::json!({ "set": false }),
            Patch::Null => serde_json::json!({ "set": true, "value": null }),
            Patch::Value(v) => serde_json::json!({ "set": true, "value": v }),
        }
    }
}

/// A person's display name: trimmed, 1–64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct DisplayName(String);

impl TryFrom<String> for DisplayName {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be empty".into());
        }
        if name.chars().count() > 64 {
            return Err("must be at most 64 characters".into());
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(DisplayName(name.to_string()))
    }
}

/// An http(s) URL of at most 2048 characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct HttpUrl(String);

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

impl AsRef<str> for DisplayName {
    fn as_ref(&self) -> &str {
        &self.0
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
    fn display_names() {
        assert_eq!(DisplayName::try_from("  Ada ".to_string()).unwrap().as_ref(), "Ada");
        assert!(DisplayName::try_from("   ".to_string()).is_err());
        assert!(DisplayName::try_from("x".repeat(65)).is_err());
        assert!(DisplayName::try_from("é".repeat(64)).is_ok());
        assert!(DisplayName::try_from("a\nb".to_string()).is_err());
    }

    #[test]
    fn urls() {
        assert!(HttpUrl::try_from("https://example.com/a.png".to_string()).is_ok());
        assert!(HttpUrl::try_from("javascript:alert(1)".to_string()).is_err());
        assert!(HttpUrl::try_from("ftp://x/y".to_string()).is_err());
        assert!(HttpUrl::try_from("not a url".to_string()).is_err());
    }

    #[test]
    fn patch_tells_absent_from_null() {
        #[derive(Deserialize)]
        struct B {
            #[serde(default)]
            name: Patch<DisplayName>,
        }
        let b: B = serde_json::from_str("{}").unwrap();
        assert_eq!(b.name, Patch::Absent);
        let b: B = serde_json::from_str(r#"{"name":null}"#).unwrap();
        assert_eq!(b.name, Patch::Null);
        let b: B = serde_json::from_str(r#"{"name":" x "}"#).unwrap();
        assert_eq!(b.name.to_sql(), serde_json::json!({"set": true, "value": "x"}));
    }
}
