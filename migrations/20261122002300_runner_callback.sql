-- runner-callback: the runner's signed calls about a job, each applied in one transaction
-- as the service role: the claim before it runs the job (hangar_job_claim), then its
-- reports (hangar_job_callback). Replays are no-ops (public.callback_receipts); a report
-- under a claim that was taken over changes nothing; a finished job never changes again;
-- only the job a machine is waiting on moves it.

-- The claim (API.md §5, "Claims"): a lease of job_lease_seconds and the next fencing
-- number, or why not, as data: `finished`, `terminated` (the machine is gone for good:
-- the job is settled here, a terminate with nothing left to do, anything else failed, so
-- that nothing brings the machine back), `leased` (another runner holds a live lease),
-- `busy` (an earlier job of the machine is not done: ask again, jobs of a machine run in
-- order). Any runner may take any job: a redelivery is never run twice; the same claim
-- sent again (a retry, or a replay) answers the same claim.
create or replace function public.hangar_job_claim(p_job_id uuid default null, p_runner_id text default null)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  j public.jobs;
  m public.machines;
  lease int := private.setting('job_lease_seconds');
  refused pg_catalog.jsonb;
begin
  if p_runner_id is null or p_runner_id !~ '^[A-Za-z0-9._:-]{1,128}$' then
    return private.refuse('validation_error', '`runnerId` must be 1 to 128 letters, digits or ._:-',
      jsonb_build_object('field', 'runnerId'));
  end if;
  j := private.lock_job(p_job_id);
  if j.id is null then
    return private.refuse('not_found', 'Job not found');
  end if;
  select * into m from public.machines where id = j.machine_id;
  refused := jsonb_build_object('claimed', false, 'leaseSeconds', lease);
  if j.status in ('succeeded', 'failed') then
    return private.ok(refused || jsonb_build_object('reason', 'finished', 'status', j.status));
  end if;
  if m.status = 'terminated' then
    if j.action = 'terminate' then
      update public.jobs set status = 'succeeded', error = null, result = jsonb_build_object('alreadyTerminated', true)
        where id = j.id returning * into j;
    else
      perform private.fail_job(j, 'machine was terminated', 'system');
      select * into j from public.jobs where id = p_job_id;
    end if;
    return private.ok(refused || jsonb_build_object('reason', 'terminated', 'status', j.status));
  end if;
  if j.lease_expires_at > now() then
    -- The same runner asking again (a retry of a claim whose answer it lost) keeps its claim.
    if j.claimed_by = p_runner_id then
      return private.ok(jsonb_build_object('claimed', true, 'fence', j.fence, 'leaseSeconds', lease, 'status', j.status));
    end if;
    return private.ok(refused || jsonb_build_object('reason', 'leased', 'status', j.status));
  end if;
  -- One job of a machine at a time, in order: an earlier one still to run, or still
  -- running under a live lease (a cancelled create whose runner is still applying).
  if exists (
      select 1 from public.jobs e
      where e.machine_id = j.machine_id and e.id <> j.id and e.created_at < j.created_at
        and (e.lease_expires_at > now() or (e.status in ('queued', 'dispatched', 'running') and e.cancelled_at is null))) then
    return private.ok(refused || jsonb_build_object('reason', 'busy', 'status', j.status));
  end if;
  update public.jobs set status = 'running', claimed_by = p_runner_id, fence = fence + 1,
      lease_expires_at = now() + make_interval(secs => lease), delivered_at = coalesce(delivered_at, now())
    where id = j.id returning * into j;
  return private.ok(jsonb_build_object('claimed', true, 'fence', j.fence, 'leaseSeconds', lease, 'status', j.status));
end $$;
revoke all on function public.hangar_job_claim(uuid, text) from public, anon, authenticated;
grant execute on function public.hangar_job_claim(uuid, text) to service_role;

create or replace function public.hangar_job_callback(
  p_job_id uuid default null, p_status text default null, p_outputs jsonb default null, p_logs jsonb default null, p_result jsonb default null, p_error text default null,
  p_signature text default null, p_fence bigint default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  j public.jobs;
  m public.machines;
  inserted int;
  expected pg_catalog.text;
  settled pg_catalog.text;
  t public.jobs;
  resync pg_catalog.jsonb;
begin
  if p_status is null or p_status not in ('running', 'succeeded', 'failed') then
    return private.refuse('validation_error', 'Unknown status', jsonb_build_object('field', 'status'));
  end if;
  j := private.lock_job(p_job_id);
  if j.id is null then
    return private.refuse('not_found', 'Job not found');
  end if;
  select * into m from public.machines where id = j.machine_id;
  -- Fencing: only the latest claim reports. A runner whose lease was taken over (or whose
  -- job timed out) changes nothing, not even a receipt.
  if j.fence = 0 or p_fence is distinct from j.fence then
    return private.refuse('conflict', format('Stale claim: the job is under claim %s, the report under %s', j.fence, coalesce(p_fence::pg_catalog.text, 'none')));
  end if;
  insert into public.callback_receipts (signature, job_id) values (p_signature, p_job_id)
    on conflict do nothing;
  get diagnostics inserted = row_count;
  if inserted = 0 then
    return private.ok(jsonb_build_object('applied', false, 'reason', 'replayed', 'status', j.status,
      'cancel', j.cancel_requested_at is not null));
  end if;
  -- Every report renews the claim's lease (heartbeats: the job may still be running on that
  -- runner even once a delete cancelled it); a final one ends it. A job finished under an
  -- ended lease stays as it is.
  if j.status not in ('succeeded', 'failed') or j.lease_expires_at is not null then
    update public.jobs set lease_expires_at = case when p_status = 'running'
        then now() + make_interval(secs => private.setting('job_lease_seconds')) end
      where id = j.id returning * into j;
  end if;
  -- Outputs are facts about the cloud: keep them whatever the job has become since (a
  -- terminate must know the instance id), unless the machine is gone for good.
  if p_outputs is not null and m.status <> 'terminated' then
    update public.machines set
      ip_address = coalesce(p_outputs ->> 'ipAddress', ip_address),
      provider_instance_id = coalesce(p_outputs ->> 'providerInstanceId', provider_instance_id)
    where id = m.id;
  end if;
  -- Hand-off rule (API.md §5): the runner is running a create that a delete cancelled
  -- without queueing a terminate (the create looked never handed over). Whatever it
  -- builds must be destroyed: queue a terminate, once.
  if j.action = 'create' and j.cancelled_at is not null and not exists (
      select 1 from public.jobs where machine_id = j.machine_id and action = 'terminate' and created_at >= j.created_at) then
    t := private.enqueue(m, 'terminate', '{}', 'machine.terminate_requested', 'system');
    return private.ok(jsonb_build_object('applied', false, 'reason', 'cancelled', 'status', j.status,
      'delivery', private.delivery(t)));
  end if;
  -- A finished job never changes again; a late "running" never undoes a result (and a
  -- runner still running a job cancel-job ended meanwhile is told to stop).
  if j.status in ('succeeded', 'failed') then
    return private.ok(jsonb_build_object('applied', false, 'reason', 'finished', 'status', j.status,
      'cancel', j.cancel_requested_at is not null));
  end if;

  insert into public.machine_events (machine_id, owner_id, event_type, details, level, source, created_at)
  select j.machine_id, j.owner_id, 'runner.log',
         jsonb_build_object('jobId', j.id, 'message', l ->> 'message'),
         case l ->> 'level' when 'warn' then 'warn' when 'warning' then 'warn' when 'error' then 'error' else 'info' end,
         'runner', coalesce((l ->> 'ts')::pg_catalog.timestamptz, clock_timestamp())
  from jsonb_array_elements(coalesce(p_logs, '[]')) as l;

  if p_status = 'running' then
    -- A job the reaper re-queued while its runner was only slow is that runner's again.
    -- `cancel`: the user asked cancel-job to stop it (the runner interrupts it).
    update public.jobs set status = 'running', delivered_at = coalesce(delivered_at, now()) where id = j.id;
    return private.ok(jsonb_build_object('applied', true, 'status', 'running', 'cancel', j.cancel_requested_at is not null));
  end if;

  if p_status = 'failed' then
    perform private.fail_job(j, coalesce(p_error, 'runner reported failure'), 'runner');
    update public.jobs set result = p_result where id = j.id;
    return private.ok(jsonb_build_object('applied', true, 'status', 'failed'));
  end if;

  update public.jobs set status = 'succeeded', result = p_result, error = null where id = j.id;
  expected := private.status_while(j.action);
  -- Only the job the machine is waiting on moves it; never backwards. A machine that
  -- comes up records last_started, one that goes down last_stopped.
  if expected is not null and m.status = expected then
    select a.settles_to into settled from private.job_actions a where a.action = j.action;
    update public.machines set
      status = settled,
      last_started = case when settled = 'running' then now() else last_started end,
      last_stopped = case when settled <> 'running' then now() else last_stopped end
    where id = m.id;
    resync := private.ssh_keys_on_arrival(m.id); -- SSH keys removed on its way (API.md §7)
  end if;
  update public.protocol_deployments set status = 'deployed' where job_id = j.id;
  insert into public.machine_events (machine_id, owner_id, event_type, details, source)
  values (j.machine_id, j.owner_id, 'job.succeeded', jsonb_build_object('jobId', j.id, 'action', j.action), 'runner');
  return private.ok(jsonb_build_object('applied', true, 'status', 'succeeded', 'delivery', resync));
end $$;
revoke all on function public.hangar_job_callback(uuid, text, jsonb, jsonb, jsonb, text, text, bigint) from public, anon, authenticated;
grant execute on function public.hangar_job_callback(uuid, text, jsonb, jsonb, jsonb, text, text, bigint) to service_role;
