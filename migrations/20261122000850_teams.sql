-- Teams (API.md §7): accounts that share machines and projects. The creator owns the team
-- (owner_id) and has a member row with role 'owner' (20261122000860_team_members.sql).
-- Members read their teams; nobody writes them directly: the `teams` function's SQL
-- functions (20261201000100_team_functions.sql) are the only way in.
--
-- Also here, before any table that uses them: the access rules of API.md §7, in one
-- place. A machine or project has a creator (owner_id: who pays for it and whose quota
-- it counts in) and maybe a team (team_id). Whoever asks has one role on it:
--   'creator'     owner_id is the caller
--   'team_owner'  the caller owns the team it is in
--   'member'      the caller is a member of that team
--   null          anyone else: a stranger, who gets 404 (never 403)
-- and private.role_allows says what each role may do. The policies of machines and
-- projects use the same rule in set form (owner_id = me or team_id in my teams), which
-- the indexes can serve; the tables hanging off a machine (events, jobs, deployments,
-- metrics) see a row when the caller sees its machine.
-- Created before the projects and machines tables, which reference teams (nothing is
-- deployed yet, so the order is free).

create table public.teams (
  id uuid primary key default gen_random_uuid(),
  -- Trimmed, 1–64 characters, no control characters (the Worker parses the same).
  name text not null check (char_length(name) between 1 and 64 and name = btrim(name) and name !~ '[[:cntrl:]]'),
  owner_id uuid not null references public.accounts (id) on delete cascade,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index teams_owner on public.teams (owner_id);
create trigger teams_touch before update on public.teams
  for each row execute function private.touch_updated_at();

-- The role of p_uid in team p_team: 'owner', 'member' or null. SECURITY DEFINER: it reads
-- team_members past RLS, whose own policy depends on it (no recursion). plpgsql, because
-- team_members is created in the next migration (a SQL body is checked at creation).
create or replace function private.team_role(p_team uuid, p_uid uuid) returns text
language plpgsql stable security definer set search_path = '' as $$
begin
  return (select tm.role from public.team_members tm where tm.team_id = p_team and tm.account_id = p_uid);
end $$;
revoke all on function private.team_role(uuid, uuid) from public, anon, authenticated;
grant execute on function private.team_role(uuid, uuid) to authenticated, service_role;

-- The teams the caller (auth.uid()) belongs to: the set form of team_role for policies and
-- list filters (`team_id = any(private.my_teams())` is an index condition).
create or replace function private.my_teams() returns uuid[]
language plpgsql stable security definer set search_path = '' as $$
begin
  return coalesce((select array_agg(tm.team_id) from public.team_members tm where tm.account_id = auth.uid()), '{}');
end $$;
revoke all on function private.my_teams() from public, anon, authenticated;
grant execute on function private.my_teams() to authenticated, service_role;

-- p_uid's role on a machine or project created by p_owner in team p_team (null: none).
-- A creator who leaves the team takes their machines with them (private.leave_team), so
-- 'creator' never stands for an account outside the machine's team.
-- These three are PL/pgSQL, whose plans are kept for the session: a SQL function with its
-- own search_path is never inlined and is planned again on every call (measured: a
-- start-machine that changes nothing took 0.24 ms with them in SQL, 0.12 ms like this,
-- as before teams).
create or replace function private.access_role(p_owner uuid, p_team uuid, p_uid uuid) returns text
language plpgsql stable set search_path = '' as $$
begin
  if p_uid is null then
    return null;
  elsif p_owner = p_uid then
    return 'creator';
  elsif p_team is null then
    return null;
  end if;
  return case private.team_role(p_team, p_uid) when 'owner' then 'team_owner' when 'member' then 'member' end;
end $$;
revoke all on function private.access_role(uuid, uuid, uuid) from public, anon, authenticated;
grant execute on function private.access_role(uuid, uuid, uuid) to authenticated, service_role;

-- What a role may do (API.md §7). Every member reads a machine (status, logs, insights,
-- jobs), starts, stops and restarts it, deploys to it, sends commands, notes events and
-- renames it or moves it between the team's projects ('edit'); only the creator and the
-- team owner delete it, change its tier ('resize') or rename and delete a project
-- ('manage'). An unknown action is refused.
create or replace function private.role_allows(p_role text, p_action text) returns boolean
language plpgsql immutable set search_path = '' as $$
begin
  return case
    when p_role is null then false
    when p_action in ('delete', 'resize', 'manage') then p_role in ('creator', 'team_owner')
    else p_action in ('read', 'edit', 'note', 'start', 'stop', 'restart', 'deploy', 'command')
  end;
end $$;
revoke all on function private.role_allows(text, text) from public, anon, authenticated;
grant execute on function private.role_allows(text, text) to authenticated, service_role;

-- May the caller do p_action on the machine or project (p_owner, p_team)? What every SQL
-- function asks, with the row's owner_id and team_id.
create or replace function private.can_act(p_owner uuid, p_team uuid, p_action text) returns boolean
language plpgsql stable set search_path = '' as $$
begin
  return private.role_allows(private.access_role(p_owner, p_team, auth.uid()), p_action);
end $$;
revoke all on function private.can_act(uuid, uuid, text) from public, anon, authenticated;
grant execute on function private.can_act(uuid, uuid, text) to authenticated, service_role;

alter table public.teams enable row level security;
create policy teams_select_member on public.teams for select to authenticated
  using (id = any ((select private.my_teams())::uuid[]));

revoke all on public.teams from anon, authenticated;
grant all on public.teams to service_role;
grant select on public.teams to authenticated;
