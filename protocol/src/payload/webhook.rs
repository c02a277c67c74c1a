//! The job webhook (Worker → runner), as `private.delivery_json` builds it plus the
//! `callbackUrl`, the `agentToken` (create only) and the `secrets` (create and deploy) that
//! the Worker appends to SQL's text without decoding it (shared/src/runner/deliver.rs): the
//! runner is the side that reads this contract.
//!
//! `params` stays raw here: a job whose params do not fit its action is still a job (it is
//! journaled and reported `failed` with the reason) rather than a 400 the Worker would
//! retry. [`Webhook::params`] gives the typed reading.
use super::params::{Params, ParamsError};
use super::secrets::Secrets;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Start,
    Stop,
    Restart,
    Terminate,
    Deploy,
    Command,
    /// Installs `machine.sshAuthorizedKeys` (and the runner's own key) for the login user
    /// of a running machine (API.md §7).
    #[serde(rename = "authorize_keys")]
    AuthorizeKeys,
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::Create,
        Action::Start,
        Action::Stop,
        Action::Restart,
        Action::Terminate,
        Action::Deploy,
        Action::Command,
        Action::AuthorizeKeys,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
            Action::Terminate => "terminate",
            Action::Deploy => "deploy",
            Action::Command => "command",
            Action::AuthorizeKeys => "authorize_keys",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// At most this many entries in `configuration.ports`.
pub const MAX_PORTS: usize = 20;

/// The machine as the Worker sends it. `cpu` is a number as given (0.5, 1.0, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Machine {
    pub id: String,
    pub name: String,
    pub tier: String,
    pub cpu: Number,
    pub memory_mb: u32,
    pub disk_gb: u32,
    pub provider: String,
    pub region: String,
    pub image: String,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub provider_instance_id: Option<String>,
    #[serde(default)]
    pub ssh_public_key: Option<String>,
    /// The OpenSSH public key lines the login user gets (API.md §7): the chosen keys, then
    /// `sshPublicKey`, each once. The runner adds its own key.
    #[serde(default)]
    pub ssh_authorized_keys: Vec<String>,
    #[serde(default)]
    pub configuration: Map<String, Value>,
}

impl Machine {
    /// `configuration.ports`: absent or null → none; else an array of at most
    /// [`MAX_PORTS`] integers 1..=65535 (the ports the machine's firewall opens besides SSH).
    pub fn ports(&self) -> Result<Vec<u16>, String> {
        const WHAT: &str = "configuration.ports must be an array of at most 20 port numbers (integers 1 to 65535)";
        let list = match self.configuration.get("ports") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(list)) if list.len() <= MAX_PORTS => list,
            Some(_) => return Err(WHAT.into()),
        };
        list.iter()
            .map(|p| p.as_u64().filter(|n| (1..=65535).contains(n)).map(|n| n as u16).ok_or_else(|| format!("{WHAT}; got {p}")))
            .collect()
    }
}

/// The body of a job webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Webhook {
    pub job_id: String,
    pub action: Action,
    /// 1 for the first delivery, +1 for each redelivery.
    pub attempt: u32,
    pub machine: Machine,
    /// Raw; see [`Webhook::params`].
    pub params: Value,
    pub callback_url: String,
    /// Only on create: the token the machine's agent authenticates with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_token: Option<String>,
    /// Only on create and deploy: the machine's secrets in scope, decrypted by the Worker
    /// just before signing; the runner writes them to `/etc/hangar/secrets.env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Secrets>,
}

impl Webhook {
    /// The params, read as this job's action defines them.
    pub fn params(&self) -> Result<Params, ParamsError> {
        Params::parse(self.action, &self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        json!({"jobId": "6e603a27-0dc1-484d-a15e-5a13e402ded0", "action": "create", "attempt": 1, "params": {},
          "machine": {"id": "0b8f", "name": "web 1", "tier": "dev.small", "cpu": 0.5, "memoryMb": 1024, "diskGb": 10,
            "provider": "aws", "region": "us-east-1", "image": "ubuntu-22.04", "ipAddress": null,
            "providerInstanceId": null, "sshPublicKey": null, "sshAuthorizedKeys": ["ssh-ed25519 AAAA a@b"],
            "configuration": {"ports": [80, 443]}},
          "callbackUrl": "https://x.example/functions/v1/runner-callback", "agentToken": "tok"})
    }

    #[test]
    fn parses_what_the_worker_sends_and_writes_it_back_unchanged() {
        let w: Webhook = serde_json::from_value(body()).unwrap();
        assert_eq!(w.action, Action::Create);
        assert_eq!(w.machine.cpu.to_string(), "0.5");
        assert_eq!(w.machine.ports(), Ok(vec![80, 443]));
        assert_eq!(w.params(), Ok(Params::Lifecycle));
        assert_eq!(serde_json::to_value(&w).unwrap(), body());
        // Postgres renders numeric(4,1) as 1.0: kept as written.
        let mut b = body();
        b["machine"]["cpu"] = serde_json::from_str("1.0").unwrap();
        let w: Webhook = serde_json::from_value(b).unwrap();
        assert_eq!(serde_json::to_string(&w.machine.cpu).unwrap(), "1.0");
    }

    #[test]
    fn refuses_unknown_fields() {
        let mut b = body();
        b["extra"] = json!(1);
        let e = serde_json::from_value::<Webhook>(b).unwrap_err().to_string();
        assert!(e.contains("unknown field `extra`"), "{e}");
        let mut b = body();
        b["machine"]["status"] = json!("running");
        assert!(serde_json::from_value::<Webhook>(b).is_err());
        let mut b = body();
        b["action"] = json!("explode");
        assert!(serde_json::from_value::<Webhook>(b).is_err());
    }

    #[test]
    fn authorize_keys_is_spelled_as_sql_spells_it() {
        let mut b = body();
        b["action"] = json!("authorize_keys");
        let w: Webhook = serde_json::from_value(b).unwrap();
        assert_eq!((w.action, w.action.as_str()), (Action::AuthorizeKeys, "authorize_keys"));
        assert_eq!(w.machine.ssh_authorized_keys, vec!["ssh-ed25519 AAAA a@b".to_string()]);
        assert_eq!(w.params(), Ok(Params::AuthorizeKeys));
        // A runner older than the field reads a body without it as no keys.
        let mut b = body();
        b["machine"].as_object_mut().unwrap().remove("sshAuthorizedKeys");
        assert!(serde_json::from_value::<Webhook>(b).unwrap().machine.ssh_authorized_keys.is_empty());
    }

    #[test]
    fn ports() {
        let mut w: Webhook = serde_json::from_value(body()).unwrap();
        let mut with = |v: Value| {
            w.machine.configuration.insert("ports".into(), v);
            w.machine.ports()
        };
        assert_eq!(with(json!(null)), Ok(vec![]));
        assert_eq!(with(json!([])), Ok(vec![]));
        assert_eq!(with(json!([1, 65535])), Ok(vec![1, 65535]));
        assert_eq!(with(json!((1..=20).collect::<Vec<u32>>())).unwrap().len(), 20);
        for bad in [json!((1..=21).collect::<Vec<u32>>()), json!([0]), json!([65536]), json!([22.5]), json!(["22"]), json!([-1]), json!("22"), json!({})]
        {
            assert!(with(bad.clone()).unwrap_err().starts_with("configuration.ports must be"), "{bad}");
        }
        w.machine.configuration.remove("ports");
        assert_eq!(w.machine.ports(), Ok(vec![]));
    }
}
