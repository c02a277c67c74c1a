-- Who is in which team (API.md §7), with their role: the owner (one per team, the team's
-- owner_id) or a member. Members read the member list of their teams; rows are written
-- only by the `teams` SQL functions (20261201000100_team_functions.sql): a member row is
-- made only when its account accepts an invitation (20261122000870_team_invitations.sql).
-- Removing a row takes the member's access to the team's machines away at once (every
-- check reads it, and private.leave_team takes the rest in the same transaction).

create table public.team_members (
  team_id uuid not null references public.teams (id) on delete cascade,
  account_id uuid not null references public.accounts (id) on delete cascade,
  role text not null check (role in ('owner', 'member')),
  joined_at timestamptz not null default now(),
  primary key (team_id, account_id)
);
create unique index team_members_one_owner on public.team_members (team_id) where role = 'owner';
-- private.my_teams(): the teams of one account.
create index team_members_account on public.team_members (account_id, team_id);

alter table public.team_members enable row level security;
create policy team_members_select_member on public.team_members for select to authenticated
  using (team_id = any ((select private.my_teams())::uuid[]));

revoke all on public.team_members from anon, authenticated;
grant all on public.team_members to service_role;
grant select on public.team_members to authenticated;
