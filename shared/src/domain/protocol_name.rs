//! A protocol's name: 1–64 characters of letters, digits, spaces and `._-`, not starting
//! with `.` or a space, not ending with a space ("My Protocol", API.md §3). The rule is the
//! wire contract's (`protocol::payload::is_protocol_name`), so the Worker, SQL and the
//! runner agree; the runner quotes the name where it becomes a file name.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "String")]
pub(crate) struct ProtocolName(String);

impl TryFrom<String> for ProtocolName {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        protocol::payload::is_protocol_name(&raw).then_some(ProtocolName(raw)).ok_or_else(|| {
            "must be 1 to 64 characters of letters, digits, spaces and ._- (not starting with . or a space, not ending with a space)".into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_may_hold_spaces_inside() {
        for good in ["My Protocol", "eth-1.2_x", "a b c", &"x".repeat(64)] {
            assert!(ProtocolName::try_from(good.to_string()).is_ok(), "{good}");
        }
        for bad in ["", ".hidden", " lead", "trail ", "tab\there", "é", &"x".repeat(65)] {
            assert!(ProtocolName::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }
}
