//! A protocol's name or version: 1–64 characters of `[A-Za-z0-9._-]`, not starting with
//! `.` (the runner puts it in paths). The rule is the wire contract's
//! (`protocol::payload::is_label`), so the Worker, SQL and the runner agree.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "String")]
pub(crate) struct Label(String);

impl TryFrom<String> for Label {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        protocol::payload::is_label(&raw)
            .then_some(Label(raw))
            .ok_or_else(|| "must be 1 to 64 characters of letters, digits and ._- (not starting with .)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(Label::try_from("eth-1.2_x".to_string()).is_ok());
        for bad in ["", ".hidden", "a b", &"x".repeat(65)] {
            assert!(Label::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }
}
