-- Delivery of the jobs outbox (API.md §5), for the Workers (service role): the outcome
-- of each delivery attempt, with back-off and a final failure, and the scheduler's claim
-- of due jobs, whose payloads the Worker then delivers one by one.

-- The job `p_job_id` locked for a change, its machine first (always machine first, then
-- job, as the transitions lock them: no deadlock); null when there is no such job.
create or replace function private.lock_job(p_job_id uuid) returns public.jobs
language plpgsql set search_path = '' as $$
declare
  j public.jobs;
begin
  perform 1 from public.machines m where m.id = (select machine_id from public.jobs where id = p_job_id) for update;
  select * into j from public.jobs where id = p_job_id for update;
  return j;
end $$;
revoke all on function private.lock_job(uuid) from public, anon, authenticated;

-- A job that can no longer succeed: the job fails, the machine (if it was waiting on
-- this job) goes to error, and an event says why.
create or replace function private.fail_job(j public.jobs, p_error text, p_source text) returns void
language plpgsql set search_path = '' as $$
begin
  update public.jobs set status = 'failed', error = p_error where id = j.id;
  update public.machines set status = 'error'
    where id = j.machine_id and status = private.status_while(j.action);
  update public.protocol_deployments set status = 'failed' where job_id = j.id;
  insert into public.machine_events (machine_id, owner_id, event_type, details, level, source)
  values (j.machine_id, j.owner_id, 'job.failed',
    jsonb_build_object('jobId', j.id, 'action', j.action, 'error', p_error), 'error', p_source);
end $$;
revoke all on function private.fail_job(public.jobs, text, text) from public, anon, authenticated;

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
language plpgsql security definer set search_path = '' as $$
declare
  j public.jobs := private.lock_job(p_job_id);
begin
  if j.id is null then
    return private.refuse('not_found', 'Job not found');
  end if;
  if p_ok then
    if p_agent_token_hash is not null and j.action = 'create' then
      update public.machines set agent_token_hash = p_agent_token_hash
        where id = j.machine_id and agent_token_hash is null;
    end if;
    update public.jobs set attempts = attempts + 1, delivered_at = coalesce(delivered_at, now()),
        error = case when status = 'dispatched' then null else error end
      where id = j.id returning * into j;
    return private.ok(jsonb_build_object('status', j.status, 'changed', true));
  end if;
  if j.status not in ('queued', 'dispatched') or j.delivered_at is not null then
    return private.ok(jsonb_build_object('status', j.status, 'changed', false));
  end if;

  update public.jobs set status = 'queued', attempts = attempts + 1, error = p_error,
      next_attempt_at = now() + make_interval(secs => least(600.0,
        p_retry_base_ms / 1000.0 * power(2, attempts)))
    where id = j.id returning * into j;
  if j.attempts >= p_max_attempts then
    perform private.fail_job(j, format('runner unreachable after %s attempts: %s', j.attempts, p_error), 'system');
    return private.ok(jsonb_build_object('status', 'failed', 'changed', true));
  end if;
  insert into public.machine_events (machine_id, owner_id, event_type, details, level, source)
  values (j.machine_id, j.owner_id, 'job.delivery_failed',
    jsonb_build_object('jobId', j.id, 'attempt', j.attempts, 'error', p_error,
      'nextAttemptAt', private.ts(j.next_attempt_at)), 'warn', 'system');
  return private.ok(jsonb_build_object('status', j.status, 'changed', true));
end $$;
revoke all on function public.hangar_delivery_result(uuid, boolean, text, text, int, int) from public, anon, authenticated;
grant execute on function public.hangar_delivery_result(uuid, boolean, text, text, int, int) to service_role;

-- How long a lifecycle job may take (API.md §5, "The reaper"), from private.settings;
-- null for deploy, command and authorize_keys (a command has its own timeoutSec).
create or replace function private.job_timeout_seconds(p_action text) returns bigint
language sql stable set search_path = '' as $$
  select case
    when p_action = 'create' then private.setting('job_timeout_create_seconds')
    when a.settles_to is not null then private.setting('job_timeout_seconds')
  end
  from private.job_actions a where a.action = p_action
$$;
revoke all on function private.job_timeout_seconds(text) from public, anon, authenticated;

-- What a timed-out lifecycle job may have left in the cloud, for its event.
create or replace function private.left_behind(j public.jobs, m public.machines) returns text
language sql stable set search_path = '' as $$
  select case j.action
    when 'create' then 'whatever the create built stays in the machine''s Terraform state (workspace '
      || m.id || coalesce(', instance ' || m.provider_instance_id, '') || '): delete the machine to destroy it'
    when 'terminate' then 'the machine''s cloud resources may still exist (Terraform state workspace ' || m.id
      || coalesce(', instance ' || m.provider_instance_id, '') || '): delete the machine again to destroy them'
    else 'the machine may be running or stopped in the cloud (Terraform state workspace ' || m.id
      || coalesce(', instance ' || m.provider_instance_id, '') || '): start, stop or delete it again'
  end
$$;
revoke all on function private.left_behind(public.jobs, public.machines) from public, anon, authenticated;

-- The reaper, at the start of each scheduler tick (API.md §5, "The reaper"):
-- - a lifecycle job past its action's timeout fails: the machine goes to error with a
--   `job.timed_out` event saying what may be left behind, and the claim's fencing number
--   moves on, so the late reports of its runner change nothing;
-- - a job whose runner went quiet (claimed, lease run out; or delivered and never claimed
--   within the lease) goes back to `queued`, due at once, for any runner to claim, with a
--   `job.requeued` event. Its fencing number stays: the slow runner's reports still count
--   until another runner claims the job.
-- Machines are locked first and SKIP LOCKED (one in a transition is reaped by the next
-- tick), as the transitions lock them: no deadlock.
create or replace function private.reap_jobs(p_limit int) returns jsonb
language plpgsql set search_path = '' as $$
declare
  lease int := private.setting('job_lease_seconds');
  create_timeout bigint := private.job_timeout_seconds('create');
  other_timeout bigint := private.job_timeout_seconds('start');
  c record;
  j public.jobs;
  m public.machines;
  timeout bigint;
  timed_out int := 0;
  requeued int := 0;
begin
  -- Only jobs older than the shorter timeout are looked at (jobs_unfinished), so a tick
  -- over many waiting jobs stays cheap.
  for c in
    select id, machine_id from public.jobs
    where status in ('queued', 'dispatched', 'running')
      and created_at < now() - make_interval(secs => least(create_timeout, other_timeout))
      and created_at < now() - make_interval(secs => coalesce(private.job_timeout_seconds(action), 1e9))
    order by created_at limit p_limit
  loop
    select * into m from public.machines where id = c.machine_id for update skip locked;
    continue when not found;
    select * into j from public.jobs where id = c.id and status in ('queued', 'dispatched', 'running') for update;
    continue when not found;
    timeout := private.job_timeout_seconds(j.action);
    update public.jobs set status = 'failed', error = format('timed out after %s s', timeout),
        fence = fence + 1, lease_expires_at = null
      where id = j.id;
    update public.machines set status = 'error'
      where id = j.machine_id and status = private.status_while(j.action);
    insert into public.machine_events (machine_id, owner_id, event_type, details, level, source)
    values (j.machine_id, j.owner_id, 'job.timed_out',
      jsonb_build_object('jobId', j.id, 'action', j.action, 'timeoutSeconds', timeout, 'runnerId', j.claimed_by,
        'leftBehind', private.left_behind(j, m)), 'error', 'system');
    timed_out := timed_out + 1;
  end loop;

  for c in
    (select id, machine_id from public.jobs where lease_expires_at < now() and status = 'running' limit p_limit)
    union all
    (select id, machine_id from public.jobs where status = 'dispatched' and delivered_at < now() - make_interval(secs => lease) limit p_limit)
  loop
    perform 1 from public.machines where id = c.machine_id for update skip locked;
    continue when not found;
    select * into j from public.jobs where id = c.id for update;
    continue when not ((j.status = 'running' and j.lease_expires_at < now())
      or (j.status = 'dispatched' and j.delivered_at < now() - make_interval(secs => lease)));
    update public.jobs set status = 'queued', delivered_at = null, claimed_by = null, lease_expires_at = null,
        next_attempt_at = now()
      where id = j.id;
    insert into public.machine_events (machine_id, owner_id, event_type, details, level, source)
    values (j.machine_id, j.owner_id, 'job.requeued',
      jsonb_build_object('jobId', j.id, 'action', j.action, 'runnerId', j.claimed_by,
        'reason', case when j.status = 'running' then 'the runner''s lease ran out' else 'delivered but never claimed' end),
      'warn', 'system');
    requeued := requeued + 1;
  end loop;
  return jsonb_build_object('timedOut', timed_out, 'requeued', requeued);
end $$;
revoke all on function private.reap_jobs(int) from public, anon, authenticated;

-- The scheduler's claim, after the reaper: due queued jobs, and handed-over jobs whose
-- delivery never settled (the Worker delivering them died), marked `dispatched` before
-- their webhooks leave (API.md §5) and leased for job_lease_seconds so that a concurrent
-- tick does not send them too. Each payload is its own JSON text, so that the Worker
-- decodes and delivers each job on its own: one bad payload fails alone.
create or replace function public.hangar_claim_due_jobs(p_limit int default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  reaped pg_catalog.jsonb := private.reap_jobs(p_limit);
  claimed pg_catalog.jsonb;
begin
  with due as (
    select id from public.jobs
    where status in ('queued', 'dispatched') and delivered_at is null and next_attempt_at <= now()
    order by next_attempt_at
    limit p_limit
    for update skip locked
  ), leased as (
    update public.jobs set status = 'dispatched',
        next_attempt_at = now() + make_interval(secs => private.setting('job_lease_seconds'))
    from due where jobs.id = due.id
    returning jobs.*
  )
  select coalesce(jsonb_agg(private.delivery(leased)), '[]') into claimed from leased;
  delete from public.callback_receipts where received_at < now() - interval '1 day';
  return private.ok(reaped || jsonb_build_object('jobs', claimed));
end $$;
revoke all on function public.hangar_claim_due_jobs(int) from public, anon, authenticated;
grant execute on function public.hangar_claim_due_jobs(int) to service_role;
