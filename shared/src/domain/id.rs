//! Ids: a UUID field of a body (`machineId`, …), or of a query string or path.
use serde::Deserialize;
use uuid::Uuid;

/// A UUID field of a body (`machineId`, …), reported at its JSON path when malformed.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct Id(Uuid);

impl Id {
    pub fn uuid(self) -> Uuid {
        self.0
    }
}

impl TryFrom<String> for Id {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Uuid::parse_str(raw.trim()).map(Id).map_err(|_| "must be a UUID".into())
    }
}

/// A machine, job or project id in a query string or path: a UUID.
pub(crate) fn parse_id(field: &str, raw: Option<&str>) -> Result<Uuid, crate::ApiError> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| crate::ApiError::validation(field, format!("`{field}` is required")))?;
    Uuid::parse_str(raw).map_err(|_| crate::ApiError::validation(field, format!("`{field}` must be a UUID")))
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(parse_id("machineId", Some("not-a-uuid")).is_err());
        assert!(parse_id("machineId", None).is_err());
        assert!(parse_id("machineId", Some("6e603a27-0dc1-484d-a15e-5a13e402ded0")).is_ok());
    }
}
