-- Invitations to a team (API.md §7): nobody joins a team without their consent. The owner
-- invites an identifier (an account id, or an email or wallet an account signs in with);
-- the account it names sees the invitation (`teams/invitations`) and accepts it (`join`)
-- or declines it. Whether the identifier names anyone is never said to the owner: the row
-- keeps the identifier as typed and is matched to an account only when that account asks.
-- Nobody reads or writes this table through PostgREST: the `teams` SQL functions
-- (20261201000100_team_functions.sql) are the only way in.

create table public.team_invitations (
  id uuid primary key default gen_random_uuid(),
  team_id uuid not null references public.teams (id) on delete cascade,
  -- Trimmed, 1–320 characters, no spaces or control characters (shared/src/domain/member_identifier.rs).
  identifier text not null check (char_length(identifier) between 1 and 320 and identifier !~ '[[:space:][:cntrl:]]'),
  invited_by uuid not null references public.accounts (id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null default now() + interval '7 days'
);
-- One pending invitation per identifier and team (inviting again answers the same one).
create unique index team_invitations_once on public.team_invitations (team_id, lower(identifier));
-- An account's invitations, found by its id or its identifier.
create index team_invitations_identifier on public.team_invitations (lower(identifier));

alter table public.team_invitations enable row level security;
revoke all on public.team_invitations from anon, authenticated;
grant all on public.team_invitations to service_role;

-- Limits of API.md §7, which the SQL functions hold for callers of /rpc too.
insert into private.settings (name, value) values
  ('max_teams_owned_per_account', 20),
  ('max_pending_invitations_per_team', 50);
