//! An event's level.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_levels() {
        assert_eq!(serde_json::from_str::<Level>("\"warn\"").unwrap(), Level::Warn);
        assert!(serde_json::from_str::<Level>("\"loud\"").is_err());
    }
}
