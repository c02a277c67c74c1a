//! The window of `insights`: the last hour, day or week (`1h`, `24h`, `7d`). The bucket
//! of each is the SQL function's (hangar_insights); the Worker only names the window.
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricsPeriod {
    Hour,
    Day,
    Week,
}

impl MetricsPeriod {
    pub const ALL: [MetricsPeriod; 3] = [MetricsPeriod::Hour, MetricsPeriod::Day, MetricsPeriod::Week];

    /// Absent: the last hour.
    pub fn parse(raw: Option<&str>) -> Result<MetricsPeriod, ApiError> {
        let Some(raw) = raw.map(str::trim) else {
            return Ok(MetricsPeriod::Hour);
        };
        Self::ALL.into_iter().find(|p| p.as_str() == raw).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|p| p.as_str()).collect();
            ApiError::validation("period", format!("`period` must be one of {}", names.join(", ")))
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MetricsPeriod::Hour => "1h",
            MetricsPeriod::Day => "24h",
            MetricsPeriod::Week => "7d",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::field_of;

    #[test]
    fn three_windows() {
        assert_eq!(MetricsPeriod::parse(None).unwrap(), MetricsPeriod::Hour);
        assert_eq!(MetricsPeriod::parse(Some("24h")).unwrap(), MetricsPeriod::Day);
        assert_eq!(MetricsPeriod::parse(Some(" 7d ")).unwrap().as_str(), "7d");
        for bad in ["", "1d", "2h", "7D", "week", "60m"] {
            assert_eq!(field_of(MetricsPeriod::parse(Some(bad)).unwrap_err()), "period", "{bad:?}");
        }
    }
}
