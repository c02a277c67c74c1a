//! An amount of credits an operator adds (`add-credits`): integer cents, 1 to 10,000,000
//! ($100,000). Money is never a float: 5.5 or "5" is refused, as is anything out of range.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "i64")]
pub(crate) struct CreditCents(i64);

impl CreditCents {
    pub const MAX: i64 = 10_000_000;

    pub fn cents(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for CreditCents {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        (1..=Self::MAX)
            .contains(&n)
            .then_some(CreditCents(n))
            .ok_or_else(|| format!("must be an integer from 1 to {}", Self::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert_eq!(CreditCents::try_from(1).unwrap().cents(), 1);
        assert_eq!(CreditCents::try_from(10_000_000).unwrap().cents(), 10_000_000);
        for bad in [0, -1, 10_000_001, i64::MIN, i64::MAX] {
            assert!(CreditCents::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn integers_only() {
        assert_eq!(serde_json::from_str::<CreditCents>("250").unwrap().cents(), 250);
        for bad in ["2.5", "1e3", "\"250\"", "null", "99999999999999999999"] {
            assert!(serde_json::from_str::<CreditCents>(bad).is_err(), "{bad}");
        }
    }
}
