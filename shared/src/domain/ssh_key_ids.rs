//! The SSH keys chosen for a machine (`sshKeyIds` of create-machine and update-machine):
//! at most 10 key ids, each once, in the order given. Whether they are the caller's keys
//! is the database's to say (400 on `sshKeyIds` too). Every mistake is reported on the
//! field itself, not on an element.
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// At most this many keys on one machine.
pub(crate) const MAX_SSH_KEYS_PER_MACHINE: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Value>")]
pub(crate) struct SshKeyIds(Vec<Uuid>);

impl SshKeyIds {
    pub fn ids(&self) -> &[Uuid] {
        &self.0
    }
}

impl TryFrom<Vec<Value>> for SshKeyIds {
    type Error = String;
    fn try_from(raw: Vec<Value>) -> Result<Self, String> {
        if raw.len() > MAX_SSH_KEYS_PER_MACHINE {
            return Err(format!("at most {MAX_SSH_KEYS_PER_MACHINE} SSH keys per machine"));
        }
        let mut ids = Vec::with_capacity(raw.len());
        for v in raw {
            let id = v.as_str().and_then(|s| Uuid::parse_str(s.trim()).ok()).ok_or("must be an array of SSH key ids (UUIDs)")?;
            if ids.contains(&id) {
                return Err(format!("lists the key {id} twice"));
            }
            ids.push(id);
        }
        Ok(SshKeyIds(ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<SshKeyIds, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn ids_in_order() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(parse(json!([b, a])).unwrap().ids(), &[b, a]);
        assert!(parse(json!([])).unwrap().ids().is_empty());
    }

    #[test]
    fn refused() {
        let id = Uuid::new_v4();
        assert!(parse(json!([id, id])).unwrap_err().contains("twice"));
        assert!(parse(json!(["nope"])).is_err());
        assert!(parse(json!([5])).is_err());
        assert!(parse(json!("x")).is_err());
        let eleven: Vec<Uuid> = (0..11).map(|_| Uuid::new_v4()).collect();
        assert!(parse(json!(eleven)).unwrap_err().contains("at most 10"));
        assert_eq!(parse(json!((0..10).map(|_| Uuid::new_v4()).collect::<Vec<_>>())).unwrap().ids().len(), 10);
    }
}
