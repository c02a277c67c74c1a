//! A field of a PATCH body: absent (leave alone), `null` (clear) or a new value.
use serde::{Deserialize, Deserializer, Serialize};

/// A field of a PATCH body: absent (leave alone), `null` (clear) or a new value.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            None => Patch::Null,
            Some(v) => Patch::Value(v),
        })
    }
}

impl<T: Serialize> Patch<T> {
    /// `{"set": bool, "value": …}` for SQL functions that must tell "clear" from "leave".
    pub fn to_sql(&self) -> SqlPatch {
        SqlPatch(match self {
            Patch::Absent => serde_json::json!({ "set": false }),
            Patch::Null => serde_json::json!({ "set": true, "value": null }),
            Patch::Value(v) => serde_json::json!({ "set": true, "value": v }),
        })
    }
}

/// A PATCH field as the SQL functions take it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub(crate) struct SqlPatch(serde_json::Value);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DisplayName;

    #[test]
    fn patch_tells_absent_from_null() {
        #[derive(Deserialize)]
        struct B {
            #[serde(default)]
            name: Patch<DisplayName>,
        }
        let b: B = serde_json::from_str("{}").unwrap();
        assert_eq!(b.name, Patch::Absent);
        let b: B = serde_json::from_str(r#"{"name":null}"#).unwrap();
        assert_eq!(b.name, Patch::Null);
        let b: B = serde_json::from_str(r#"{"name":" x "}"#).unwrap();
        assert_eq!(b.name.to_sql(), SqlPatch(serde_json::json!({"set": true, "value": "x"})));
    }
}
