//! A JSON object of at most 16 KiB and nesting depth 16, stored as given (a machine's
//! `configuration`, a deployment's `settings`). SQL checks the same limits.
use serde::{Deserialize, Serialize};

/// The one key Hangar reads, `ports`, must be what the machine's firewall can open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub(crate) struct Configuration(serde_json::Value);

impl Configuration {
    pub const MAX_DEPTH: usize = 16;
    pub const MAX_PORTS: usize = 20;
}

impl TryFrom<serde_json::Value> for Configuration {
    type Error = String;
    fn try_from(v: serde_json::Value) -> Result<Self, String> {
        if !v.is_object() {
            return Err("must be a JSON object".into());
        }
        if json_depth(&v) > Self::MAX_DEPTH {
            return Err(format!("may nest at most {} levels deep", Self::MAX_DEPTH));
        }
        if v.to_string().len() > 16 * 1024 {
            return Err("must be at most 16 KiB".into());
        }
        if let Some(ports) = v.get("ports") {
            let ok = ports.as_array().is_some_and(|list| {
                list.len() <= Self::MAX_PORTS
                    && list.iter().all(|p| p.as_u64().is_some_and(|n| (1..=65535).contains(&n)))
            });
            if !ok {
                return Err(format!("`ports` must be a list of at most {} port numbers (1 to 65535)", Self::MAX_PORTS));
            }
        }
        Ok(Configuration(v))
    }
}

/// How deeply a JSON value nests arrays and objects (a scalar is 0, `{}` is 1), as
/// SQL's `private.jsonb_depth` counts it.
pub(crate) fn json_depth(v: &serde_json::Value) -> usize {
    use serde_json::Value;
    match v {
        Value::Array(items) => 1 + items.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

impl Configuration {
    pub fn value(&self) -> &serde_json::Value {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration() {
        let nested = |n: usize| (0..n).fold(serde_json::json!(1), |v, _| serde_json::json!({ "a": v }));
        assert_eq!(json_depth(&nested(16)), 16);
        assert!(Configuration::try_from(nested(16)).is_ok());
        assert!(Configuration::try_from(nested(17)).is_err());
        assert!(Configuration::try_from(serde_json::json!({"ports": [22, 8080]})).is_ok());
        for bad in [serde_json::json!({"ports": [0]}), serde_json::json!({"ports": "80"}),
            serde_json::json!({"ports": [70000]}), serde_json::json!({"ports": (1..=21).collect::<Vec<_>>()})] {
            assert!(Configuration::try_from(bad).is_err());
        }
        assert!(Configuration::try_from(serde_json::json!({"a": 1})).is_ok());
        assert!(Configuration::try_from(serde_json::json!([1])).is_err());
        assert!(Configuration::try_from(serde_json::json!({"a": "x".repeat(17000)})).is_err());
    }
}
