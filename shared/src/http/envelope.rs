//! The success and error envelopes of API.md §1, built in this one place.
use crate::clock;
use crate::error::ApiError;
use serde_json::{json, Map, Value};

pub fn success(data: Value, message: Option<&str>) -> Value {
    let mut body = Map::new();
    body.insert("success".into(), Value::Bool(true));
    body.insert("data".into(), data);
    if let Some(m) = message {
        body.insert("message".into(), Value::String(m.into()));
    }
    Value::Object(body)
}

pub fn error(err: &ApiError, request_id: &str) -> Value {
    let mut body = json!({
        "success": false,
        "error_code": err.code(),
        "message": err.message(),
        "timestamp": clock::rfc3339(clock::now()),
        "request_id": request_id,
    });
    if let Some(details) = err.details() {
        body["details"] = details;
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelope_has_every_field() {
        let b = error(&ApiError::validation("name", "Name is too long"), "rid");
        assert_eq!(b["success"], false);
        assert_eq!(b["error_code"], "validation_error");
        assert_eq!(b["details"]["field"], "name");
        assert_eq!(b["request_id"], "rid");
        assert!(b["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn success_envelope_omits_empty_message() {
        let b = success(json!({"a": 1}), None);
        assert_eq!(b, json!({"success": true, "data": {"a": 1}}));
    }
}
