//! Money as the API and the database keep it: integer cents (API.md §4: never a float).
//! A balance may be negative (the meter charges what ran before it stops a machine), so
//! this is signed; amounts that may only be positive have their own types
//! (`CreditCents`). Reading one refuses 1.5, 1e3 and "100" alike, so a float that slipped
//! into a SQL outcome is an error, not a rounding.
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Cents(i64);

/// `$12.34`, `-$0.05`: for messages and log lines.
impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}${}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_only() {
        assert_eq!(serde_json::from_str::<Cents>("600").unwrap(), Cents(600));
        assert_eq!(serde_json::from_str::<Cents>("-315").unwrap(), Cents(-315));
        for bad in ["6.5", "6.0", "1e3", "\"600\"", "null", "99999999999999999999"] {
            assert!(serde_json::from_str::<Cents>(bad).is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&Cents(-7)).unwrap(), "-7");
    }

    #[test]
    fn displays_as_dollars() {
        assert_eq!(Cents(600).to_string(), "$6.00");
        assert_eq!(Cents(5).to_string(), "$0.05");
        assert_eq!(Cents(-315).to_string(), "-$3.15");
        assert_eq!(Cents(0).to_string(), "$0.00");
        assert_eq!(Cents(i64::MIN).to_string(), "-$92233720368547758.08");
    }
}
