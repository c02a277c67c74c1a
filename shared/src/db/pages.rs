//! A keyset page as the list functions of teams, projects and invitations answer it: the
//! items under their resource's name, and `next` (private.page_cursor of the last one, or
//! null), which the Worker turns into `nextCursor`.
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
pub(crate) struct ItemPage {
    #[serde(alias = "teams", alias = "projects", alias = "invitations")]
    pub items: Vec<super::Raw>,
    pub next: Option<Value>,
}
