//! A billing period: a calendar month in UTC, written `YYYY-MM` (get-billing's `period`).
use crate::error::ApiError;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Month {
    year: u16,
    month: u8,
}

impl Month {
    /// `YYYY-MM`: four digits (1970 to 9999), a dash, two digits (01 to 12).
    pub fn parse(field: &str, raw: &str) -> Result<Month, ApiError> {
        let bad = || ApiError::validation(field, format!("`{field}` must be a month as YYYY-MM"));
        let raw = raw.trim();
        let b = raw.as_bytes();
        if b.len() != 7 || b[4] != b'-' || !b.iter().enumerate().all(|(i, c)| i == 4 || c.is_ascii_digit()) {
            return Err(bad());
        }
        let year: u16 = raw[..4].parse().map_err(|_| bad())?;
        let month: u8 = raw[5..].parse().map_err(|_| bad())?;
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }

    /// Its first day, as SQL reads a `date`: `YYYY-MM-01`.
    pub fn first_day(self) -> String {
        format!("{self}-01")
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::field_of;

    #[test]
    fn parses_year_and_month() {
        let m = Month::parse("period", "2026-11").unwrap();
        assert_eq!(m.to_string(), "2026-11");
        assert_eq!(m.first_day(), "2026-11-01");
        assert_eq!(Month::parse("period", " 1970-01 ").unwrap().first_day(), "1970-01-01");
        assert_eq!(Month::parse("period", "9999-12").unwrap().to_string(), "9999-12");
    }

    #[test]
    fn refuses_anything_else() {
        for bad in ["", "2026", "2026-1", "2026-13", "2026-00", "26-11", "2026/11", "2026-11-01", "+202-11", "1969-12", "２０２６-11", "2026-1a"] {
            assert_eq!(field_of(Month::parse("period", bad).unwrap_err()), "period", "{bad:?}");
        }
    }
}
