//! `secrets` of a create or deploy webhook: the machine's secrets in scope, `NAME → value`,
//! which the Worker decrypts just before it signs the webhook and the runner writes to
//! `/etc/hangar/secrets.env` on the machine.
//!
//! The names are checked here, on both sides, because they become the left side of
//! `NAME='value'` lines of a file that shells source: a name is `[A-Z_][A-Z0-9_]*`, at
//! most 64 characters. The values are opaque text (no NUL: a shell variable cannot hold
//! one), at most [`VALUE_MAX`] bytes. `Debug` prints the names only, so that a job logged
//! with `{:?}` cannot leak a value; errors never quote a value either.
use serde::de::{Deserializer, Error as _, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Longest secret name.
pub const NAME_MAX: usize = 64;
/// Longest secret value, in bytes (UTF-8).
pub const VALUE_MAX: usize = 8 * 1024;

/// `[A-Z_][A-Z0-9_]*`, 1 to 64 characters.
pub fn is_secret_name(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=NAME_MAX).contains(&b.len())
        && (b[0].is_ascii_uppercase() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

/// At most [`VALUE_MAX`] bytes, no NUL.
pub fn is_secret_value(s: &str) -> bool {
    s.len() <= VALUE_MAX && !s.contains('\0')
}

/// The secrets of a job, by name (sorted, so the file is written in a stable order).
#[derive(Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Secrets(BTreeMap<String, String>);

impl Secrets {
    /// The map, each name and value checked (the first bad one is named, never its value).
    pub fn new(map: BTreeMap<String, String>) -> Result<Secrets, String> {
        for (name, value) in &map {
            if !is_secret_name(name) {
                return Err(format!("secret name {name:?} must be [A-Z_][A-Z0-9_]*, at most {NAME_MAX} characters"));
            }
            if !is_secret_value(value) {
                return Err(format!("the value of secret {name} must be at most {VALUE_MAX} bytes, without NUL"));
            }
        }
        Ok(Secrets(map))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// `(name, value)` in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({:?}, values redacted)", self.0.keys().collect::<Vec<_>>())
    }
}

impl<'de> Deserialize<'de> for Secrets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Map;
        impl<'de> Visitor<'de> for Map {
            type Value = Secrets;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of secret names to string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Secrets, A::Error> {
                let mut map = BTreeMap::new();
                while let Some(name) = access.next_key::<String>()? {
                    // A value that is not a string is refused without quoting it.
                    let value = access.next_value::<Opaque>().map_err(|_| A::Error::custom(format!("the value of secret {name} must be a string")))?;
                    if map.insert(name.clone(), value.0).is_some() {
                        return Err(A::Error::custom(format!("secret {name} is named twice")));
                    }
                }
                Secrets::new(map).map_err(A::Error::custom)
            }
        }
        d.deserialize_map(Map)
    }
}

/// A string read without ever echoing it in an error.
struct Opaque(String);

impl<'de> Deserialize<'de> for Opaque {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
                Ok(v)
            }
        }
        d.deserialize_string(Text).map(Opaque)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        for ok in ["A", "_", "DB_URL", "_X1", &"A".repeat(64)] {
            assert!(is_secret_name(ok), "{ok}");
        }
        for bad in ["", "a", "1A", "A-B", "A B", "A=B", "É", "A\n", &"A".repeat(65)] {
            assert!(!is_secret_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn values() {
        assert!(is_secret_value(""));
        assert!(is_secret_value("multi\nline 'quoted' $(x)"));
        assert!(is_secret_value(&"x".repeat(VALUE_MAX)));
        assert!(!is_secret_value(&"x".repeat(VALUE_MAX + 1)));
        assert!(!is_secret_value("a\0b"));
    }

    #[test]
    fn round_trips_and_never_shows_a_value() {
        let raw = json!({"B": "two", "A": "one-hunter2"});
        let s: Secrets = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(s.names().collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(serde_json::to_value(&s).unwrap(), raw);
        let debug = format!("{s:?}");
        assert!(debug.contains("\"A\"") && !debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn refusals_name_the_secret_not_the_value() {
        for (raw, needle) in [
            (json!({"bad-name": "hunter2"}), "bad-name"),
            (json!({"A": 12345}), "must be a string"),
            (json!({"A": "x".repeat(VALUE_MAX + 1)}), "at most"),
            (json!({"A": "hunter2\u{0}"}), "NUL"),
        ] {
            let e = serde_json::from_value::<Secrets>(raw).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
            assert!(!e.contains("hunter2") && !e.contains("12345"), "{e}");
        }
        let dup = serde_json::from_str::<Secrets>(r#"{"A":"1","A":"2"}"#).unwrap_err().to_string();
        assert!(dup.contains("named twice"), "{dup}");
    }

    #[test]
    fn a_webhook_carries_them_optionally_and_never_shows_them() {
        use crate::payload::Webhook;
        let mut body = json!({"jobId": "j", "action": "deploy", "attempt": 1, "callbackUrl": "http://x/",
            "params": {"deploymentId": "d", "name": "geth", "version": "1", "settings": {}},
            "machine": {"id": "m", "name": "n", "tier": "t", "cpu": 1, "memoryMb": 1, "diskGb": 1, "provider": "aws",
              "region": "r", "image": "i", "configuration": {}}});
        let without: Webhook = serde_json::from_value(body.clone()).unwrap();
        assert!(without.secrets.is_none());
        assert!(!serde_json::to_value(&without).unwrap().as_object().unwrap().contains_key("secrets"), "absent stays absent");
        body["secrets"] = json!({"DB_URL": "hunter2"});
        let with: Webhook = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(with.secrets.as_ref().unwrap().iter().collect::<Vec<_>>(), [("DB_URL", "hunter2")]);
        assert_eq!(serde_json::to_value(&with).unwrap()["secrets"], body["secrets"], "written back as received (what is signed)");
        assert!(!format!("{with:?}").contains("hunter2"));
        body["secrets"] = json!({"db-url": "hunter2"});
        let e = serde_json::from_value::<Webhook>(body).unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
