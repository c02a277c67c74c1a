//! PostgREST access. Every state change is one SQL function (one round trip) that returns
//! an *outcome*: `{"ok": true, "data": …}` or `{"ok": false, "error": "<code>", …}`.
//! Returning refusals as data, rather than raising, keeps error handling identical on
//! PostgREST and postrust, whose error bodies differ.
use crate::config::Config;
use crate::error::ApiError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// An outcome's data that the Worker passes on as it came (copied, never parsed).
pub(crate) type Raw = Box<serde_json::value::RawValue>;

mod functions;
pub(crate) use functions::*;
mod billing;
pub(crate) use billing::*;
mod credits;
pub(crate) use credits::*;
mod projects;
pub(crate) use projects::*;
mod teams;
pub(crate) use teams::*;
mod pages;
pub(crate) use pages::*;
mod ssh_keys;
pub(crate) use ssh_keys::*;
mod secrets;
pub(crate) use secrets::*;

/// One SQL function: its name, its arguments (the implementing struct, each field sent as
/// the parameter `p_<field>`) and what the data of its outcome decodes to.
pub(crate) trait Rpc: Serialize {
    const FUNCTION: &'static str;
    type Output: DeserializeOwned;
}

/// Declares the argument struct of a SQL function (see `functions.rs`).
macro_rules! rpc {
    ($(#[$doc:meta])* $name:ident => $function:literal -> $output:ty { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        pub(crate) struct $name { $(pub $field: $ty),* }
        impl serde::Serialize for $name {
            #[allow(unused_mut)]
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = s.serialize_map(None)?;
                $( map.serialize_entry(concat!("p_", stringify!($field)), &self.$field)?; )*
                map.end()
            }
        }
        impl $crate::db::Rpc for $name {
            const FUNCTION: &'static str = $function;
            type Output = $output;
        }
    };
}
pub(crate) use rpc;

/// Whose rights a call runs with: a user's bearer token (RLS applies) or the service role.
pub(crate) enum Who<'a> {
    User(&'a str),
    Service,
}

pub(crate) struct Db<'a> {
    config: &'a Config,
}

/// The outcome's `data` is borrowed from the answer's text as it is, and decoded once into
/// what the caller wants (a `Box<RawValue>` output is copied without being parsed into a
/// tree): decoding into a `Value` and then converting it was a large part of a request's
/// CPU in `make bench`.
#[derive(Deserialize)]
struct Outcome<'a> {
    ok: bool,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Option<Value>,
}

impl<'a> Db<'a> {
    pub fn new(config: &'a Config) -> Self {
        Db { config }
    }

    /// The `apikey` and the bearer token of a call.
    fn credentials<'b>(&'b self, who: &Who<'b>) -> (&'b str, &'b str) {
        match who {
            Who::User(token) => (self.config.anon_key.expose(), token),
            Who::Service => (self.config.service_key.expose(), self.config.service_key.expose()),
        }
    }

    /// Calls the SQL function `R` (one PostgREST round trip) and decodes its outcome.
    pub async fn rpc<R: Rpc>(&self, args: &R, who: Who<'_>) -> Result<R::Output, ApiError> {
        self.call(R::FUNCTION, args, who).await
    }

    async fn call<T: DeserializeOwned>(&self, function: &str, args: &impl Serialize, who: Who<'_>) -> Result<T, ApiError> {
        let mut args = serde_json::to_value(args).map_err(|e| ApiError::Internal(format!("encode args: {e}")))?;
        // An absent argument takes the SQL default (NULL). Sending `null` instead is not
        // portable: postrust passes it as an empty string.
        if let Value::Object(map) = &mut args {
            map.retain(|_, v| !v.is_null());
        }
        let body = args.to_string();
        // Postgres cannot store U+0000; a value carrying one (from a signed token's claims,
        // say) would fail there, after the request was accepted.
        if crate::http::scan(body.as_bytes()).nul {
            return Err(ApiError::validation("body", "values must not contain the NUL character (\\u0000)"));
        }
        let (apikey, token) = self.credentials(&who);
        let url = format!("{}/rpc/{function}", self.config.postgrest_url);
        let (status, text) = transport::post(&url, apikey, token, body)
            .await
            .map_err(|e| ApiError::Unavailable(format!("postgrest {function}{e}")))?;
        if !(200..300).contains(&status) {
            return Err(upstream_failure(function, status, &text));
        }
        let outcome: Outcome = serde_json::from_str(&text)
            .map_err(|e| ApiError::Upstream(format!("postgrest {function}: undecodable outcome: {e}")))?;
        decode(function, outcome)
    }
}

/// One PostgREST request: `POST <url>` with PostgREST's headers and a JSON body; the
/// status and the body as text. An error names the stage (`": …"` for the request,
/// `" body: …"` for reading the answer), as it follows the function name in messages.
#[cfg(target_arch = "wasm32")]
mod transport {
    //! The runtime's `fetch` and `Response.arrayBuffer()` as they are: `worker::Fetch` reads
    //! the response body as a stream, chunk by chunk through Rust, and its `Response` reads
    //! `cf` (measured in `make bench`: the larger part of a request's CPU above TypeScript's).
    use worker::js_sys;
    use worker::wasm_bindgen::{JsCast, JsValue};
    use worker::wasm_bindgen_futures::JsFuture;
    use worker::web_sys::{Headers, RequestInit, Response, WorkerGlobalScope};

    fn message(e: JsValue) -> String {
        match e.dyn_ref::<js_sys::Error>() {
            Some(error) => String::from(error.message()),
            None => e.as_string().unwrap_or_else(|| format!("{e:?}")),
        }
    }

    /// A copy of this isolate's template for `apikey` (the anon or the service key, both
    /// fixed for the isolate's life), which holds every header but the caller's token: one
    /// `new Headers(template)` rather than a call per header, the key crossing over once.
    fn headers_for(apikey: &str) -> Result<Headers, JsValue> {
        thread_local!(static TEMPLATES: std::cell::RefCell<Vec<(String, Headers)>> = const { std::cell::RefCell::new(Vec::new()) });
        TEMPLATES.with(|templates| {
            let mut templates = templates.borrow_mut();
            if let Some((_, template)) = templates.iter().find(|(key, _)| key == apikey) {
                return Headers::new_with_headers(template);
            }
            let template = Headers::new()?;
            template.set("apikey", apikey)?;
            template.set("accept", "application/json")?;
            template.set("content-type", "application/json")?;
            let headers = Headers::new_with_headers(&template);
            // Two keys in practice; a bounded list all the same.
            if templates.len() < 4 {
                templates.push((apikey.to_string(), template));
            }
            headers
        })
    }

    pub async fn post(url: &str, apikey: &str, token: &str, body: String) -> Result<(u16, String), String> {
        let request = |e: JsValue| format!(": {}", message(e));
        let headers = headers_for(apikey).map_err(request)?;
        headers.set("authorization", &format!("Bearer {token}")).map_err(request)?;
        let init = RequestInit::new();
        init.set_method("POST");
        init.set_headers(&headers);
        init.set_body(&JsValue::from_str(&body));
        let global: WorkerGlobalScope = js_sys::global().unchecked_into();
        let response: Response = JsFuture::from(global.fetch_with_str_and_init(url, &init)).await.map_err(request)?.unchecked_into();
        let reading = |e: JsValue| format!(" body: {}", message(e));
        let bytes = JsFuture::from(response.array_buffer().map_err(reading)?).await.map_err(reading)?;
        // UTF-8 checked here, as before: a body that is not is an unreadable answer.
        let text = String::from_utf8(js_sys::Uint8Array::new(&bytes).to_vec()).map_err(|e| format!(" body: {e}"))?;
        Ok((response.status(), text))
    }
}

/// Native builds (the unit tests) have no PostgREST to call.
#[cfg(not(target_arch = "wasm32"))]
mod transport {
    pub async fn post(_url: &str, _apikey: &str, _token: &str, _body: String) -> Result<(u16, String), String> {
        Err(": PostgREST calls run only in the Worker".into())
    }
}

fn upstream_failure(function: &str, status: u16, body: &str) -> ApiError {
    // The body may hold SQL or internals: it goes to the log only, shortened.
    let snippet: String = body.chars().take(300).collect();
    let detail = format!("postgrest {function}: status {status}: {snippet}");
    // PostgREST's own codes for "no database connection" (PGRST000–003; postrust answers
    // PGRST500 when its pool times out): the database is down, not misbehaving.
    let code = serde_json::from_str::<Value>(body).ok().and_then(|v| v.get("code")?.as_str().map(str::to_string));
    let unreachable = matches!(code.as_deref(), Some("PGRST000" | "PGRST001" | "PGRST002" | "PGRST003" | "PGRST500"));
    match status {
        502..=504 => ApiError::Unavailable(detail),
        _ if unreachable => ApiError::Unavailable(detail),
        _ => ApiError::Upstream(detail),
    }
}

fn decode<T: DeserializeOwned>(function: &str, outcome: Outcome) -> Result<T, ApiError> {
    if outcome.ok {
        // Absent and `null` data both read as `null`, as the `Value` default did.
        return serde_json::from_str(outcome.data.map_or("null", RawValue::get))
            .map_err(|e| ApiError::Upstream(format!("postgrest {function}: unexpected data: {e}")));
    }
    let message = outcome.message.unwrap_or_default();
    let details = outcome.details.unwrap_or(Value::Null);
    let int = |key: &str| details.get(key).and_then(Value::as_i64).unwrap_or(0);
    Err(match outcome.error.as_deref().unwrap_or("") {
        "not_found" => ApiError::NotFound(if message.is_empty() { "Not found".into() } else { message }),
        "invalid_token" => ApiError::InvalidToken,
        "forbidden" => ApiError::Forbidden(message),
        "conflict" => ApiError::Conflict(message),
        "validation_error" => ApiError::Validation {
            field: details.get("field").and_then(Value::as_str).unwrap_or("body").to_string(),
            message,
        },
        "invalid_state_transition" => ApiError::InvalidStateTransition { message, details },
        "insufficient_credits" => ApiError::InsufficientCredits {
            balance_cents: int("balanceCents"),
            required_cents: int("requiredCents"),
        },
        "project_not_empty" => ApiError::ProjectNotEmpty { machine_count: int("machineCount") },
        "quota_exceeded" => ApiError::QuotaExceeded { message, limit: int("limit"), current: int("current") },
        // A limit the database holds (private.rate_refusal): 429 with its Retry-After.
        "rate_limited" => ApiError::RateLimited { retry_after_secs: int("retryAfterSeconds").clamp(1, 3600) as u32 },
        other => ApiError::Internal(format!("postgrest {function}: unknown outcome error {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Decodes an answer's text as `call` does.
    fn outcome<T: DeserializeOwned>(v: Value) -> Result<T, ApiError> {
        let text = v.to_string();
        decode("f", serde_json::from_str(&text).unwrap())
    }

    #[test]
    fn a_database_rate_limit_is_429_with_its_retry_after() {
        let e = outcome::<Value>(json!({"ok": false, "error": "rate_limited", "message": "Too many requests",
            "details": {"limit": 20, "current": 20, "retryAfterSeconds": 42}})).unwrap_err();
        assert_eq!(e.status(), 429);
        assert!(matches!(e, ApiError::RateLimited { retry_after_secs: 42 }), "{e:?}");
        let e = outcome::<Value>(json!({"ok": false, "error": "rate_limited", "details": {}})).unwrap_err();
        assert!(matches!(e, ApiError::RateLimited { retry_after_secs: 1 }), "{e:?}");
    }

    #[test]
    fn decodes_data_and_refusals() {
        let n: i64 = outcome(json!({"ok": true, "data": 5})).unwrap();
        assert_eq!(n, 5);
        let e = outcome::<Value>(json!({"ok": false, "error": "invalid_state_transition",
            "message": "Machine is stopped", "details": {"status": "stopped", "allowed": ["start"]}})).unwrap_err();
        assert_eq!(e.status(), 409);
        assert_eq!(e.details().unwrap()["allowed"][0], "start");
        let e = outcome::<Value>(json!({"ok": false, "error": "validation_error", "message": "m", "details": {"field": "projectId"}})).unwrap_err();
        assert_eq!(e, ApiError::validation("projectId", "m"));
        let e = outcome::<Value>(json!({"ok": false, "error": "weird"})).unwrap_err();
        assert_eq!(e.status(), 500);
    }

    #[test]
    fn data_decodes_from_the_text_once() {
        // Absent or null data is `null`, as before.
        assert_eq!(outcome::<Value>(json!({"ok": true})).unwrap(), Value::Null);
        assert_eq!(outcome::<Option<i64>>(json!({"ok": true, "data": null})).unwrap(), None);
        // Raw data is the answer's own text, byte for byte.
        let text = r#"{"ok":true,"data":{"b":1.50,"a":[true,"\u00e9"]}}"#;
        let raw: Box<RawValue> = decode("f", serde_json::from_str(text).unwrap()).unwrap();
        assert_eq!(raw.get(), r#"{"b":1.50,"a":[true,"\u00e9"]}"#);
        // Data of the wrong shape is an upstream error, not a panic.
        let e = outcome::<i64>(json!({"ok": true, "data": "five"})).unwrap_err();
        assert_eq!(e.status(), 502);
    }

    #[test]
    fn upstream_bodies_stay_out_of_messages() {
        let e = upstream_failure("f", 500, "ERROR: relation secret_table does not exist");
        assert_eq!(e.status(), 502);
        assert!(!e.message().contains("secret_table"));
        assert_eq!(upstream_failure("f", 503, "").status(), 503);
        assert_eq!(upstream_failure("f", 500, r#"{"code":"PGRST500","message":"Service temporarily unavailable"}"#).status(), 503);
        assert_eq!(upstream_failure("f", 500, r#"{"code":"XX000","message":"boom"}"#).status(), 502);
    }
}
