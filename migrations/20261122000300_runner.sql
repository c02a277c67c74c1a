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
  settings jsonb not null default '{}',
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
language plpgsql security definer set search_path = public as $$
begin
  update jobs set status = 'failed', error = p_error where id = j.id;
  update machines set status = 'error'
    where id = j.machine_id and status = hangar_transitional_status(j.action);
  update protocol_deployments set status = 'failed' where job_id = j.id;
  insert into machine_events (machine_id, owner_id, event_type, details, level, source)
  values (j.machine_id, j.owner_id, 'job.failed',
    jsonb_build_object('jobId', j.id, 'action', j.action, 'error', p_error), 'error', p_source);
end $$;

-- After a delivery attempt: 2xx → dispatched; otherwise attempts + 1 and an exponential
-- next_attempt_at, or failed after p_max_attempts. A job that is no longer queued (the
-- runner already called back, or another delivery won) is left alone.
create or replace function public.hangar_delivery_result(
  p_job_id uuid default null, p_ok boolean default null, p_error text default null, p_agent_token_hash text default null,
  p_max_attempts int default null, p_retry_base_ms int default null
) returns jsonb
language plpgsql security definer set search_path = public as $$
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
  if p_ok and p_agent_token_hash is not null then
    update machines set agent_token_hash = p_agent_token_hash where id = j.machine_id;
  end if;
  if j.status <> 'queued' then
    -- The runner called back before this bookkeeping: the delivery still counts.
    if p_ok then
      update jobs set attempts = attempts + 1 where id = j.id;
    end if;
    return hangar_ok(jsonb_build_object('status', j.status, 'changed', false));
  end if;
  if p_ok then
    update jobs set status = 'dispatched', attempts = attempts + 1, error = null
      where id = j.id returning * into j;
    return hangar_ok(jsonb_build_object('status', j.status, 'changed', true));
  end if;

  update jobs set attempts = attempts + 1, error = p_error,
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

-- The scheduler's claim: due queued jobs, leased for p_lease_seconds so that a
-- concurrent tick or request does not send them too.
create or replace function public.hangar_claim_due_jobs(p_limit int default null, p_lease_seconds int default null) returns jsonb
language plpgsql security definer set search_path = public as $$
declare
  claimed jsonb;
begin
  with due as (
    select id from jobs
    where status = 'queued' and next_attempt_at <= now()
    order by next_attempt_at
    limit p_limit
    for update skip locked
  ), leased as (
    update jobs set next_attempt_at = now() + make_interval(secs => p_lease_seconds)
    from due where jobs.id = due.id
    returning jobs.*
  )
  select coalesce(jsonb_agg(hangar_delivery_json(leased)), '[]') into claimed from leased;
  delete from callback_receipts where received_at < now() - interval '1 day';
  return hangar_ok(claimed);
end $$;

-- runner-callback: applies one report of the runner in one transaction.
create or replace function public.hangar_job_callback(
  p_job_id uuid default null, p_status text default null, p_outputs jsonb default null, p_logs jsonb default null, p_result jsonb default null, p_error text default null,
  p_signature text default null
) returns jsonb
language plpgsql security definer set search_path = public as $$
declare
  j jobs;
  m machines;
  mid uuid;
  inserted int;
  expected text;
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

  -- Outputs are facts about the cloud: keep them even if the machine moved on
  -- (a terminate must know the instance id).
  if p_outputs is not null and m.status <> 'terminated' then
    update machines set
      ip_address = coalesce(p_outputs ->> 'ipAddress', ip_address),
      provider_instance_id = coalesce(p_outputs ->> 'providerInstanceId', provider_instance_id)
    where id = m.id;
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

-- deploy-protocol and send-command: jobs on a running machine, for its owner.
create or replace function public.hangar_machine_job(p_machine_id uuid default null, p_action text default null, p_params jsonb default null) returns jsonb
language plpgsql security definer set search_path = public as $$
declare
  m machines;
  j jobs;
  d protocol_deployments;
begin
  if p_action is null or p_action not in ('deploy', 'command') then
    return hangar_refuse('validation_error', 'Unknown action', jsonb_build_object('field', 'action'));
  end if;
  -- The same rules as the functions' parsing, for callers of /rpc.
  if p_action = 'deploy' and not (coalesce(p_params ->> 'name', '') ~ '^[A-Za-z0-9._-]{1,64}$'
      and coalesce(p_params ->> 'version', '') ~ '^[A-Za-z0-9._-]{1,64}$') then
    return hangar_refuse('validation_error', 'Invalid protocol', jsonb_build_object('field', 'protocolConfig'));
  end if;
  if p_action = 'command' and not (jsonb_typeof(p_params -> 'command') = 'string'
      and char_length(p_params ->> 'command') between 1 and 1024) then
    return hangar_refuse('validation_error', 'Invalid command', jsonb_build_object('field', 'command'));
  end if;
  if octet_length(coalesce(p_params, '{}')::text) > 65536 then
    return hangar_refuse('validation_error', 'Parameters too large', jsonb_build_object('field', 'params'));
  end if;
  select * into m from machines where id = p_machine_id and owner_id = auth.uid() for update;
  if not found then
    return hangar_refuse('not_found', 'Machine not found');
  end if;
  if m.status <> 'running' then
    return hangar_refuse_transition(m, p_action);
  end if;
  j := hangar_enqueue(m, p_action, p_params, 'machine.' || p_action || '_requested', 'user');
  if p_action = 'deploy' then
    insert into protocol_deployments (machine_id, owner_id, job_id, name, version, settings)
    values (m.id, m.owner_id, j.id, p_params ->> 'name', p_params ->> 'version',
      coalesce(nullif(p_params -> 'settings', 'null'::jsonb), '{}'))
    returning * into d;
  end if;
  return hangar_ok(jsonb_build_object(
    'job', hangar_job_json(j), 'deploymentId', d.id, 'delivery', hangar_delivery_json(j)));
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
