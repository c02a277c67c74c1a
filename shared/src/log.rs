//! One JSON line per request (and per notable failure), with the request id.
//! Never a token, a key or a request body.
use serde_json::Value;

pub fn line(value: &Value) {
    #[cfg(target_arch = "wasm32")]
    worker::console_log!("{}", value);
    #[cfg(not(target_arch = "wasm32"))]
    println!("{value}");
}
