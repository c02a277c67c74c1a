//! The SQL functions of the `projects` function (migrations/20261130001100_project_functions.sql),
//! one struct each, kept apart from `functions.rs` so that the resources built in
//! parallel do not edit one file.
use super::rpc;
use crate::domain::SqlPatch;
use crate::runner::Delivery;
use serde::Deserialize;
use uuid::Uuid;

rpc! {
    /// `projects` GET: `{projects: Project[], next}`, newest first.
    ListProjects => "hangar_list_projects" -> super::ItemPage { limit: i64, cursor_ts: Option<String>, cursor_id: Option<Uuid> }
}

rpc! {
    /// `projects/{id}` GET: the Project and its machines that are not terminated.
    GetProject => "hangar_get_project" -> super::Raw { project_id: Uuid }
}

rpc! {
    /// `projects` POST (makes a Supabase Auth caller's account first), maybe in a team;
    /// 403 `quota_exceeded` past the projects an account may have.
    CreateProject => "hangar_create_project" -> super::Raw { name: String, description: Option<String>, team_id: Option<Uuid> }
}

rpc! {
    /// `projects/{id}` PATCH: name (never cleared) and description.
    UpdateProject => "hangar_update_project" -> super::Raw { project_id: Uuid, name: SqlPatch, description: SqlPatch }
}

/// What a project's delete came to: the project as it was, its machines as the cascade
/// left them, and the terminate jobs to hand to the runner (never shown to the caller:
/// a payload carries the machine's SSH key).
#[derive(Deserialize)]
pub(crate) struct ProjectDeleted {
    pub project: super::Raw,
    pub machines: Vec<super::Raw>,
    pub deliveries: Vec<Delivery>,
}

rpc! {
    /// `projects/{id}` DELETE: 409 `project_not_empty` with live machines, unless
    /// `cascade`, which deletes each machine (delete-machine's transition) first.
    DeleteProject => "hangar_delete_project" -> ProjectDeleted { project_id: Uuid, cascade: bool }
}
