//! What a user asks of a machine: a transition (start, stop, restart, delete) or a job on
//! a running machine (deploy, command). SQL's transition table says what each may do.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Action {
    Start,
    Stop,
    Restart,
    Delete,
    Deploy,
    Command,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_sql_ones() {
        assert_eq!(serde_json::to_value(Action::Restart).unwrap(), "restart");
        assert_eq!(serde_json::to_value(Action::Command).unwrap(), "command");
    }
}
