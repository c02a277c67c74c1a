//! The success and error envelopes of API.md §1, built in this one place. Written as text
//! around the reply's data (already JSON), with the keys in the order a `Value` printed them.
use crate::clock;
use crate::error::ApiError;
use crate::log::Object;
use serde_json::value::RawValue;

/// `{"data":…,"message":…,"nextCursor":…,"success":true}` (no `message` when there is
/// none; `nextCursor` only for a page whose cursor stands beside its data).
pub fn success(data: &RawValue, message: Option<&str>, next_cursor: Option<Option<&str>>) -> String {
    let mut body = Object::new();
    body.raw("data", data.get());
    if let Some(m) = message {
        body.field("message", m);
    }
    if let Some(cursor) = next_cursor {
        body.field("nextCursor", &cursor);
    }
    body.field("success", &true).finish()
}

/// The error envelope; `data` for a degraded answer that still carries data (health).
pub fn error(err: &ApiError, request_id: &str, data: Option<&RawValue>) -> String {
    let mut body = Object::new();
    if let Some(data) = data {
        body.raw("data", data.get());
    }
    if let Some(details) = err.details() {
        body.field("details", &details);
    }
    body.field("error_code", err.code())
        .field("message", &err.message())
        .field("request_id", request_id)
        .field("success", &false)
        .field("timestamp", &clock::rfc3339(clock::now()))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn raw(v: Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(&v).unwrap()
    }

    #[test]
    fn error_envelope_has_every_field() {
        let text = error(&ApiError::validation("name", "Name is too long"), "rid", None);
        let b: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(b["success"], false);
        assert_eq!(b["error_code"], "validation_error");
        assert_eq!(b["details"]["field"], "name");
        assert_eq!(b["request_id"], "rid");
        assert!(b["timestamp"].as_str().unwrap().ends_with('Z'));
        // The same text a `Value` prints: keys in order.
        assert_eq!(text, b.to_string());
    }

    #[test]
    fn error_envelope_may_carry_data() {
        let text = error(&ApiError::Unavailable("db".into()), "r\"id", Some(&raw(json!({"database": "down"}))));
        let b: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(b["data"]["database"], "down");
        assert_eq!(b["request_id"], "r\"id");
        assert!(!text.contains("db\""), "the internal detail stays out: {text}");
        assert_eq!(text, b.to_string());
    }

    #[test]
    fn success_envelope_omits_empty_message() {
        let text = success(&raw(json!({"a": 1})), None, None);
        assert_eq!(text, json!({"success": true, "data": {"a": 1}}).to_string());
        let text = success(&raw(json!([1, "x"])), Some("Machine is \"starting\""), None);
        assert_eq!(text, json!({"success": true, "data": [1, "x"], "message": "Machine is \"starting\""}).to_string());
    }

    #[test]
    fn a_page_may_carry_its_cursor_beside_the_data() {
        let text = success(&raw(json!([1])), None, Some(Some("abc")));
        assert_eq!(text, json!({"success": true, "data": [1], "nextCursor": "abc"}).to_string());
        let text = success(&raw(json!([])), Some("m"), Some(None));
        assert_eq!(text, json!({"success": true, "data": [], "message": "m", "nextCursor": null}).to_string());
    }
}
