//! Seed 000's machine sizes (`POST instances { cpu, memory, disk }`, API.md §3): `cpu` in
//! vCPUs, a number or a numeric string ("2", 0.5); `memory` in MiB and `disk` in GB, whole
//! numbers. All above zero and at most what a machine could ask for; the database picks the
//! smallest tier that has them (`private.tier_for_sizes`).
use serde::{Deserialize, Serialize};

/// A number of vCPUs: above 0, at most 1024, given as a JSON number or a numeric string.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "NumberOrString")]
pub(crate) struct Vcpus(f64);

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(f64),
    String(String),
}

impl TryFrom<NumberOrString> for Vcpus {
    type Error = String;
    fn try_from(raw: NumberOrString) -> Result<Self, String> {
        let n = match raw {
            NumberOrString::Number(n) => Some(n),
            NumberOrString::String(s) => s.trim().parse::<f64>().ok(),
        };
        n.filter(|n| n.is_finite() && *n > 0.0 && *n <= 1024.0)
            .map(Vcpus)
            .ok_or_else(|| "must be a number of vCPUs above 0 and at most 1024 (a number or a string such as \"2\")".into())
    }
}

impl Vcpus {
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A whole number of MiB or GB: 1 to 16,777,216 (16 TiB of MiB).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "i64")]
pub(crate) struct WholeSize(i64);

impl TryFrom<i64> for WholeSize {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        (1..=16_777_216).contains(&n).then_some(WholeSize(n)).ok_or_else(|| "must be a whole number from 1 to 16777216".into())
    }
}

impl WholeSize {
    pub fn get(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcpus_take_numbers_and_numeric_strings() {
        for (raw, n) in [("2", 2.0), ("0.5", 0.5), ("\"2\"", 2.0), ("\" 4 \"", 4.0), ("1024", 1024.0)] {
            assert_eq!(serde_json::from_str::<Vcpus>(raw).unwrap().get(), n, "{raw}");
        }
        for raw in ["0", "-1", "\"two\"", "\"\"", "1025", "true", "null", "[2]", "\"NaN\"", "\"inf\""] {
            assert!(serde_json::from_str::<Vcpus>(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn whole_sizes_are_positive_integers() {
        assert_eq!(serde_json::from_str::<WholeSize>("2048").unwrap().get(), 2048);
        for raw in ["0", "-5", "1.5", "\"2048\"", "16777217"] {
            assert!(serde_json::from_str::<WholeSize>(raw).is_err(), "{raw}");
        }
    }
}
