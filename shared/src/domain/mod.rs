//! Domain types parsed once at the edge: a value of these types is valid by construction.
//! Each deserializes through `TryFrom` (or an enum), so a bad value is reported at its
//! JSON path. One type per file, with its tests.
mod action;
mod cents;
mod configuration;
mod credit_cents;
mod display_name;
mod empty;
mod event_type;
mod http_url;
mod id;
mod image;
mod label;
mod level;
mod machine_name;
mod machine_status;
mod member_identifier;
mod metrics_period;
mod month;
mod memo;
mod page_cursor;
mod patch;
mod project_description;
mod project_name;
mod protocol_name;
mod provider;
mod region;
mod runners;
mod sample;
mod size;
mod secret_name;
mod secret_scope;
mod secret_value;
mod ssh_key;
mod ssh_key_ids;
mod ssh_key_name;
mod team_name;
mod tier;
mod timeout_sec;
mod word;

pub(crate) use action::Action;
pub(crate) use cents::Cents;
pub(crate) use configuration::Configuration;
pub(crate) use credit_cents::CreditCents;
#[cfg(test)]
pub(crate) use configuration::json_depth;
pub(crate) use display_name::DisplayName;
pub(crate) use empty::Empty;
pub(crate) use event_type::EventType;
pub(crate) use http_url::HttpUrl;
pub(crate) use id::{parse_id, Id};
pub(crate) use image::Image;
pub(crate) use label::Label;
pub(crate) use level::Level;
pub(crate) use machine_name::MachineName;
pub(crate) use machine_status::MachineStatus;
pub(crate) use member_identifier::MemberIdentifier;
pub(crate) use metrics_period::MetricsPeriod;
pub(crate) use month::Month;
pub(crate) use memo::Memo;
pub(crate) use page_cursor::{PageCursor, PageQuery};
pub(crate) use patch::{Patch, SqlPatch};
pub(crate) use project_description::ProjectDescription;
pub(crate) use project_name::ProjectName;
pub(crate) use protocol_name::ProtocolName;
pub(crate) use provider::Provider;
pub(crate) use size::{Vcpus, WholeSize};
pub(crate) use region::Region;
pub(crate) use runners::{origin as runners_origin, public_url, Runners};
pub(crate) use sample::Sample;
pub(crate) use secret_name::SecretName;
pub(crate) use secret_scope::SecretScope;
pub(crate) use secret_value::SecretValue;
pub(crate) use ssh_key::SshKey;
pub(crate) use ssh_key_ids::SshKeyIds;
pub(crate) use ssh_key_name::SshKeyName;
pub(crate) use team_name::TeamName;
pub(crate) use tier::Tier;
pub(crate) use timeout_sec::TimeoutSec;
pub(crate) use word::Word;

/// The rule of a name people give things (a project, a team, an SSH key): trimmed, 1 to
/// `max` characters of any script, no control characters.
fn trimmed_name(raw: &str, max: usize) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > max {
        return Err(format!("must be 1 to {max} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(name.to_string())
}

/// `AsRef<str>` and `TryFrom<String>` (through `parse`) for a string newtype.
macro_rules! string_type {
    ($name:ident) => {
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(raw: String) -> Result<Self, String> {
                Self::parse(&raw)
            }
        }
    };
}
pub(crate) use string_type;

/// 1 to `max` ASCII letters, digits and the characters of `punctuation`.
pub(crate) fn is_word(raw: &str, max: usize, punctuation: &str) -> bool {
    (1..=max).contains(&raw.len()) && raw.chars().all(|c| c.is_ascii_alphanumeric() || punctuation.contains(c))
}
