//! A load sample from a machine's agent (`record-metrics`, API.md §4): CPU, memory and
//! disk use in percent (0 to 100), bytes received and sent since its previous sample
//! (whole numbers, at least 0), and when it was taken (RFC 3339; absent: on arrival).
//! A body is one sample or an array of 1 to 100; a bad value is reported at its path
//! (`cpuUsage`, or `[3].cpuUsage` in an array). The table's CHECKs hold the same ranges.
use crate::error::ApiError;
use crate::http::parse_json;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How many samples one request may carry.
pub const MAX_SAMPLES: usize = 100;
/// How far ahead of the Worker's clock a sample may be dated (an agent's clock drifts).
const MAX_AHEAD: Duration = Duration::minutes(5);
/// How old a sample may be: the scheduler keeps 8 days, so older ones would be pruned.
const MAX_AGE: Duration = Duration::days(8);

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Sample {
    cpu_usage: Percent,
    memory_usage: Percent,
    disk_usage: Percent,
    network_in: ByteCount,
    network_out: ByteCount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recorded_at: Option<DateTime<Utc>>,
}

/// A share in percent: a finite number from 0 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "f64")]
pub(crate) struct Percent(f64);

impl TryFrom<f64> for Percent {
    type Error = String;
    fn try_from(n: f64) -> Result<Self, String> {
        (n.is_finite() && (0.0..=100.0).contains(&n)).then_some(Percent(n)).ok_or_else(|| "must be a number from 0 to 100".into())
    }
}

/// A number of bytes: a whole number from 0 to 2^63 − 1 (the column is a bigint).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "u64")]
pub(crate) struct ByteCount(u64);

impl TryFrom<u64> for ByteCount {
    type Error = String;
    fn try_from(n: u64) -> Result<Self, String> {
        i64::try_from(n).map(|_| ByteCount(n)).map_err(|_| "must be a whole number of bytes below 2^63".into())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    samples: Vec<Sample>,
}

impl Sample {
    /// A body: one sample, or an array of 1 to `MAX_SAMPLES`, each dated at most 5 minutes
    /// after and 8 days before `now`.
    pub fn parse_body(bytes: &[u8], now: DateTime<Utc>) -> Result<Vec<Sample>, ApiError> {
        let trimmed = bytes.iter().position(|b| !b.is_ascii_whitespace()).map(|i| bytes[i]);
        let (samples, prefix) = if trimmed == Some(b'[') {
            // parse_json takes objects only (its checks of depth and NUL come with it):
            // the array, once it is known to be one JSON value, is parsed as
            // `{"samples": […]}` and errors are named `[i].field`.
            serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|_| ApiError::InvalidJson)?;
            let mut wrapped = b"{\"samples\":".to_vec();
            wrapped.extend_from_slice(bytes);
            wrapped.push(b'}');
            let batch: Batch = parse_json(&wrapped).map_err(unwrap_path)?;
            (batch.samples, true)
        } else {
            (vec![parse_json::<Sample>(bytes)?], false)
        };
        if samples.is_empty() || samples.len() > MAX_SAMPLES {
            return Err(ApiError::validation("body", format!("Send one sample or an array of 1 to {MAX_SAMPLES}")));
        }
        for (i, s) in samples.iter().enumerate() {
            let Some(at) = s.recorded_at else { continue };
            if at > now + MAX_AHEAD || at < now - MAX_AGE {
                let field = if prefix { format!("[{i}].recordedAt") } else { "recordedAt".to_string() };
                return Err(ApiError::validation(field.clone(), format!("`{field}` must be within the last 8 days (and at most 5 minutes ahead)")));
            }
        }
        Ok(samples)
    }
}

/// `samples[3].cpuUsage` → `[3].cpuUsage`; `samples` (the array itself) → `body`.
fn unwrap_path(e: ApiError) -> ApiError {
    match e {
        ApiError::Validation { field, message } => {
            let inner = field.strip_prefix("samples").unwrap_or(&field).trim_start_matches('.');
            let inner = if inner.is_empty() { "body" } else { inner };
            let message = message.replace(&format!("`{field}`"), &format!("`{inner}`"));
            ApiError::validation(inner, message)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::field_of;

    const ONE: &str = r#"{"cpuUsage":12.5,"memoryUsage":40,"diskUsage":7,"networkIn":1024,"networkOut":0}"#;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z").unwrap().with_timezone(&Utc)
    }
    fn err(body: &str) -> String {
        field_of(Sample::parse_body(body.as_bytes(), now()).unwrap_err())
    }

    #[test]
    fn one_sample_or_an_array() {
        let one = Sample::parse_body(ONE.as_bytes(), now()).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].cpu_usage, Percent(12.5));
        assert_eq!(one[0].recorded_at, None);
        let many = format!("[{}]", vec![ONE; 100].join(","));
        assert_eq!(Sample::parse_body(many.as_bytes(), now()).unwrap().len(), 100);
        // What the agent of terraform/agent/cloud-init.yaml.tftpl sends.
        let agent = br#"{"cpuUsage":3.07,"memoryUsage":21.40,"diskUsage":12,"networkIn":184467,"networkOut":99321}"#;
        assert!(Sample::parse_body(agent, now()).is_ok());
        let dated = r#" [{"cpuUsage":0,"memoryUsage":100,"diskUsage":0,"networkIn":0,"networkOut":9223372036854775807,"recordedAt":"2026-11-30T11:59:00Z"}]"#;
        let s = Sample::parse_body(dated.as_bytes(), now()).unwrap();
        assert_eq!(serde_json::to_value(&s[0]).unwrap()["recordedAt"], "2026-11-30T11:59:00Z");
    }

    #[test]
    fn ranges_are_checked_at_their_path() {
        assert_eq!(err(&ONE.replace("12.5", "100.01")), "cpuUsage");
        assert_eq!(err(&ONE.replace("12.5", "-0.1")), "cpuUsage");
        assert_eq!(err(&ONE.replace("12.5", "\"12\"")), "cpuUsage");
        assert_eq!(err(&ONE.replace(":40", ":1e9")), "memoryUsage");
        assert_eq!(err(&ONE.replace(":7", ":null")), "diskUsage");
        assert_eq!(err(&ONE.replace("1024", "-1")), "networkIn");
        assert_eq!(err(&ONE.replace("1024", "10.5")), "networkIn");
        assert_eq!(err(&ONE.replace(":0}", ":9223372036854775808}")), "networkOut");
        assert_eq!(err(&ONE.replace("}", r#","load":1}"#)), "load");
        assert_eq!(err(r#"{"cpuUsage":1}"#), "memoryUsage");
        let third_bad = format!("[{ONE},{ONE},{}]", ONE.replace("12.5", "101"));
        assert_eq!(err(&third_bad), "[2].cpuUsage");
        assert_eq!(err(&format!("[{ONE},{{}}]")), "[1].cpuUsage");
        assert_eq!(err(&format!("[{ONE},5]")), "[1]");
    }

    #[test]
    fn counts_and_dates() {
        assert_eq!(err("[]"), "body");
        assert_eq!(err(&format!("[{}]", vec![ONE; 101].join(","))), "body");
        assert_eq!(err("5"), "body");
        assert_eq!(err("[[]]"), "[0]");
        // The array is parsed as one JSON value before it is wrapped.
        let smuggled = format!("[{ONE}]}},\"a\":{{");
        assert_eq!(Sample::parse_body(smuggled.as_bytes(), now()).unwrap_err(), ApiError::InvalidJson);
        let at = |t: &str| ONE.replace("}", &format!(r#","recordedAt":"{t}"}}"#));
        assert!(Sample::parse_body(at("2026-11-30T12:04:59Z").as_bytes(), now()).is_ok());
        assert!(Sample::parse_body(at("2026-11-22T12:00:01Z").as_bytes(), now()).is_ok());
        assert_eq!(err(&at("2026-11-30T12:05:01Z")), "recordedAt");
        assert_eq!(err(&at("2026-11-22T11:59:59Z")), "recordedAt");
        assert_eq!(err(&at("yesterday")), "recordedAt");
        assert_eq!(err(&format!("[{ONE},{}]", at("2020-01-01T00:00:00Z"))), "[1].recordedAt");
    }
}
