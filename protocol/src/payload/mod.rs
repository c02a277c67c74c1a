//! The bodies on the wire (API.md §5), as serde types in camelCase:
//! - [`Webhook`] (Worker → runner) with its [`Machine`] and its raw `params`;
//! - [`Params`]: the typed parameters of each [`Action`], the one reading of `jobs.params`
//!   (what SQL validates is exactly what the runner reads);
//! - [`Callback`] (runner → `runner-callback`).
//!
//! What a receiver parses refuses unknown fields, so that a field one side adds and the
//! other ignores cannot go unnoticed.

mod callback;
mod params;
mod secrets;
mod webhook;

pub use callback::{Callback, ClaimAnswer, JobStatus, LogLevel, LogLine, Outputs, ReportAnswer, truncate_utf8, MAX_MESSAGE};
pub use params::{is_label, is_protocol_name, is_uuid, is_word, keys_of, CommandParams, DeployParams, NoParams, Params, ParamsError};
pub use params::{ARGS_MAX, LABEL_MAX, TIMEOUT_SEC_MAX, WORD_MAX};
pub use webhook::{Action, Machine, Webhook, MAX_PORTS};
pub use secrets::{is_secret_name, is_secret_value, Secrets};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// Arbitrary JSON values, a few levels deep, with the contract's keys among the others.
    fn json() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("jobId".to_string()),
            Just("action".to_string()),
            Just("params".to_string()),
            Just("ports".to_string()),
            Just("status".to_string()),
            "[a-zA-Z]{1,8}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(key.clone(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_bytes(raw in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = serde_json::from_slice::<Webhook>(&raw);
            let _ = serde_json::from_slice::<Callback>(&raw);
        }

        #[test]
        fn parsers_never_panic_on_json(v in json(), a in 0usize..Action::ALL.len()) {
            let _ = serde_json::from_value::<Webhook>(v.clone());
            let _ = serde_json::from_value::<Callback>(v.clone());
            let _ = Params::parse(Action::ALL[a], &v);
        }
    }
}
