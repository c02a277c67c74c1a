//! `timeoutSec` of a command: 1..3600 seconds, 300 when absent.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "i64")]
pub(crate) struct TimeoutSec(i64);

impl TimeoutSec {
    pub const DEFAULT: TimeoutSec = TimeoutSec(300);

    pub fn seconds(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for TimeoutSec {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        (1..=3600).contains(&n).then_some(TimeoutSec(n)).ok_or_else(|| "must be from 1 to 3600".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(TimeoutSec::try_from(1).is_ok());
        assert!(TimeoutSec::try_from(3600).is_ok());
        assert!(TimeoutSec::try_from(0).is_err());
        assert!(TimeoutSec::try_from(3601).is_err());
    }
}
