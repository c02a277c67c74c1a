//! An event's type (`log-machine-event`): 1–64 characters of `[A-Za-z0-9._:-]`.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "String")]
pub(crate) struct EventType(String);

impl TryFrom<String> for EventType {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        let ok = super::is_word(&raw, 64, "._:-");
        ok.then_some(EventType(raw)).ok_or_else(|| "must be 1 to 64 characters of letters, digits and ._:-".into())
    }
}

impl AsRef<str> for EventType {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_only() {
        assert!(EventType::try_from("deploy.started:v2".to_string()).is_ok());
        assert!(EventType::try_from("no spaces".to_string()).is_err());
        assert!(EventType::try_from(String::new()).is_err());
    }
}
