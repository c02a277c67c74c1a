//! The SQL functions of the `teams` function (migrations/20261201000100_team_functions.sql),
//! one struct each, kept apart from `functions.rs` so that the resources built in
//! parallel do not edit one file. Each checks the caller's role in the team itself.
use super::rpc;
use crate::runner::Delivery;
use serde::Deserialize;
use uuid::Uuid;

rpc! {
    /// `teams` GET: `{teams: Team[], next}`, the caller's, newest first, with their role.
    ListTeams => "hangar_list_teams" -> super::ItemPage { limit: i64, cursor_ts: Option<String>, cursor_id: Option<Uuid> }
}

rpc! {
    /// `teams` POST: the caller owns the new team (makes a Supabase Auth caller's account
    /// first); 403 `quota_exceeded` past the teams an account may own.
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
    /// `teams/{id}/members` POST: the owner invites an account id, email or wallet;
    /// `{invitation}`, the same answer whoever (if anyone) the identifier names.
    InviteTeamMember => "hangar_invite_team_member" -> super::Raw { team_id: Uuid, identifier: String }
}

rpc! {
    /// `teams/invitations` GET: `{invitations, next}`, the caller's pending invitations.
    ListTeamInvitations => "hangar_list_team_invitations" -> super::ItemPage { limit: i64, cursor_ts: Option<String>, cursor_id: Option<Uuid> }
}

rpc! {
    /// `teams/{id}/join` POST: the caller accepts their invitation (404 without one).
    JoinTeam => "hangar_join_team" -> super::Raw { team_id: Uuid }
}

rpc! {
    /// `teams/invitations/{id}` DELETE: the invitee declines, or the owner withdraws.
    DeleteTeamInvitation => "hangar_delete_team_invitation" -> super::Raw { invitation_id: Uuid }
}

/// What removing a member came to: the Member as it was, and the authorize_keys jobs of
/// the machines their leaving took keys off (never shown to the caller: a payload carries keys).
#[derive(Deserialize)]
pub(crate) struct MemberRemoved {
    pub member: super::Raw,
    pub deliveries: Vec<Delivery>,
}

rpc! {
    /// `teams/{id}/members/{accountId}` DELETE: the owner removes a member, or one leaves;
    /// their machines leave the team with them and their keys come off its machines.
    RemoveTeamMember => "hangar_remove_team_member" -> MemberRemoved { team_id: Uuid, account_id: Uuid }
}
