-- Changes made to a machine that are not transitions: update-machine (name and project
-- any time, tier only while stopped) and log-machine-event (a note). SECURITY DEFINER,
-- each checks access itself (private.can_act): any member of the machine's team renames
-- it, moves it between the team's projects and notes events; only its creator and the
-- team's owner change its tier (403 for a member); anyone else gets 404.

-- update-machine: each argument is {"set": bool, "value": …}.
-- Answers {machine, delivery?}: the authorize_keys job of a running machine whose SSH
-- keys (p_ssh_key_ids, API.md §7) changed, for the Worker to hand to the runner.
create or replace function public.hangar_update_machine(p_machine_id uuid default null, p_name jsonb default null, p_project_id jsonb default null, p_tier jsonb default null,
  p_ssh_key_ids jsonb default null)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  m public.machines;
  new_project pg_catalog.uuid;
  changes pg_catalog.jsonb := '{}';
  refusal pg_catalog.jsonb;
  new_keys pg_catalog.jsonb;
  pending bigint;
  j public.jobs;
begin
  select * into m from public.machines
    where id = p_machine_id and private.can_act(owner_id, team_id, 'edit') for update;
  if not found then
    return private.refuse('not_found', 'Machine not found');
  end if;
  if (p_project_id ->> 'set')::boolean then
    new_project := (p_project_id ->> 'value')::pg_catalog.uuid;
    -- Only a project of the machine's own team (or, without a team, one of the caller's).
    if new_project is not null and not private.project_fits(new_project, m.team_id) then
      return private.refuse('validation_error', 'Project not found', jsonb_build_object('field', 'projectId'));
    end if;
    m.project_id := new_project;
    changes := changes || jsonb_build_object('projectId', new_project);
  end if;
  if (p_tier ->> 'set')::boolean and p_tier ->> 'value' is distinct from m.tier then
    if not private.can_act(m.owner_id, m.team_id, 'resize') then
      return private.refuse('forbidden', 'Only the machine''s creator or its team''s owner may change its tier');
    end if;
    if m.status <> 'stopped' then
      return private.refuse('invalid_state_transition',
        format('Machine is %s; the tier can change only while stopped', m.status),
        jsonb_build_object('status', m.status, 'action', 'resize',
          'allowed', to_jsonb(private.allowed_actions(m.status))));
    end if;
    if not exists (select 1 from public.tiers where id = p_tier ->> 'value') then
      return private.refuse('validation_error', 'Unknown tier', jsonb_build_object('field', 'tier'));
    end if;
    m.tier := p_tier ->> 'value';
    changes := changes || jsonb_build_object('tier', m.tier);
  end if;
  -- SSH keys: the caller's own (FOR KEY SHARE). A running machine gets them through an
  -- authorize_keys job (like deploy/command: no status change, at most
  -- max_pending_jobs_per_machine waiting); a stopped or failed one at its next start;
  -- one on its way to a status has a job under way whose payload is already built.
  if (p_ssh_key_ids ->> 'set')::boolean then
    refusal := private.ssh_key_ids_refusal(p_ssh_key_ids -> 'value', auth.uid());
    if refusal is not null then
      return refusal;
    end if;
    new_keys := private.ssh_key_id_list(p_ssh_key_ids -> 'value');
    if new_keys is distinct from private.machine_ssh_key_ids(m.id) then
      if m.status not in ('running', 'stopped', 'error') then
        return private.refuse('invalid_state_transition',
          format('Machine is %s; its SSH keys can change while it is running, stopped or in error', m.status),
          jsonb_build_object('status', m.status, 'action', 'authorize_keys',
            'allowed', to_jsonb(private.allowed_actions(m.status))));
      end if;
      select count(*) into pending from public.jobs
        where machine_id = m.id and action = 'authorize_keys' and status in ('queued', 'dispatched');
      if m.status = 'running' and pending >= private.setting('max_pending_jobs_per_machine') then
        return private.refuse('quota_exceeded',
          format('A machine may have at most %s authorize_keys jobs waiting', private.setting('max_pending_jobs_per_machine')),
          jsonb_build_object('limit', private.setting('max_pending_jobs_per_machine'), 'current', pending));
      end if;
      perform private.set_machine_ssh_keys(m.id, new_keys);
      changes := changes || jsonb_build_object('sshKeyIds', new_keys);
    end if;
  end if;
  if (p_name ->> 'set')::boolean then
    m.name := p_name ->> 'value';
    changes := changes || jsonb_build_object('name', m.name);
  end if;
  update public.machines set name = m.name, project_id = m.project_id, tier = m.tier
    where id = m.id returning * into m;
  if changes <> '{}' then
    insert into public.machine_events (machine_id, owner_id, event_type, details, source)
    values (m.id, m.owner_id, 'machine.updated', changes, 'user');
  end if;
  if changes ? 'sshKeyIds' and m.status = 'running' then
    j := private.enqueue(m, 'authorize_keys', '{}', 'machine.authorize_keys_requested', 'user');
  end if;
  return private.ok(jsonb_build_object('machine', private.machine_json(m),
    'delivery', case when j.id is not null then private.delivery(j) end));
end $$;
revoke all on function public.hangar_update_machine(uuid, jsonb, jsonb, jsonb, jsonb) from public, anon;
grant execute on function public.hangar_update_machine(uuid, jsonb, jsonb, jsonb, jsonb) to authenticated, service_role;

-- log-machine-event: a note on a machine the caller may act on.
create or replace function public.hangar_log_event(p_machine_id uuid default null, p_event_type text default null, p_details jsonb default null, p_level text default null)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  m public.machines;
  e public.machine_events;
  refusal pg_catalog.jsonb;
begin
  -- The Worker's rules (domain::EventType, Level, the body's limits), for callers of /rpc.
  if p_event_type is null or p_event_type !~ '^[A-Za-z0-9._:-]{1,64}$' then
    return private.refuse('validation_error', '`eventType` must be 1 to 64 characters of letters, digits and ._:-',
      jsonb_build_object('field', 'eventType'));
  end if;
  if p_level is not null and p_level not in ('info', 'warn', 'error') then
    return private.refuse('validation_error', '`level` must be one of info, warn, error', jsonb_build_object('field', 'level'));
  end if;
  if p_details is not null and (octet_length(p_details::pg_catalog.text) > 16384 or private.jsonb_depth(p_details) > 32) then
    return private.refuse('validation_error', '`details` must be at most 16 KiB and 32 levels deep', jsonb_build_object('field', 'details'));
  end if;
  -- The machine row is locked so that concurrent notes count one after the other.
  select * into m from public.machines where id = p_machine_id and private.can_act(owner_id, team_id, 'note') for update;
  if not found then
    return private.refuse('not_found', 'Machine not found');
  end if;
  -- Events per machine per minute (API.md §1): every event its users caused counts, the
  -- transitions' own too (those are limited to fewer per minute themselves).
  select private.rate_refusal('max_events_per_machine_per_minute', count(*), min(ev.created_at), interval '1 minute')
    into refusal from public.machine_events ev
    where ev.machine_id = m.id and ev.source = 'user' and ev.created_at > now() - interval '1 minute';
  if refusal is not null then
    return refusal;
  end if;
  insert into public.machine_events (machine_id, owner_id, event_type, details, level, source)
  values (m.id, m.owner_id, p_event_type, p_details, coalesce(p_level, 'info'), 'user')
  returning * into e;
  return private.ok(private.event_json(e));
end $$;
revoke all on function public.hangar_log_event(uuid, text, jsonb, text) from public, anon;
grant execute on function public.hangar_log_event(uuid, text, jsonb, text) to authenticated, service_role;
