//! The statuses of API.md §3 (the database's CHECK lists the same), as a query filter.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MachineStatus {
    Provisioning,
    Starting,
    Running,
    Stopping,
    Stopped,
    Restarting,
    Terminating,
    Terminated,
    Error,
}

impl MachineStatus {
    pub const ALL: [MachineStatus; 9] = [
        MachineStatus::Provisioning,
        MachineStatus::Starting,
        MachineStatus::Running,
        MachineStatus::Stopping,
        MachineStatus::Stopped,
        MachineStatus::Restarting,
        MachineStatus::Terminating,
        MachineStatus::Terminated,
        MachineStatus::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MachineStatus::Provisioning => "provisioning",
            MachineStatus::Starting => "starting",
            MachineStatus::Running => "running",
            MachineStatus::Stopping => "stopping",
            MachineStatus::Stopped => "stopped",
            MachineStatus::Restarting => "restarting",
            MachineStatus::Terminating => "terminating",
            MachineStatus::Terminated => "terminated",
            MachineStatus::Error => "error",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips() {
        for s in MachineStatus::ALL {
            assert_eq!(MachineStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(MachineStatus::parse("paused"), None);
    }
}
