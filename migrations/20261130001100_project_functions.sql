-- The `projects` function (API.md §4): list with machine counts, create, read with its
-- machines, rename / describe, delete. One SQL function per request. Reads and edits run
-- as the caller (RLS and the column grants of 20261122000900_projects.sql apply on top of
-- the explicit owner filter); delete is SECURITY DEFINER because it is the only way to
-- delete a project: a project with live (not terminated) machines is refused with
-- `project_not_empty` unless cascade, which queues a delete for each machine through
-- hangar_machine_action itself (the same transition, job and event as delete-machine)
-- and removes the project, all in one transaction. A user's direct DELETE through
-- PostgREST would skip that rule, so it is revoked here.
-- A project may belong to a team (API.md §7): its members read it and see its machines;
-- its creator and the team's owner rename and delete it ('manage', 403 for a member);
-- anyone else gets 404 (private.can_act, 20261122000850_teams.sql).

revoke delete on public.projects from authenticated;

-- The Project: machineCount counts its machines that are not terminated.
create or replace function private.project_json(p public.projects) returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object(
    'id', p.id,
    'name', p.name,
    'description', p.description,
    'teamId', p.team_id,
    'machineCount', (select count(*) from public.machines m where m.project_id = p.id and m.status <> 'terminated'),
    'createdAt', private.ts(p.created_at),
    'updatedAt', private.ts(p.updated_at))
$$;
revoke all on function private.project_json(public.projects) from public, anon, authenticated;
grant execute on function private.project_json(public.projects) to authenticated, service_role;

-- A refusal for a project name or description that the table would refuse (the Worker
-- checks the same before; this answers callers of /rpc with the field, not a 5xx).
create or replace function private.project_field_refusal(p_name text, p_name_set boolean, p_description text) returns jsonb
language sql immutable set search_path = '' as $$
  select case
    when p_name_set and (p_name is null or char_length(btrim(p_name)) not between 1 and 63) then
      private.refuse('validation_error', '`name` must be 1 to 63 characters', jsonb_build_object('field', 'name'))
    when char_length(p_description) > 1000 then
      private.refuse('validation_error', '`description` must be at most 1000 characters', jsonb_build_object('field', 'description'))
  end
$$;
revoke all on function private.project_field_refusal(text, boolean, text) from public, anon, authenticated;
grant execute on function private.project_field_refusal(text, boolean, text) to authenticated, service_role;

-- projects GET: the caller's projects and their teams', newest first, in keyset pages
-- (private.keyset_page) after the cursor: {projects: Project[], next}.
create or replace function public.hangar_list_projects(p_limit int default null, p_cursor_ts timestamptz default null, p_cursor_id uuid default null)
returns jsonb
language sql stable security invoker set search_path = '' as $$
  select private.ok(private.keyset_page('projects', array(
    select row(private.project_json(p), p.created_at, p.id)::private.page_item
    from public.projects p
    where (p.owner_id = auth.uid() or p.team_id = any (private.my_teams()))
      and (p_cursor_ts is null or (p.created_at, p.id) < (p_cursor_ts, p_cursor_id))
    order by p.created_at desc, p.id desc
    limit private.page_size(p_limit) + 1), private.page_size(p_limit)))
$$;
revoke all on function public.hangar_list_projects(int, timestamptz, uuid) from public, anon;
grant execute on function public.hangar_list_projects(int, timestamptz, uuid) to authenticated, service_role;

-- At most max_projects_per_account projects made by one account (API.md §7): the refusal
-- (403 quota_exceeded) for p_uid making one more, or null. Locks the account row, so that
-- concurrent creates are counted one at a time. SECURITY DEFINER: the settings and the
-- lock are not the caller's.
create or replace function private.project_quota_refusal(p_uid uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  limit_count bigint := private.setting('max_projects_per_account');
  current_count bigint;
begin
  perform 1 from public.accounts where id = p_uid for update;
  select count(*) into current_count from public.projects where owner_id = p_uid;
  if current_count >= limit_count then
    return private.refuse('quota_exceeded', format('An account may have at most %s projects', limit_count),
      jsonb_build_object('limit', limit_count, 'current', current_count));
  end if;
  return null;
end $$;
revoke all on function private.project_quota_refusal(uuid) from public, anon, authenticated;
grant execute on function private.project_quota_refusal(uuid) to authenticated, service_role;

-- projects/{id} GET: the Project and its machines that are not terminated, newest first.
create or replace function public.hangar_get_project(p_project_id uuid default null) returns jsonb
language plpgsql stable security invoker set search_path = '' as $$
declare
  p public.projects;
begin
  select * into p from public.projects where id = p_project_id and private.can_act(owner_id, team_id, 'read');
  if not found then
    return private.refuse('not_found', 'Project not found');
  end if;
  return private.ok(private.project_json(p) || jsonb_build_object('machines', coalesce((
    select jsonb_agg(private.machine_json(m) order by m.created_at desc, m.id desc)
    from public.machines m
    where m.project_id = p.id and private.can_act(m.owner_id, m.team_id, 'read') and m.status <> 'terminated'), '[]')));
end $$;
revoke all on function public.hangar_get_project(uuid) from public, anon;
grant execute on function public.hangar_get_project(uuid) to authenticated, service_role;

-- projects POST: a project of the caller's (owner_id defaults to auth.uid()), maybe in one of
-- their teams (400 `teamId` otherwise), within their quota (403); makes a Supabase Auth
-- caller's account first, which the project refers to.
create or replace function public.hangar_create_project(p_name text default null, p_description text default null, p_team_id uuid default null) returns jsonb
language plpgsql volatile security invoker set search_path = '' as $$
declare
  p public.projects;
  refusal pg_catalog.jsonb := private.project_field_refusal(p_name, true, p_description);
begin
  if auth.uid() is null then
    return private.refuse('invalid_token', 'No caller');
  end if;
  if refusal is not null then
    return refusal;
  end if;
  if p_team_id is not null and private.team_role(p_team_id, auth.uid()) is null then
    return private.refuse('validation_error', 'Team not found', jsonb_build_object('field', 'teamId'));
  end if;
  perform private.ensure_account();
  refusal := private.project_quota_refusal(auth.uid());
  if refusal is not null then
    return refusal;
  end if;
  insert into public.projects (name, description, team_id) values (btrim(p_name), p_description, p_team_id)
  returning * into p;
  return private.ok(private.project_json(p));
exception when foreign_key_violation then
  -- The team was deleted while this insert waited for it (its foreign key): as if it had
  -- never been there. Any other missing reference is not the caller's to fix.
  if p_team_id is not null and not exists (select 1 from public.teams where id = p_team_id) then
    return private.refuse('validation_error', 'Team not found', jsonb_build_object('field', 'teamId'));
  end if;
  raise;
end $$;
revoke all on function public.hangar_create_project(text, text, uuid) from public, anon;
grant execute on function public.hangar_create_project(text, text, uuid) to authenticated, service_role;

-- projects/{id} PATCH: each argument is {"set": bool, "value": …}; name cannot be
-- cleared, description can. Nothing set: the project as it is (updated_at unchanged). A
-- team member who is not its creator reads it but may not change it (403).
create or replace function public.hangar_update_project(p_project_id uuid default null, p_name jsonb default null, p_description jsonb default null)
returns jsonb
language plpgsql volatile security invoker set search_path = '' as $$
declare
  p public.projects;
  set_name boolean := coalesce((p_name ->> 'set')::boolean, false);
  set_description boolean := coalesce((p_description ->> 'set')::boolean, false);
  refusal pg_catalog.jsonb := private.project_field_refusal(p_name ->> 'value', set_name,
    case when set_description then p_description ->> 'value' end);
begin
  if refusal is not null then
    return refusal;
  end if;
  select * into p from public.projects where id = p_project_id and private.can_act(owner_id, team_id, 'read');
  if not found then
    return private.refuse('not_found', 'Project not found');
  end if;
  if set_name or set_description then
    if not private.can_act(p.owner_id, p.team_id, 'manage') then
      return private.refuse('forbidden', 'Only the project''s creator or its team''s owner may change it');
    end if;
    update public.projects set
      name = case when set_name then btrim(p_name ->> 'value') else name end,
      description = case when set_description then p_description ->> 'value' else description end
    where id = p.id
    returning * into p;
  end if;
  return private.ok(private.project_json(p));
end $$;
revoke all on function public.hangar_update_project(uuid, jsonb, jsonb) from public, anon;
grant execute on function public.hangar_update_project(uuid, jsonb, jsonb) to authenticated, service_role;

-- projects/{id} DELETE [?cascade=true]: {project, machines, deliveries}. The project row
-- lock comes first: a create-machine or update-machine into this project waits for it
-- (their foreign key, or create's FOR KEY SHARE read) and then finds no project. Then the
-- live machines are locked in id order, so the set that is deleted is the set that was
-- counted. `machines` is each one as its delete left it (terminating, or terminated when
-- its create was never handed to the runner; one already terminating is left alone;
-- projectId null); `deliveries` are the terminate jobs the Worker hands to the runner.
create or replace function public.hangar_delete_project(p_project_id uuid default null, p_cascade boolean default null)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  uid pg_catalog.uuid := auth.uid();
  p public.projects;
  live pg_catalog.uuid[];
  mid pg_catalog.uuid;
  outcome pg_catalog.jsonb;
  machines pg_catalog.jsonb;
  deliveries pg_catalog.jsonb := '[]';
  shape pg_catalog.jsonb;
begin
  if uid is null then
    return private.refuse('invalid_token', 'No caller');
  end if;
  select * into p from public.projects
    where id = p_project_id and private.can_act(owner_id, team_id, 'read') for update;
  if not found then
    return private.refuse('not_found', 'Project not found');
  end if;
  if not private.can_act(p.owner_id, p.team_id, 'manage') then
    return private.refuse('forbidden', 'Only the project''s creator or its team''s owner may delete it');
  end if;
  select coalesce(array_agg(l.id order by l.id), '{}') into live from (
    select m.id from public.machines m
    where m.project_id = p.id and m.status <> 'terminated'
    order by m.id
    for update) l;
  if cardinality(live) > 0 and not coalesce(p_cascade, false) then
    return private.refuse('project_not_empty',
      format('Project has %s machine(s) that are not terminated: delete them first, or delete with cascade=true', cardinality(live)),
      jsonb_build_object('machineCount', cardinality(live)));
  end if;
  -- In a team project, a cascade deletes the machines of other members: only when the
  -- caller may delete every one (the team's owner), else nothing happens.
  if exists (select 1 from public.machines m where m.id = any(live) and not private.can_act(m.owner_id, m.team_id, 'delete')) then
    return private.refuse('forbidden', 'Only the team''s owner may delete the machines of other members');
  end if;
  foreach mid in array live loop
    outcome := public.hangar_machine_action(mid, 'delete');
    if not coalesce((outcome ->> 'ok')::boolean, false) then
      -- Cannot happen (delete is allowed from every live status, and the caller's right
      -- to delete each was checked above); if it does, nothing of this request is kept.
      raise exception 'cascade delete of machine % refused: %', mid, outcome ->> 'error';
    end if;
    if jsonb_typeof(outcome -> 'data' -> 'delivery') = 'object' then
      deliveries := deliveries || jsonb_build_array(outcome -> 'data' -> 'delivery');
    end if;
  end loop;
  shape := private.project_json(p);
  delete from public.projects where id = p.id;
  -- As the delete left them (their project_id now null).
  select coalesce(jsonb_agg(private.machine_json(m) order by m.id), '[]') into machines
  from public.machines m where m.id = any(live);
  return private.ok(jsonb_build_object('project', shape, 'machines', machines, 'deliveries', deliveries));
end $$;
revoke all on function public.hangar_delete_project(uuid, boolean) from public, anon;
grant execute on function public.hangar_delete_project(uuid, boolean) to authenticated, service_role;
