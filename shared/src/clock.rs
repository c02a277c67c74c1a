//! Wall-clock time in UTC. `SystemTime::now()` panics on wasm32-unknown-unknown, so the
//! Worker build asks JavaScript's `Date`.
use chrono::{DateTime, TimeZone, Utc};

pub fn now() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(now_millis()).single().unwrap_or_default()
}

#[cfg(target_arch = "wasm32")]
pub fn now_millis() -> i64 {
    worker::js_sys::Date::now() as i64
}

#[cfg(not(target_arch = "wasm32"))]
pub fn now_millis() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// RFC 3339 with second precision and a `Z`, as the envelope's `timestamp`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
