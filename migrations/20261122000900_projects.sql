-- Projects group a user's machines. Users manage their own straight through PostgREST
-- (name and description; owner_id is always the caller). A project may belong to a team
-- (team_id, API.md §7): every member sees it and may put the team's machines in it; its
-- creator and the team owner rename it (private.role_allows 'manage').

create table public.projects (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references public.accounts (id) on delete cascade,
  -- A deleted team's projects stay with their creators.
  team_id uuid references public.teams (id) on delete set null,
  name text not null check (char_length(btrim(name)) between 1 and 63),
  description text check (description is null or char_length(description) <= 1000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index projects_owner on public.projects (owner_id, created_at desc);
create index projects_team on public.projects (team_id, created_at desc) where team_id is not null;
create trigger projects_touch before update on public.projects
  for each row execute function private.touch_updated_at();

-- At most max_projects_per_account per creator (API.md §7), for a project inserted straight
-- through PostgREST too: raised as PostgREST's PT403 (HTTP 403) with the message of
-- private.project_quota_refusal (20261130001100_project_functions.sql), which
-- hangar_create_project answers as data. PL/pgSQL: that helper is created later.
insert into private.settings (name, value) values ('max_projects_per_account', 100);
create or replace function private.projects_quota() returns trigger
language plpgsql set search_path = '' as $$
declare
  refusal pg_catalog.jsonb := private.project_quota_refusal(new.owner_id);
begin
  if refusal is not null then
    raise exception using errcode = 'PT403', message = refusal ->> 'message', detail = (refusal -> 'details')::pg_catalog.text;
  end if;
  return new;
end $$;
revoke all on function private.projects_quota() from public, anon, authenticated;
create trigger projects_quota before insert on public.projects
  for each row execute function private.projects_quota();

alter table public.projects enable row level security;
-- Read: the creator and the members of its team (the set form of private.access_role).
create policy projects_select on public.projects for select to authenticated
  using (owner_id = (select auth.uid()) or team_id = any ((select private.my_teams())::uuid[]));
-- A new project is the caller's, in no team or in one of theirs.
create policy projects_insert on public.projects for insert to authenticated
  with check (owner_id = (select auth.uid()) and (team_id is null or team_id = any ((select private.my_teams())::uuid[])));
create policy projects_update on public.projects for update to authenticated
  using (private.can_act(owner_id, team_id, 'manage'))
  with check (private.can_act(owner_id, team_id, 'manage'));

revoke all on public.projects from anon, authenticated;
grant all on public.projects to service_role;
grant select, delete on public.projects to authenticated;
grant insert (name, description, team_id) on public.projects to authenticated;
grant update (name, description) on public.projects to authenticated;

-- May a machine of team p_team (null: no team) go in project p_project? Only into a
-- project of the same team (a machine without a team: a project without one) that the
-- caller sees: their own, or their team's.
create or replace function private.project_fits(p_project uuid, p_team uuid) returns boolean
language sql stable set search_path = '' as $$
  select exists (
    select 1 from public.projects p
    where p.id = p_project and p.team_id is not distinct from p_team
      and private.can_act(p.owner_id, p.team_id, 'read'))
$$;
revoke all on function private.project_fits(uuid, uuid) from public, anon, authenticated;
grant execute on function private.project_fits(uuid, uuid) to authenticated, service_role;
