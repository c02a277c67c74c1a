-- Changes an owner makes to a machine that are not transitions: update-machine (name and
-- project any time, tier only while stopped) and log-machine-event (a note of the
-- owner's own). SECURITY DEFINER, each checks ownership itself.

-- update-machine: each argument is {"set": bool, "value": …}.
create or replace function public.hangar_update_machine(p_machine_id uuid default null, p_name jsonb default null, p_project_id jsonb default null, p_tier jsonb default null)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  m public.machines;
  new_project pg_catalog.uuid;
  changes pg_catalog.jsonb := '{}';
begin
  select * into m from public.machines where id = p_machine_id and owner_id = auth.uid() for update;
  if not found then
    return private.refuse('not_found', 'Machine not found');
  end if;
  if (p_project_id ->> 'set')::boolean then
    new_project := (p_project_id ->> 'value')::pg_catalog.uuid;
    if new_project is not null and not exists (
        select 1 from public.projects where id = new_project and owner_id = auth.uid()) then
      return private.refuse('validation_error', 'Project not found', jsonb_build_object('field', 'projectId'));
    end if;
    m.project_id := new_project;
    changes := changes || jsonb_build_object('projectId', new_project);
  end if;
  if (p_tier ->> 'set')::boolean and p_tier ->> 'value' is distinct from m.tier then
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
  return private.ok(private.machine_json(m));
end $$;
revoke all on function public.hangar_update_machine(uuid, jsonb, jsonb, jsonb) from public, anon;
grant execute on function public.hangar_update_machine(uuid, jsonb, jsonb, jsonb) to authenticated, service_role;

-- log-machine-event: a user's own note on its machine.
create or replace function public.hangar_log_event(p_machine_id uuid default null, p_event_type text default null, p_details jsonb default null, p_level text default null)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  m public.machines;
  e public.machine_events;
begin
  select * into m from public.machines where id = p_machine_id and owner_id = auth.uid();
  if not found then
    return private.refuse('not_found', 'Machine not found');
  end if;
  insert into public.machine_events (machine_id, owner_id, event_type, details, level, source)
  values (m.id, m.owner_id, p_event_type, p_details, coalesce(p_level, 'info'), 'user')
  returning * into e;
  return private.ok(private.event_json(e));
end $$;
revoke all on function public.hangar_log_event(uuid, text, jsonb, text) from public, anon;
grant execute on function public.hangar_log_event(uuid, text, jsonb, text) to authenticated, service_role;
