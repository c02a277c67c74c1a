//! The SQL functions of the `teams` function (migrations/20261201000100_team_functions.sql),
//! one struct each, kept apart from `functions.rs` so that the resources built in
//! parallel do not edit one file. Each checks the caller's role in the team itself.
use super::rpc;
use uuid::Uuid;

rpc! {
    /// `teams` GET: `{teams: Team[]}`, the caller's, newest first, with their role.
    ListTeams => "hangar_list_teams" -> super::Raw {}
}

rpc! {
    /// `teams` POST: the caller owns the new team (makes a Supabase Auth caller's account first).
    CreateTeam => "hangar_create_team" -> super::Raw { name: String }
}

rpc! {
    /// `teams/{id}` GET.
    GetTeam => "hangar_get_team" -> super::Raw { team_id: Uuid }
}

rpc! {
    /// `teams/{id}` PATCH: the owner renames it.
    UpdateTeam => "hangar_update_team" -> super::Raw { team_id: Uuid, name: String }
}

rpc! {
    /// `teams/{id}` DELETE: the owner, and only without live machines (409).
    DeleteTeam => "hangar_delete_team" -> super::Raw { team_id: Uuid }
}

rpc! {
    /// `teams/{id}/members` GET: `{members: Member[]}`.
    ListTeamMembers => "hangar_list_team_members" -> super::Raw { team_id: Uuid }
}

rpc! {
    /// `teams/{id}/members` POST: the owner adds an account by id, email or wallet.
    AddTeamMember => "hangar_add_team_member" -> super::Raw { team_id: Uuid, identifier: String }
}

rpc! {
    /// `teams/{id}/members/{accountId}` DELETE: the owner removes a member, or one leaves.
    RemoveTeamMember => "hangar_remove_team_member" -> super::Raw { team_id: Uuid, account_id: Uuid }
}
