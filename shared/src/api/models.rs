//! What the API returns (camelCase), as the SQL functions build it.
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Account {
    pub id: Uuid,
    pub display_name: Option<String>,
    pub photo_url: Option<String>,
    pub provider: Option<String>,
    pub identifier: Option<String>,
    pub privy_did: Option<String>,
    pub credit_balance_cents: i64,
    pub machine_count: i64,
    pub project_count: i64,
    pub created_at: String,
    pub last_login: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Session {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub expires_at: i64,
    pub user: Account,
}
