-- Provisioning through the runner: delivery bookkeeping for the jobs outbox, runner
-- callbacks, protocol deployments and commands. Everything here runs as the service role
-- (the Workers) except deploy/command, which a user asks for on its own running machine.

create table public.protocol_deployments (
  id uuid primary key default gen_random_uuid(),
  machine_id uuid not null references public.machines (id) on delete cascade,
  owner_id uuid not null references public.accounts (id) on delete cascade,
  job_id uuid references public.jobs (id) on delete set null,
  name text not null,
  version text not null,
  settings jsonb not null default '{}' check (private.jsonb_depth(settings) <= 16),
  status text not null default 'pending' check (status in ('pending', 'deployed', 'failed')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index protocol_deployments_machine on public.protocol_deployments (machine_id, created_at desc);
create trigger protocol_deployments_touch before update on public.protocol_deployments
  for each row execute function public.hangar_touch_updated_at();

alter table public.protocol_deployments enable row level security;
revoke all on public.protocol_deployments from anon, authenticated;
grant all on public.protocol_deployments to service_role;
grant select on public.protocol_deployments to authenticated;
create policy protocol_deployments_select_own on public.protocol_deployments for select to authenticated
  using (owner_id = auth.uid());

-- Signatures of callbacks already applied: a replayed callback is a no-op.
create table public.callback_receipts (
  signature text primary key,
  job_id uuid not null,
  received_at timestamptz not null default now()
);
alter table public.callback_receipts enable row level security;
revoke all on public.callback_receipts from anon, authenticated;
grant all on public.callback_receipts to service_role;

-- The status a machine holds while a job of this action is under way.
create or replace function public.hangar_transitional_status(p_action text) returns text
language sql immutable as $$
  select case p_action when 'create' then 'provisioning' when 'start' then 'starting'
    when 'stop' then 'stopping' when 'restart' then 'restarting' when 'terminate' then 'terminating' end
$$;

-- A job that can no longer succeed: the job fails, the machine (if it was waiting on
-- this job) goes to error, and an event says why.
create or replace function public.hangar_fail_job(j public.jobs, p_error text, p_source text) returns void
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
begin
  update jobs set status = 'failed', error = p_error where id = j.id;
  update machines set status = 'error'
    where id = j.machine_id and status = hangar_transitional_status(j.action);
  update protocol_deployments set status = 'failed' where job_id = j.id;
  insert into machine_events (machine_id, owner_id, event_type, details, level, source)
  values (j.machine_id, j.owner_id, 'job.failed',
    jsonb_build_object('jobId', j.id, 'action', j.action, 'error', p_error), 'error', p_source);
end $$;

-- After a delivery attempt. 2xx: the runner has the job (delivered_at; it stays
-- `dispatched` or whatever a callback already made it). Otherwise attempts + 1 and back
-- to `queued` with an exponential next_attempt_at, or failed after p_max_attempts. A job
-- no longer waiting on this delivery (cancelled, or the runner already called back) is
-- left alone. The agent token hash is written once: a redelivered create never replaces
-- the token the machine already holds.
create or replace function public.hangar_delivery_result(
  p_job_id uuid default null, p_ok boolean default null, p_error text default null, p_agent_token_hash text default null,
  p_max_attempts int default null, p_retry_base_ms int default null
) returns jsonb
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  j jobs;
  mid uuid;
begin
  -- Locks are always taken machine first, then job (as the transitions do): no deadlock.
  select machine_id into mid from jobs where id = p_job_id;
  if not found then
    return hangar_refuse('not_found', 'Job not found');
  end if;
  perform 1 from machines where id = mid for update;
  select * into j from jobs where id = p_job_id for update;
  if p_ok then
    if p_agent_token_hash is not null and j.action = 'create' then
      update machines set agent_token_hash = p_agent_token_hash
        where id = j.machine_id and agent_token_hash is null;
    end if;
    update jobs set attempts = attempts + 1, delivered_at = coalesce(delivered_at, now()),
        error = case when status = 'dispatched' then null else error end
      where id = j.id returning * into j;
    return hangar_ok(jsonb_build_object('status', j.status, 'changed', true));
  end if;
  if j.status not in ('queued', 'dispatched') or j.delivered_at is not null then
    return hangar_ok(jsonb_build_object('status', j.status, 'changed', false));
  end if;

  update jobs set status = 'queued', attempts = attempts + 1, error = p_error,
      next_attempt_at = now() + make_interval(secs => least(600.0,
        p_retry_base_ms / 1000.0 * power(2, attempts)))
    where id = j.id returning * into j;
  if j.attempts >= p_max_attempts then
    perform hangar_fail_job(j, format('runner unreachable after %s attempts: %s', j.attempts, p_error), 'system');
    return hangar_ok(jsonb_build_object('status', 'failed', 'changed', true));
  end if;
  insert into machine_events (machine_id, owner_id, event_type, details, level, source)
  values (j.machine_id, j.owner_id, 'job.delivery_failed',
    jsonb_build_object('jobId', j.id, 'attempt', j.attempts, 'error', p_error,
      'nextAttemptAt', hangar_ts(j.next_attempt_at)), 'warn', 'system');
  return hangar_ok(jsonb_build_object('status', j.status, 'changed', true));
end $$;

-- The scheduler's claim: due queued jobs, and handed-over jobs whose delivery never
-- settled (the Worker delivering them died), marked `dispatched` before their webhooks
-- leave (API.md §5) and leased for p_lease_seconds so that a concurrent tick does not
-- send them too. Each payload is its own JSON text, so that the Worker decodes and
-- delivers each job on its own: one bad payload fails alone.
create or replace function public.hangar_claim_due_jobs(p_limit int default null, p_lease_seconds int default null) returns jsonb
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  claimed jsonb;
begin
  with due as (
    select id from jobs
    where status in ('queued', 'dispatched') and delivered_at is null and next_attempt_at <= now()
    order by next_attempt_at
    limit p_limit
    for update skip locked
  ), leased as (
    update jobs set status = 'dispatched', next_attempt_at = now() + make_interval(secs => p_lease_seconds)
    from due where jobs.id = due.id
    returning jobs.*
  )
  select coalesce(jsonb_agg(private.delivery(leased)), '[]') into claimed from leased;
  delete from callback_receipts where received_at < now() - interval '1 day';
  return hangar_ok(claimed);
end $$;

-- runner-callback: applies one report of the runner in one transaction.
create or replace function public.hangar_job_callback(
  p_job_id uuid default null, p_status text default null, p_outputs jsonb default null, p_logs jsonb default null, p_result jsonb default null, p_error text default null,
  p_signature text default null
) returns jsonb
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  j jobs;
  m machines;
  mid uuid;
  inserted int;
  expected text;
  t jobs;
begin
  if p_status is null or p_status not in ('running', 'succeeded', 'failed') then
    return hangar_refuse('validation_error', 'Unknown status', jsonb_build_object('field', 'status'));
  end if;
  -- Locks are always taken machine first, then job (as the transitions do): no deadlock.
  select machine_id into mid from jobs where id = p_job_id;
  if not found then
    return hangar_refuse('not_found', 'Job not found');
  end if;
  select * into m from machines where id = mid for update;
  select * into j from jobs where id = p_job_id for update;
  insert into callback_receipts (signature, job_id) values (p_signature, p_job_id)
    on conflict do nothing;
  get diagnostics inserted = row_count;
  if inserted = 0 then
    return hangar_ok(jsonb_build_object('applied', false, 'reason', 'replayed', 'status', j.status));
  end if;
  -- Outputs are facts about the cloud: keep them whatever the job has become since (a
  -- terminate must know the instance id), unless the machine is gone for good.
  if p_outputs is not null and m.status <> 'terminated' then
    update machines set
      ip_address = coalesce(p_outputs ->> 'ipAddress', ip_address),
      provider_instance_id = coalesce(p_outputs ->> 'providerInstanceId', provider_instance_id)
    where id = m.id;
  end if;
  -- Hand-off rule (API.md §5): the runner is running a create that a delete cancelled
  -- without queueing a terminate (the create looked never handed over). Whatever it
  -- builds must be destroyed: queue a terminate, once.
  if j.action = 'create' and j.cancelled_at is not null and not exists (
      select 1 from jobs where machine_id = j.machine_id and action = 'terminate' and created_at >= j.created_at) then
    t := hangar_enqueue(m, 'terminate', '{}', 'machine.terminate_requested', 'system');
    return hangar_ok(jsonb_build_object('applied', false, 'reason', 'cancelled', 'status', j.status,
      'delivery', private.delivery(t)));
  end if;
  -- A finished job never changes again; a late "running" never undoes a result.
  if j.status in ('succeeded', 'failed') then
    return hangar_ok(jsonb_build_object('applied', false, 'reason', 'finished', 'status', j.status));
  end if;

  insert into machine_events (machine_id, owner_id, event_type, details, level, source, created_at)
  select j.machine_id, j.owner_id, 'runner.log',
         jsonb_build_object('jobId', j.id, 'message', l ->> 'message'),
         case l ->> 'level' when 'warn' then 'warn' when 'warning' then 'warn' when 'error' then 'error' else 'info' end,
         'runner', coalesce((l ->> 'ts')::timestamptz, clock_timestamp())
  from jsonb_array_elements(coalesce(p_logs, '[]')) as l;

  if p_status = 'running' then
    update jobs set status = 'running' where id = j.id;
    return hangar_ok(jsonb_build_object('applied', true, 'status', 'running'));
  end if;

  if p_status = 'failed' then
    perform hangar_fail_job(j, coalesce(p_error, 'runner reported failure'), 'runner');
    update jobs set result = p_result where id = j.id;
    return hangar_ok(jsonb_build_object('applied', true, 'status', 'failed'));
  end if;

  update jobs set status = 'succeeded', result = p_result, error = null where id = j.id;
  expected := hangar_transitional_status(j.action);
  -- Only the job the machine is waiting on moves it; never backwards.
  if expected is not null and m.status = expected then
    update machines set
      status = case j.action when 'stop' then 'stopped' when 'terminate' then 'terminated' else 'running' end,
      last_started = case when j.action in ('create', 'start', 'restart') then now() else last_started end,
      last_stopped = case when j.action in ('stop', 'terminate') then now() else last_stopped end
    where id = m.id;
  end if;
  update protocol_deployments set status = 'deployed' where job_id = j.id;
  insert into machine_events (machine_id, owner_id, event_type, details, source)
  values (j.machine_id, j.owner_id, 'job.succeeded', jsonb_build_object('jobId', j.id, 'action', j.action), 'runner');
  return hangar_ok(jsonb_build_object('applied', true, 'status', 'succeeded'));
end $$;

-- A command-line word as send-command takes it: 1–1024 bytes, no newline.
create or replace function private.is_command_word(v jsonb) returns boolean
language sql immutable set search_path = '' as $$
  select pg_catalog.jsonb_typeof(v) = 'string'
    and pg_catalog.octet_length(v #>> '{}') between 1 and 1024
    and (v #>> '{}') !~ '[\n\r]'  -- text and jsonb cannot hold NUL at all
$$;
revoke all on function private.is_command_word(jsonb) from public, anon, authenticated;

-- The params a user may send for deploy / command, checked exactly as the Worker parses
-- them (callers of /rpc included), and the params the runner then reads: API.md §5.
-- deploy  {name, version, settings?}        → {deploymentId, name, version, settings}
-- command {command, args?, timeoutSec?}      → {command, args, timeoutSec}
-- Returns the refusal, or null when p_params is acceptable.
create or replace function private.job_params_refusal(p_action text, p_params jsonb) returns jsonb
language plpgsql immutable set search_path = pg_catalog, public, pg_temp as $$
declare
  allowed text[] := case p_action when 'deploy' then array['name', 'version', 'settings']
    else array['command', 'args', 'timeoutSec'] end;
  unknown text;
  field text := case p_action when 'deploy' then 'protocolConfig' else '' end;
  prefix text := case p_action when 'deploy' then 'protocolConfig.' else '' end;
  bad text;
begin
  if p_params is null or jsonb_typeof(p_params) <> 'object' then
    return hangar_refuse('validation_error', 'Parameters must be a JSON object',
      jsonb_build_object('field', coalesce(nullif(field, ''), 'params')));
  end if;
  select k into unknown from jsonb_object_keys(p_params) k where k <> all (allowed) limit 1;
  if unknown is not null then
    return hangar_refuse('validation_error', format('Unknown field `%s%s`', prefix, unknown),
      jsonb_build_object('field', prefix || unknown));
  end if;
  if p_action = 'deploy' then
    bad := case
      when coalesce(p_params ->> 'name', '') !~ '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$' or jsonb_typeof(p_params -> 'name') <> 'string' then 'name'
      when coalesce(p_params ->> 'version', '') !~ '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$' or jsonb_typeof(p_params -> 'version') <> 'string' then 'version'
      when p_params ? 'settings' and jsonb_typeof(p_params -> 'settings') not in ('object', 'null') then 'settings'
      when octet_length(coalesce(p_params -> 'settings', '{}')::text) > 16384
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
    return hangar_refuse('validation_error', format('`%s%s` is invalid', prefix, bad),
      jsonb_build_object('field', prefix || bad));
  end if;
  return null;
end $$;
revoke all on function private.job_params_refusal(text, jsonb) from public, anon, authenticated;

-- deploy-protocol and send-command: jobs on a running machine, for its owner, at most
-- max_pending_jobs_per_machine of them waiting at once.
create or replace function public.hangar_machine_job(p_machine_id uuid default null, p_action text default null, p_params jsonb default null) returns jsonb
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  m machines;
  j jobs;
  refusal jsonb;
  params jsonb;
  deployment_id uuid;
  limit_count bigint;
  pending bigint;
begin
  if p_action is null or p_action not in ('deploy', 'command') then
    return hangar_refuse('validation_error', 'Unknown action', jsonb_build_object('field', 'action'));
  end if;
  refusal := private.job_params_refusal(p_action, p_params);
  if refusal is not null then
    return refusal;
  end if;
  select * into m from machines where id = p_machine_id and owner_id = auth.uid() for update;
  if not found then
    return hangar_refuse('not_found', 'Machine not found');
  end if;
  if m.status <> 'running' then
    return hangar_refuse_transition(m, p_action);
  end if;
  limit_count := private.setting('max_pending_jobs_per_machine');
  select count(*) into pending from jobs
    where machine_id = m.id and action in ('deploy', 'command') and status in ('queued', 'dispatched');
  if pending >= limit_count then
    return hangar_refuse('quota_exceeded',
      format('A machine may have at most %s deploy or command jobs waiting', limit_count),
      jsonb_build_object('limit', limit_count, 'current', pending));
  end if;
  -- What the runner reads, and nothing else (a deploymentId is never the caller's).
  if p_action = 'deploy' then
    deployment_id := gen_random_uuid();
    params := jsonb_build_object('deploymentId', deployment_id, 'name', p_params -> 'name',
      'version', p_params -> 'version',
      'settings', coalesce(nullif(p_params -> 'settings', 'null'::jsonb), '{}'));
  else
    params := jsonb_build_object('command', p_params -> 'command',
      'args', coalesce(p_params -> 'args', '[]'), 'timeoutSec', coalesce(p_params -> 'timeoutSec', '300'));
  end if;
  j := hangar_enqueue(m, p_action, params, 'machine.' || p_action || '_requested', 'user');
  if p_action = 'deploy' then
    insert into protocol_deployments (id, machine_id, owner_id, job_id, name, version, settings)
    values (deployment_id, m.id, m.owner_id, j.id, params ->> 'name', params ->> 'version', params -> 'settings');
  end if;
  return hangar_ok(jsonb_build_object(
    'job', hangar_job_json(j), 'deploymentId', deployment_id, 'delivery', private.delivery(j)));
end $$;

revoke all on function public.hangar_fail_job(public.jobs, text, text) from public, anon, authenticated;
revoke all on function public.hangar_delivery_result(uuid, boolean, text, text, int, int) from public, anon, authenticated;
revoke all on function public.hangar_claim_due_jobs(int, int) from public, anon, authenticated;
revoke all on function public.hangar_job_callback(uuid, text, jsonb, jsonb, jsonb, text, text) from public, anon, authenticated;
revoke all on function public.hangar_machine_job(uuid, text, jsonb) from public, anon;
grant execute on function public.hangar_delivery_result(uuid, boolean, text, text, int, int) to service_role;
grant execute on function public.hangar_claim_due_jobs(int, int) to service_role;
grant execute on function public.hangar_job_callback(uuid, text, jsonb, jsonb, jsonb, text, text) to service_role;
grant execute on function public.hangar_machine_job(uuid, text, jsonb) to authenticated, service_role;
