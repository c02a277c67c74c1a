//! A secret's scope and its target (API.md §7): the caller's account, a team, a project or
//! a machine. The scope's name and the target's id are part of the secret's row id
//! (`crypto::secret_id`, `private.secret_id` in SQL).
use crate::error::ApiError;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SecretScope {
    Account(Uuid),
    Team(Uuid),
    Project(Uuid),
    Machine(Uuid),
}

impl SecretScope {
    /// The scopes' names, widest first (the `scope` of a Secret, GET's `?scope=`).
    pub const NAMES: [&'static str; 4] = ["account", "team", "project", "machine"];

    /// The scope of a PUT: the one target given (`teamId`, `projectId` or `machineId`), or
    /// none for the caller's `account`. Two or more are a 400 naming the narrowest given,
    /// as `hangar_put_secret` answers.
    pub fn of(account: Uuid, team: Option<Uuid>, project: Option<Uuid>, machine: Option<Uuid>) -> Result<Self, ApiError> {
        match (team, project, machine) {
            (None, None, None) => Ok(SecretScope::Account(account)),
            (Some(t), None, None) => Ok(SecretScope::Team(t)),
            (None, Some(p), None) => Ok(SecretScope::Project(p)),
            (None, None, Some(m)) => Ok(SecretScope::Machine(m)),
            (_, _, Some(_)) => Err(ApiError::validation("machineId", "Give at most one of `teamId`, `projectId` and `machineId`")),
            _ => Err(ApiError::validation("projectId", "Give at most one of `teamId`, `projectId` and `machineId`")),
        }
    }

    /// A scope's name as GET's filter takes it (`None` for anything else).
    pub fn parse_name(raw: &str) -> Option<&'static str> {
        Self::NAMES.into_iter().find(|n| *n == raw)
    }

    pub fn name(&self) -> &'static str {
        match self {
            SecretScope::Account(_) => "account",
            SecretScope::Team(_) => "team",
            SecretScope::Project(_) => "project",
            SecretScope::Machine(_) => "machine",
        }
    }

    /// The id of what the secret belongs to.
    pub fn target(&self) -> Uuid {
        match *self {
            SecretScope::Account(id) | SecretScope::Team(id) | SecretScope::Project(id) | SecretScope::Machine(id) => id,
        }
    }

    /// The target as the SQL function's arguments: `(team, project, machine)`, at most one set.
    pub fn columns(&self) -> (Option<Uuid>, Option<Uuid>, Option<Uuid>) {
        match *self {
            SecretScope::Account(_) => (None, None, None),
            SecretScope::Team(t) => (Some(t), None, None),
            SecretScope::Project(p) => (None, Some(p), None),
            SecretScope::Machine(m) => (None, None, Some(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::field_of as field;

    #[test]
    fn one_target_at_most() {
        let (a, t, p, m) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(SecretScope::of(a, None, None, None).unwrap(), SecretScope::Account(a));
        assert_eq!(SecretScope::of(a, Some(t), None, None).unwrap(), SecretScope::Team(t));
        assert_eq!(SecretScope::of(a, None, Some(p), None).unwrap(), SecretScope::Project(p));
        assert_eq!(SecretScope::of(a, None, None, Some(m)).unwrap(), SecretScope::Machine(m));
        assert_eq!(field(SecretScope::of(a, Some(t), Some(p), None).unwrap_err()), "projectId");
        assert_eq!(field(SecretScope::of(a, Some(t), None, Some(m)).unwrap_err()), "machineId");
        assert_eq!(field(SecretScope::of(a, None, Some(p), Some(m)).unwrap_err()), "machineId");
        assert_eq!(field(SecretScope::of(a, Some(t), Some(p), Some(m)).unwrap_err()), "machineId");
    }

    #[test]
    fn names_targets_and_columns() {
        let id = Uuid::new_v4();
        let all = [SecretScope::Account(id), SecretScope::Team(id), SecretScope::Project(id), SecretScope::Machine(id)];
        assert_eq!(all.map(|s| s.name()), SecretScope::NAMES);
        assert!(all.iter().all(|s| s.target() == id));
        assert_eq!(all.map(|s| s.columns()), [
            (None, None, None),
            (Some(id), None, None),
            (None, Some(id), None),
            (None, None, Some(id)),
        ]);
        assert_eq!(SecretScope::parse_name("team"), Some("team"));
        assert_eq!(SecretScope::parse_name("Team"), None);
        assert_eq!(SecretScope::parse_name(""), None);
    }
}
