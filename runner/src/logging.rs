//! The runner's own log: one JSON object per line on stdout.
use serde_json::{Map, Value};

/// Prints `{"ts", "level", "event", ...fields}`. `fields` should be a JSON object.
pub fn event(level: &str, event: &str, fields: Value) {
    let mut line = Map::new();
    line.insert("ts".into(), Value::String(crate::job::now_rfc3339()));
    line.insert("level".into(), Value::String(level.into()));
    line.insert("event".into(), Value::String(event.into()));
    if let Value::Object(fields) = fields {
        line.extend(fields);
    }
    // println! (not a raw stdout handle) so that tests capture it.
    println!("{}", Value::Object(line));
}

#[macro_export]
macro_rules! log_event {
    ($level:expr, $event:expr, { $($json:tt)* }) => {
        $crate::logging::event($level, $event, serde_json::json!({ $($json)* }))
    };
}
