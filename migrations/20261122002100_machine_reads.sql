-- Reads of a user's machines, events and jobs: SECURITY INVOKER, so RLS applies on top
-- of the explicit access filter (private.can_act 'read': the creator and the members of
-- the machine's team), and the JSON shapes run as the caller.

-- get-user-machines: keyset pagination on (created_at, id), newest first; the caller's own
-- machines and those of their teams (p_team_id: of that team only).
create or replace function public.hangar_list_machines(
  p_status text default null, p_project_id uuid default null, p_limit int default null, p_cursor_ts timestamptz default null, p_cursor_id uuid default null,
  p_include_terminated boolean default null, p_team_id uuid default null
) returns jsonb
language plpgsql stable security invoker set search_path = '' as $$
declare
  page_size int := least(greatest(coalesce(p_limit, 50), 1), 100);
  items pg_catalog.jsonb;
  more boolean;
  last_ts pg_catalog.timestamptz;
  last_id pg_catalog.uuid;
begin
  with page as (
    select m, row_number() over (order by m.created_at desc, m.id desc) as n
    from public.machines m
    -- The set form of can_act 'read', which the indexes (owner, team) serve.
    where (m.owner_id = auth.uid() or m.team_id = any (private.my_teams()))
      and (p_team_id is null or m.team_id = p_team_id)
      and (p_status is null or m.status = p_status)
      and (p_project_id is null or m.project_id = p_project_id)
      and (coalesce(p_include_terminated, false) or p_status = 'terminated' or m.status <> 'terminated')
      and (p_cursor_ts is null or (m.created_at, m.id) < (p_cursor_ts, p_cursor_id))
    order by m.created_at desc, m.id desc
    limit page_size + 1)
  select coalesce(jsonb_agg(private.machine_json(page.m) order by n) filter (where n <= page_size), '[]'),
         count(*) > page_size,
         max((page.m).created_at) filter (where n = page_size),
         (array_agg((page.m).id) filter (where n = page_size))[1]
    into items, more, last_ts, last_id
  from page;
  return private.ok(jsonb_build_object('machines', items,
    'next', case when more then private.page_cursor(last_ts, last_id) end));
end $$;
revoke all on function public.hangar_list_machines(text, uuid, int, timestamptz, uuid, boolean, uuid) from public, anon;
grant execute on function public.hangar_list_machines(text, uuid, int, timestamptz, uuid, boolean, uuid) to authenticated, service_role;

-- get-machine-status: the machine, its sshCommand and its last 10 events.
create or replace function public.hangar_get_machine(p_machine_id uuid default null) returns jsonb
language plpgsql stable security invoker set search_path = '' as $$
declare
  m public.machines;
begin
  select * into m from public.machines where id = p_machine_id and private.can_act(owner_id, team_id, 'read');
  if not found then
    return private.refuse('not_found', 'Machine not found');
  end if;
  -- sshCommand (API.md §7): how to log in to a running machine, as the user its cloud-init
  -- makes (terraform/agent/cloud-init.yaml.tftpl); null while it has no address or is down.
  return private.ok(private.machine_json(m) || jsonb_build_object(
    'sshCommand', case when m.status = 'running' and m.ip_address is not null then 'ssh hangar@' || m.ip_address end,
    'recentEvents', coalesce((
    select jsonb_agg(private.event_json(e) order by e.created_at desc, e.id desc)
    from (select * from public.machine_events where machine_id = m.id
          order by created_at desc, id desc limit 10) e), '[]')));
end $$;
revoke all on function public.hangar_get_machine(uuid) from public, anon;
grant execute on function public.hangar_get_machine(uuid) to authenticated, service_role;

-- get-logs: events newest first, optionally before a moment.
create or replace function public.hangar_get_logs(p_machine_id uuid default null, p_limit int default null, p_before timestamptz default null)
returns jsonb
language plpgsql stable security invoker set search_path = '' as $$
begin
  if not exists (select 1 from public.machines where id = p_machine_id and private.can_act(owner_id, team_id, 'read')) then
    return private.refuse('not_found', 'Machine not found');
  end if;
  return private.ok(jsonb_build_object('events', coalesce((
    select jsonb_agg(private.event_json(e) order by e.created_at desc, e.id desc)
    from (select * from public.machine_events
          where machine_id = p_machine_id and (p_before is null or created_at < p_before)
          order by created_at desc, id desc limit least(greatest(coalesce(p_limit, 50), 1), 500)) e), '[]')));
end $$;
revoke all on function public.hangar_get_logs(uuid, int, timestamptz) from public, anon;
grant execute on function public.hangar_get_logs(uuid, int, timestamptz) to authenticated, service_role;

-- get-job.
create or replace function public.hangar_get_job(p_job_id uuid default null) returns jsonb
language plpgsql stable security invoker set search_path = '' as $$
declare
  j public.jobs;
begin
  select j2.* into j from public.jobs j2 join public.machines m on m.id = j2.machine_id
    where j2.id = p_job_id and private.can_act(m.owner_id, m.team_id, 'read');
  if not found then
    return private.refuse('not_found', 'Job not found');
  end if;
  return private.ok(private.job_json(j));
end $$;
revoke all on function public.hangar_get_job(uuid) from public, anon;
grant execute on function public.hangar_get_job(uuid) to authenticated, service_role;
