//! One JSON line per request (and per notable failure), with the request id.
//! Never a token, a key or a request body.
use serde::Serialize;
use serde_json::Value;

pub fn line(value: &Value) {
    emit(&value.to_string());
}

/// Writes one finished line to the Worker's log (stdout natively).
pub fn emit(text: &str) {
    #[cfg(target_arch = "wasm32")]
    worker::web_sys::console::log_1(&text.into());
    #[cfg(not(target_arch = "wasm32"))]
    println!("{text}");
}

/// A JSON object written straight into one string, field by field: the request's log line
/// and the envelopes. `make bench` measured the log line built as a `Value` (a map, then
/// printed) at about three times this. Fields are written in the order given, and callers
/// give them sorted by key, the order a `Value` object prints in (serde_json's map is a
/// BTreeMap here): the text is the same as before. Keys are literals (never escaped);
/// values are escaped by serde_json itself.
pub(crate) struct Object(Vec<u8>);

impl Object {
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(256);
        buf.push(b'{');
        Object(buf)
    }

    fn key(&mut self, key: &'static str) -> &mut Vec<u8> {
        debug_assert!(!key.contains(['"', '\\']) && !key.chars().any(char::is_control));
        if self.0.len() > 1 {
            self.0.push(b',');
        }
        self.0.push(b'"');
        self.0.extend_from_slice(key.as_bytes());
        self.0.extend_from_slice(b"\":");
        &mut self.0
    }

    /// Any serializable value (strings, numbers, booleans, a `Value`).
    pub fn field(&mut self, key: &'static str, value: &(impl Serialize + ?Sized)) -> &mut Self {
        let buf = self.key(key);
        let start = buf.len();
        // Into a Vec, serde_json fails only on values JSON cannot hold (a map with
        // non-string keys): written as null rather than leaving half a value.
        if serde_json::to_writer(&mut *buf, value).is_err() {
            buf.truncate(start);
            buf.extend_from_slice(b"null");
        }
        self
    }

    /// Text that is already JSON (a `RawValue`), copied as it is.
    pub fn raw(&mut self, key: &'static str, json: &str) -> &mut Self {
        self.key(key).extend_from_slice(json.as_bytes());
        self
    }

    pub fn finish(&mut self) -> String {
        let mut buf = std::mem::take(&mut self.0);
        buf.push(b'}');
        // Only UTF-8 went in (str and serde_json's output).
        String::from_utf8(buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_the_same_text_as_a_value() {
        let tricky = "quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} del \u{7f} é 🦀 </script>";
        let mut o = Object::new();
        o.field("a", "x").field("b", &-42i64).field("c", &true).field("d", tricky);
        o.raw("e", r#"{"k":[1,2.5,null]}"#).field("f", &json!({"z": 1, "a": [tricky]}));
        let text = o.finish();
        let expected = json!({"a": "x", "b": -42, "c": true, "d": tricky, "e": {"k": [1, 2.5, null]}, "f": {"z": 1, "a": [tricky]}});
        assert_eq!(text, expected.to_string());
        assert_eq!(Object::new().finish(), "{}");
    }

    #[test]
    fn a_value_json_cannot_hold_is_written_as_null() {
        let mut map = std::collections::HashMap::new();
        map.insert(vec![1u8], 1);
        let text = Object::new().field("a", &1).field("bad", &map).field("c", &2).finish();
        assert_eq!(text, r#"{"a":1,"bad":null,"c":2}"#);
    }
}
