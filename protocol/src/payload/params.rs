//! `params` of a job: the contract between what SQL writes into `jobs.params` (and
//! validates, for the Worker and for direct `/rpc` callers alike) and what the runner
//! reads. Each action has exactly one shape, unknown keys are refused by name:
//! - create, start, stop, restart, terminate, authorize_keys: `{}`;
//! - deploy: `{ deploymentId: uuid, name: protocol name, version: label, settings: object }`;
//! - command: `{ command: word, args: [word] (at most 64), timeoutSec: 1..=3600 }`.
//!
//! Why so strict: a runner that reads `params.x` or, failing that, `params.y` (or a flag
//! from params or from the machine) reads things nobody validated. One reading, here, that
//! both sides use, leaves nothing to read differently.
use super::webhook::Action;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// Longest protocol name or version.
pub const LABEL_MAX: usize = 64;
/// Longest command word (bytes).
pub const WORD_MAX: usize = 1024;
/// Most `args` of a command.
pub const ARGS_MAX: usize = 64;
/// Longest `timeoutSec`.
pub const TIMEOUT_SEC_MAX: u32 = 3600;

/// A protocol name or version: 1 to 64 of `[A-Za-z0-9._-]`, not starting with a dot (it
/// becomes the file name `/etc/hangar/protocols/<name>.json`).
pub fn is_label(s: &str) -> bool {
    (1..=LABEL_MAX).contains(&s.len())
        && !s.starts_with('.')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A protocol's name: a label that may also hold spaces, though not at either end ("My
/// Protocol"; API.md §3). The runner quotes it wherever it becomes a path.
pub fn is_protocol_name(s: &str) -> bool {
    !s.starts_with(' ') && !s.ends_with(' ') && is_label(&s.replace(' ', "_"))
}

/// A command word: 1 to 1024 bytes, no NUL, CR or LF.
pub fn is_word(s: &str) -> bool {
    (1..=WORD_MAX).contains(&s.len()) && !s.contains(['\0', '\n', '\r'])
}

/// A UUID in its 8-4-4-4-12 hex form (either case).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36 && b.iter().enumerate().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

/// The params of create, start, stop, restart and terminate: none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeployParams {
    /// The `protocol_deployments` row this job deploys.
    pub deployment_id: String,
    pub name: String,
    pub version: String,
    pub settings: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommandParams {
    pub command: String,
    pub args: Vec<String>,
    pub timeout_sec: u32,
}

/// The typed params of a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Params {
    Lifecycle,
    Deploy(DeployParams),
    Command(CommandParams),
    /// authorize_keys: `{}`; the keys are the machine's (`machine.sshAuthorizedKeys`).
    AuthorizeKeys,
}

/// Why params do not fit their action; `key` is the offending key when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamsError {
    pub action: Action,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid params for {}: {}", self.action, self.message)
    }
}

impl std::error::Error for ParamsError {}

/// The keys each action takes, in the order they are checked.
pub fn keys_of(action: Action) -> &'static [&'static str] {
    match action {
        Action::Deploy => &["deploymentId", "name", "version", "settings"],
        Action::Command => &["command", "args", "timeoutSec"],
        _ => &[],
    }
}

struct Reader<'a> {
    action: Action,
    map: &'a Map<String, Value>,
}

impl Reader<'_> {
    fn error(&self, key: &str, message: String) -> ParamsError {
        ParamsError { action: self.action, key: Some(key.to_string()), message }
    }

    fn get<T: DeserializeOwned>(&self, key: &str, what: &str, ok: impl Fn(&T) -> bool) -> Result<T, ParamsError> {
        let raw = self.map.get(key).ok_or_else(|| self.error(key, format!("params.{key} is required ({what})")))?;
        serde_json::from_value::<T>(raw.clone())
            .ok()
            .filter(|v| ok(v))
            .ok_or_else(|| self.error(key, format!("params.{key} must be {what}")))
    }
}

impl Params {
    /// Reads `raw` as the params of `action`: an object with exactly the action's keys.
    pub fn parse(action: Action, raw: &Value) -> Result<Params, ParamsError> {
        let Some(map) = raw.as_object() else {
            return Err(ParamsError { action, key: None, message: "params must be a JSON object".into() });
        };
        let allowed = keys_of(action);
        if let Some(key) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            let takes = if allowed.is_empty() { "it takes none".to_string() } else { format!("it takes {}", allowed.join(", ")) };
            let message = format!("params.{key} is not a parameter of {action} ({takes})");
            return Err(ParamsError { action, key: Some(key.clone()), message });
        }
        let r = Reader { action, map };
        Ok(match action {
            Action::Deploy => Params::Deploy(DeployParams {
                deployment_id: r.get("deploymentId", "a UUID", |s: &String| is_uuid(s))?,
                name: r.get("name", "1 to 64 characters of letters, digits, spaces and ._- not starting with a dot or a space, not ending with a space", |s: &String| is_protocol_name(s))?,
                version: r.get("version", "1 to 64 characters of letters, digits and ._- not starting with a dot", |s: &String| is_label(s))?,
                settings: r.get("settings", "a JSON object", |_: &Map<String, Value>| true)?,
            }),
            Action::Command => {
                let command = r.get("command", "1 to 1024 bytes without NUL or newlines", |s: &String| is_word(s))?;
                let args = r.get("args", "an array of at most 64 words of 1 to 1024 bytes without NUL or newlines", |a: &Vec<String>| {
                    a.len() <= ARGS_MAX && a.iter().all(|w| is_word(w))
                })?;
                let timeout_sec = r.get("timeoutSec", "an integer from 1 to 3600", |n: &u32| (1..=TIMEOUT_SEC_MAX).contains(n))?;
                Params::Command(CommandParams { command, args, timeout_sec })
            }
            Action::AuthorizeKeys => Params::AuthorizeKeys,
            _ => Params::Lifecycle,
        })
    }

    /// The JSON to store in `jobs.params` (what [`Params::parse`] reads back).
    pub fn to_value(&self) -> Value {
        match self {
            Params::Lifecycle | Params::AuthorizeKeys => Value::Object(Map::new()),
            Params::Deploy(d) => serde_json::to_value(d).expect("serialisable"),
            Params::Command(c) => serde_json::to_value(c).expect("serialisable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const UUID: &str = "6e603a27-0dc1-484d-a15e-5a13e402ded0";

    fn deploy() -> Value {
        json!({"deploymentId": UUID, "name": "ethereum", "version": "1.14.0", "settings": {"network": "holesky"}})
    }

    fn command() -> Value {
        json!({"command": "uname", "args": ["-a"], "timeoutSec": 30})
    }

    fn err(action: Action, raw: Value) -> ParamsError {
        Params::parse(action, &raw).unwrap_err()
    }

    #[test]
    fn the_contract() {
        for a in [Action::Create, Action::Start, Action::Stop, Action::Restart, Action::Terminate] {
            assert_eq!(Params::parse(a, &json!({})), Ok(Params::Lifecycle));
        }
        let Ok(Params::Deploy(d)) = Params::parse(Action::Deploy, &deploy()) else { panic!() };
        assert_eq!((d.deployment_id.as_str(), d.name.as_str(), d.version.as_str()), (UUID, "ethereum", "1.14.0"));
        assert_eq!(Value::Object(d.settings.clone()), json!({"network": "holesky"}));
        let Ok(Params::Command(c)) = Params::parse(Action::Command, &command()) else { panic!() };
        assert_eq!(c, CommandParams { command: "uname".into(), args: vec!["-a".into()], timeout_sec: 30 });
        // What is written is what is read, and the derived (serde) reading agrees.
        for (a, raw) in [(Action::Deploy, deploy()), (Action::Command, command()), (Action::Stop, json!({}))] {
            let p = Params::parse(a, &raw).unwrap();
            assert_eq!(p.to_value(), raw);
        }
        assert_eq!(serde_json::from_value::<DeployParams>(deploy()).unwrap(), d);
        assert_eq!(serde_json::from_value::<CommandParams>(command()).unwrap(), c);
        assert!(serde_json::from_value::<NoParams>(json!({"x": 1})).is_err());
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = err(Action::Create, json!({"simulateFailure": true}));
        assert_eq!(e.key.as_deref(), Some("simulateFailure"));
        assert_eq!(e.to_string(), "invalid params for create: params.simulateFailure is not a parameter of create (it takes none)");
        let mut d = deploy();
        d["protocolConfig"] = json!({});
        let e = err(Action::Deploy, d);
        assert_eq!(e.key.as_deref(), Some("protocolConfig"));
        assert!(e.message.contains("it takes deploymentId, name, version, settings"), "{e}");
        let mut c = command();
        c["shell"] = json!(true);
        assert_eq!(err(Action::Command, c).key.as_deref(), Some("shell"));
    }

    #[test]
    fn missing_and_invalid_values_are_named() {
        assert_eq!(err(Action::Stop, json!(null)).message, "params must be a JSON object");
        assert_eq!(err(Action::Stop, json!([])).key, None);
        let cases = [
            (Action::Deploy, "deploymentId", json!(null), "is required"),
            (Action::Deploy, "deploymentId", json!("not-a-uuid"), "must be a UUID"),
            (Action::Deploy, "name", json!(".."), "must be 1 to 64"),
            (Action::Deploy, "name", json!("a/b"), "must be 1 to 64"),
            (Action::Deploy, "version", json!(1), "must be 1 to 64"),
            (Action::Deploy, "settings", json!([]), "must be a JSON object"),
            (Action::Deploy, "settings", json!(null), "must be a JSON object"),
            (Action::Command, "command", json!(""), "must be 1 to 1024"),
            (Action::Command, "command", json!("a\nb"), "must be 1 to 1024"),
            (Action::Command, "args", json!("-a"), "must be an array"),
            (Action::Command, "args", json!([1]), "must be an array"),
            (Action::Command, "args", json!(vec!["x"; 65]), "must be an array"),
            (Action::Command, "timeoutSec", json!(0), "from 1 to 3600"),
            (Action::Command, "timeoutSec", json!(3601), "from 1 to 3600"),
            (Action::Command, "timeoutSec", json!("30"), "from 1 to 3600"),
            (Action::Command, "timeoutSec", json!(1.5), "from 1 to 3600"),
        ];
        for (action, key, value, says) in cases {
            let mut raw = if action == Action::Deploy { deploy() } else { command() };
            if value.is_null() && says == "is required" {
                raw.as_object_mut().unwrap().remove(key);
            } else {
                raw[key] = value.clone();
            }
            let e = err(action, raw);
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert!(e.message.starts_with(&format!("params.{key} ")) && e.message.contains(says), "{key}={value}: {e}");
        }
    }

    #[test]
    fn checks() {
        assert!(is_uuid(UUID) && is_uuid(&UUID.to_uppercase()));
        assert!(!is_uuid(&UUID[1..]) && !is_uuid(&UUID.replace('-', "x")) && !is_uuid(&format!("{}g", &UUID[..35])));
        assert!(is_label("eth-2.0_x") && is_label(&"a".repeat(64)));
        assert!(!is_label(".hidden") && !is_label("") && !is_label(&"a".repeat(65)) && !is_label("é"));
        assert!(is_protocol_name("My Protocol") && is_protocol_name("eth") && !is_label("My Protocol"));
        assert!(!is_protocol_name(" lead") && !is_protocol_name("trail ") && !is_protocol_name(". x") && !is_protocol_name(""));
        assert!(is_word("it's; rm -rf /") && !is_word("") && !is_word("\0") && !is_word(&"a".repeat(1025)));
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_refuses_every_foreign_key(key in "[A-Za-z]{1,12}", value in prop_oneof![Just(json!(null)), any::<i64>().prop_map(|n| json!(n)), ".{0,20}".prop_map(|s| json!(s))],
                                                            a in 0usize..7) {
            let action = Action::ALL[a];
            let mut raw = match action { Action::Deploy => deploy(), Action::Command => command(), _ => json!({}) };
            let known = keys_of(action).contains(&key.as_str());
            raw[&key] = value;
            let parsed = Params::parse(action, &raw);
            if !known {
                prop_assert_eq!(parsed.unwrap_err().key, Some(key));
            }
        }

        #[test]
        fn written_params_read_back(name in "[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}", args in proptest::collection::vec("[^\\x00\\r\\n]{1,40}", 0..64),
                                    timeout in 1u32..=3600) {
            let d = Params::Deploy(DeployParams { deployment_id: UUID.into(), name: name.clone(), version: name, settings: Map::new() });
            prop_assert_eq!(Params::parse(Action::Deploy, &d.to_value()), Ok(d));
            let c = Params::Command(CommandParams { command: "sh".into(), args, timeout_sec: timeout });
            prop_assert_eq!(Params::parse(Action::Command, &c.to_value()), Ok(c));
        }
    }
}
