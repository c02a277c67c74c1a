//! A secret's value: a string of at most 8 KiB (UTF-8 bytes), without NUL (a shell variable
//! cannot hold one). It is never echoed: not in an error message (a value of the wrong type
//! is refused without quoting it, unlike serde's own message), not in `Debug`.
use protocol::payload::is_secret_value;
use serde::de::{Deserializer, Error as _};
use serde::Deserialize;
use serde_json::Value;

#[derive(Clone, PartialEq)]
pub(crate) struct SecretValue(String);

impl SecretValue {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue([redacted])")
    }
}

impl<'de> Deserialize<'de> for SecretValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) if is_secret_value(&s) => Ok(SecretValue(s)),
            Value::String(_) => Err(D::Error::custom("must be at most 8 KiB (UTF-8 bytes), without NUL")),
            _ => Err(D::Error::custom("must be a string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<SecretValue, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn values() {
        assert_eq!(parse(Value::from("postgres://u:p@h/db")).unwrap().expose(), "postgres://u:p@h/db");
        assert_eq!(parse(Value::from("")).unwrap().expose(), "");
        assert!(parse(Value::from("é".repeat(4096))).is_ok(), "8 KiB of bytes");
        assert!(parse(Value::from("é".repeat(4097))).is_err());
        assert!(parse(Value::from("a\0b")).is_err());
    }

    #[test]
    fn never_echoed() {
        for bad in [serde_json::json!(8675309), serde_json::json!(["hunter2"]), serde_json::json!({"k": "hunter2"})] {
            let e = parse(bad).unwrap_err();
            assert!(!e.contains("8675309") && !e.contains("hunter2"), "{e}");
        }
        let e = parse(Value::from(format!("hunter2{}", "x".repeat(9000)))).unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        assert_eq!(format!("{:?}", parse(Value::from("hunter2")).unwrap()), "SecretValue([redacted])");
    }
}
