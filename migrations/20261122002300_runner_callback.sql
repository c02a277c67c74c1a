-- runner-callback: one signed report of the runner about a job, applied in one
-- transaction as the service role. Replays are no-ops (public.callback_receipts); a
-- finished job never changes again; only the job a machine is waiting on moves it.

create or replace function public.hangar_job_callback(
  p_job_id uuid default null, p_status text default null, p_outputs jsonb default null, p_logs jsonb default null, p_result jsonb default null, p_error text default null,
  p_signature text default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  j public.jobs;
  m public.machines;
  mid pg_catalog.uuid;
  inserted int;
  expected pg_catalog.text;
  settled pg_catalog.text;
  t public.jobs;
  resync pg_catalog.jsonb;
begin
  if p_status is null or p_status not in ('running', 'succeeded', 'failed') then
    return private.refuse('validation_error', 'Unknown status', jsonb_build_object('field', 'status'));
  end if;
  -- Locks are always taken machine first, then job (as the transitions do): no deadlock.
  select machine_id into mid from public.jobs where id = p_job_id;
  if not found then
    return private.refuse('not_found', 'Job not found');
  end if;
  select * into m from public.machines where id = mid for update;
  select * into j from public.jobs where id = p_job_id for update;
  insert into public.callback_receipts (signature, job_id) values (p_signature, p_job_id)
    on conflict do nothing;
  get diagnostics inserted = row_count;
  if inserted = 0 then
    return private.ok(jsonb_build_object('applied', false, 'reason', 'replayed', 'status', j.status));
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
  -- A finished job never changes again; a late "running" never undoes a result.
  if j.status in ('succeeded', 'failed') then
    return private.ok(jsonb_build_object('applied', false, 'reason', 'finished', 'status', j.status));
  end if;

  insert into public.machine_events (machine_id, owner_id, event_type, details, level, source, created_at)
  select j.machine_id, j.owner_id, 'runner.log',
         jsonb_build_object('jobId', j.id, 'message', l ->> 'message'),
         case l ->> 'level' when 'warn' then 'warn' when 'warning' then 'warn' when 'error' then 'error' else 'info' end,
         'runner', coalesce((l ->> 'ts')::pg_catalog.timestamptz, clock_timestamp())
  from jsonb_array_elements(coalesce(p_logs, '[]')) as l;

  if p_status = 'running' then
    update public.jobs set status = 'running' where id = j.id;
    return private.ok(jsonb_build_object('applied', true, 'status', 'running'));
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
revoke all on function public.hangar_job_callback(uuid, text, jsonb, jsonb, jsonb, text, text) from public, anon, authenticated;
grant execute on function public.hangar_job_callback(uuid, text, jsonb, jsonb, jsonb, text, text) to service_role;
