-- deploy-protocol and send-command: jobs that a user asks for on a running machine of
-- theirs or of their team (private.can_act), with parameters checked here exactly as the
-- Worker parses them (so callers of /rpc get no more), stored as the runner reads them
-- (API.md §5), at most max_pending_jobs_per_machine waiting at once.

-- A command-line word as send-command takes it: 1–1024 bytes, no newline.
create or replace function private.is_command_word(v jsonb) returns boolean
language sql immutable set search_path = '' as $$
  select pg_catalog.jsonb_typeof(v) = 'string'
    and pg_catalog.octet_length(v #>> '{}') between 1 and 1024
    and (v #>> '{}') !~ '[\n\r]'  -- text and jsonb cannot hold NUL at all
$$;
revoke all on function private.is_command_word(jsonb) from public, anon, authenticated;

-- The params a user may send for deploy / command, and what the runner then reads:
-- deploy  {name, version, settings?}        → {deploymentId, name, version, settings}
-- command {command, args?, timeoutSec?}      → {command, args, timeoutSec}
-- Returns the refusal, or null when p_params is acceptable.
create or replace function private.job_params_refusal(p_action text, p_params jsonb) returns jsonb
language plpgsql immutable set search_path = '' as $$
declare
  allowed pg_catalog.text[] := case p_action when 'deploy' then array['name', 'version', 'settings']
    else array['command', 'args', 'timeoutSec'] end;
  unknown pg_catalog.text;
  field pg_catalog.text := case p_action when 'deploy' then 'protocolConfig' else '' end;
  prefix pg_catalog.text := case p_action when 'deploy' then 'protocolConfig.' else '' end;
  bad pg_catalog.text;
begin
  if p_params is null or jsonb_typeof(p_params) <> 'object' then
    return private.refuse('validation_error', 'Parameters must be a JSON object',
      jsonb_build_object('field', coalesce(nullif(field, ''), 'params')));
  end if;
  select k into unknown from jsonb_object_keys(p_params) k where k <> all (allowed) limit 1;
  if unknown is not null then
    return private.refuse('validation_error', format('Unknown field `%s%s`', prefix, unknown),
      jsonb_build_object('field', prefix || unknown));
  end if;
  if p_action = 'deploy' then
    bad := case
      -- A name may hold spaces inside ("My Protocol"), a version may not (protocol::payload).
      when coalesce(p_params ->> 'name', '') !~ '^[A-Za-z0-9_-]([A-Za-z0-9._ -]{0,62}[A-Za-z0-9._-])?$' or jsonb_typeof(p_params -> 'name') <> 'string' then 'name'
      when coalesce(p_params ->> 'version', '') !~ '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$' or jsonb_typeof(p_params -> 'version') <> 'string' then 'version'
      when p_params ? 'settings' and jsonb_typeof(p_params -> 'settings') not in ('object', 'null') then 'settings'
      when octet_length(coalesce(p_params -> 'settings', '{}')::pg_catalog.text) > 16384
        or private.jsonb_depth(p_params -> 'settings') > 16 then 'settings'
    end;
  else
    bad := case
      when not private.is_command_word(p_params -> 'command') then 'command'
      when p_params ? 'args' and (jsonb_typeof(p_params -> 'args') <> 'array'
        or jsonb_array_length(p_params -> 'args') > 64
        or exists (select 1 from jsonb_array_elements(p_params -> 'args') a where not private.is_command_word(a)))
        then 'args'
      when p_params ? 'timeoutSec' and not (jsonb_typeof(p_params -> 'timeoutSec') = 'number'
        and (p_params ->> 'timeoutSec') ~ '^[0-9]{1,4}$'
        and (p_params ->> 'timeoutSec')::int between 1 and 3600) then 'timeoutSec'
    end;
  end if;
  if bad is not null then
    return private.refuse('validation_error', format('`%s%s` is invalid', prefix, bad),
      jsonb_build_object('field', prefix || bad));
  end if;
  return null;
end $$;
revoke all on function private.job_params_refusal(text, jsonb) from public, anon, authenticated;

create or replace function public.hangar_machine_job(p_machine_id uuid default null, p_action text default null, p_params jsonb default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  m public.machines;
  tr private.machine_transitions;
  j public.jobs;
  refusal pg_catalog.jsonb;
  params pg_catalog.jsonb;
  deployment_id pg_catalog.uuid;
  limit_count bigint;
  pending bigint;
begin
  if p_action is null or p_action not in ('deploy', 'command') then
    return private.refuse('validation_error', 'Unknown action', jsonb_build_object('field', 'action'));
  end if;
  refusal := private.job_params_refusal(p_action, p_params);
  if refusal is not null then
    return refusal;
  end if;
  select * into m from public.machines
    where id = p_machine_id and private.can_act(owner_id, team_id, p_action) for update;
  if not found then
    return private.refuse('not_found', 'Machine not found');
  end if;
  select * into tr from private.machine_transitions
    where action = p_action and from_status = m.status and job_action is not null;
  if not found then
    return private.refuse_transition(m, p_action);
  end if;
  limit_count := private.setting('max_pending_jobs_per_machine');
  select count(*) into pending from public.jobs
    where machine_id = m.id and action in ('deploy', 'command') and status in ('queued', 'dispatched');
  if pending >= limit_count then
    return private.refuse('quota_exceeded',
      format('A machine may have at most %s deploy or command jobs waiting', limit_count),
      jsonb_build_object('limit', limit_count, 'current', pending));
  end if;
  -- What the runner reads, and nothing else (a deploymentId is never the caller's).
  if p_action = 'deploy' then
    deployment_id := gen_random_uuid();
    params := jsonb_build_object('deploymentId', deployment_id, 'name', p_params -> 'name',
      'version', p_params -> 'version',
      'settings', coalesce(nullif(p_params -> 'settings', 'null'::pg_catalog.jsonb), '{}'));
  else
    params := jsonb_build_object('command', p_params -> 'command',
      'args', coalesce(p_params -> 'args', '[]'), 'timeoutSec', coalesce(p_params -> 'timeoutSec', '300'));
  end if;
  j := private.enqueue(m, tr.job_action, params, 'machine.' || p_action || '_requested', 'user');
  if p_action = 'deploy' then
    insert into public.protocol_deployments (id, machine_id, owner_id, job_id, name, version, settings)
    values (deployment_id, m.id, m.owner_id, j.id, params ->> 'name', params ->> 'version', params -> 'settings');
  end if;
  return private.ok(jsonb_build_object(
    'job', private.job_json(j), 'deploymentId', deployment_id, 'delivery', private.delivery(j)));
end $$;
revoke all on function public.hangar_machine_job(uuid, text, jsonb) from public, anon;
grant execute on function public.hangar_machine_job(uuid, text, jsonb) to authenticated, service_role;

-- cancel-job (API.md §5, "Cancelling"): a deploy or command job of a machine the caller may
-- run it on. One no runner holds yet fails at once (`cancelled_at`, a job.cancelled event);
-- one a runner is running is marked (`cancel_requested_at`, a job.cancel_requested event):
-- the answer to the runner's next report says `cancel`, it interrupts the SSH command and
-- reports the job failed. A finished job is 409, a lifecycle job too (delete is how a
-- create ends). Answers the job.
create or replace function public.hangar_cancel_job(p_job_id uuid default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  j public.jobs := private.lock_job(p_job_id);
  m public.machines;
begin
  select * into m from public.machines where id = j.machine_id;
  if not found or not private.can_act(m.owner_id, m.team_id, 'read') then
    return private.refuse('not_found', 'Job not found');
  end if;
  if j.action not in ('deploy', 'command') then
    return private.refuse('conflict', 'Only deploy and command jobs can be cancelled (delete the machine to end a lifecycle job)');
  end if;
  if not private.can_act(m.owner_id, m.team_id, j.action) then
    return private.refuse('forbidden', 'You may not cancel this job');
  end if;
  if j.status in ('succeeded', 'failed') then
    return private.refuse('conflict', format('Job already %s', j.status));
  end if;
  if j.lease_expires_at is null or j.lease_expires_at <= now() then
    update public.jobs set status = 'failed', error = 'cancelled', cancelled_at = now(), cancel_requested_at = now(),
        lease_expires_at = null
      where id = j.id returning * into j;
    update public.protocol_deployments set status = 'failed' where job_id = j.id;
    insert into public.machine_events (machine_id, owner_id, event_type, details, source)
    values (j.machine_id, j.owner_id, 'job.cancelled', jsonb_build_object('jobId', j.id, 'action', j.action), 'user');
  elsif j.cancel_requested_at is null then
    update public.jobs set cancel_requested_at = now() where id = j.id returning * into j;
    insert into public.machine_events (machine_id, owner_id, event_type, details, source)
    values (j.machine_id, j.owner_id, 'job.cancel_requested',
      jsonb_build_object('jobId', j.id, 'action', j.action, 'runnerId', j.claimed_by), 'user');
  end if;
  return private.ok(private.job_json(j));
end $$;
revoke all on function public.hangar_cancel_job(uuid) from public, anon;
grant execute on function public.hangar_cancel_job(uuid) to authenticated, service_role;
