-- Delivery of the jobs outbox (API.md §5), for the Workers (service role): the outcome
-- of each delivery attempt, with back-off and a final failure, and the scheduler's claim
-- of due jobs, whose payloads the Worker then delivers one by one.

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
  j public.jobs;
  mid pg_catalog.uuid;
begin
  -- Locks are always taken machine first, then job (as the transitions do): no deadlock.
  select machine_id into mid from public.jobs where id = p_job_id;
  if not found then
    return private.refuse('not_found', 'Job not found');
  end if;
  perform 1 from public.machines where id = mid for update;
  select * into j from public.jobs where id = p_job_id for update;
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

-- The scheduler's claim: due queued jobs, and handed-over jobs whose delivery never
-- settled (the Worker delivering them died), marked `dispatched` before their webhooks
-- leave (API.md §5) and leased for p_lease_seconds so that a concurrent tick does not
-- send them too. Each payload is its own JSON text, so that the Worker decodes and
-- delivers each job on its own: one bad payload fails alone.
create or replace function public.hangar_claim_due_jobs(p_limit int default null, p_lease_seconds int default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  claimed pg_catalog.jsonb;
begin
  with due as (
    select id from public.jobs
    where status in ('queued', 'dispatched') and delivered_at is null and next_attempt_at <= now()
    order by next_attempt_at
    limit p_limit
    for update skip locked
  ), leased as (
    update public.jobs set status = 'dispatched', next_attempt_at = now() + make_interval(secs => p_lease_seconds)
    from due where jobs.id = due.id
    returning jobs.*
  )
  select coalesce(jsonb_agg(private.delivery(leased)), '[]') into claimed from leased;
  delete from public.callback_receipts where received_at < now() - interval '1 day';
  return private.ok(claimed);
end $$;
revoke all on function public.hangar_claim_due_jobs(int, int) from public, anon, authenticated;
grant execute on function public.hangar_claim_due_jobs(int, int) to service_role;
