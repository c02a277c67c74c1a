-- The JSON shapes of API.md: Account (§2), Machine, MachineEvent and Job (§3), and the
-- runner webhook (§5). One definition each, used by every function that answers one.
-- The user-facing ones run as the caller inside the SECURITY INVOKER reads, so they see
-- only what RLS lets the caller see; hence their grants to authenticated.

-- The Account: machineCount counts machines that are not terminated.
create or replace function private.account_json(a public.accounts) returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object(
    'id', a.id,
    'displayName', a.display_name,
    'photoUrl', a.photo_url,
    'provider', a.provider,
    'identifier', a.identifier,
    'privyDid', a.privy_did,
    'creditBalanceCents', a.credit_balance_cents,
    'machineCount', (select count(*) from public.machines m where m.owner_id = a.id and m.status <> 'terminated'),
    'projectCount', (select count(*) from public.projects p where p.owner_id = a.id),
    'createdAt', private.ts(a.created_at),
    'lastLogin', private.ts(a.last_login)
  )
$$;
revoke all on function private.account_json(public.accounts) from public, anon, authenticated;
grant execute on function private.account_json(public.accounts) to authenticated, service_role;

-- The Machine, with its tier's size, the job it is waiting on (pendingJob) and its cost:
-- costPerHourCents (the tier's hourly price, monthly / 730 rounded up, as create and start
-- require an hour of) and totalCostCents (the sum of its charge records).
create or replace function private.machine_json(m public.machines) returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object(
    'id', m.id, 'name', m.name, 'status', m.status, 'tier', m.tier,
    'cpu', t.cpu, 'memoryMb', t.memory_mb, 'diskGb', t.disk_gb,
    'provider', m.provider, 'region', m.region, 'image', m.image,
    'ipAddress', m.ip_address, 'providerInstanceId', m.provider_instance_id,
    'projectId', m.project_id, 'configuration', m.configuration,
    'lastStarted', private.ts(m.last_started), 'lastStopped', private.ts(m.last_stopped),
    'createdAt', private.ts(m.created_at), 'updatedAt', private.ts(m.updated_at),
    'pendingJob', (
      select jsonb_build_object('id', j.id, 'action', j.action, 'status', j.status)
      from public.jobs j
      where j.machine_id = m.id and j.status in ('queued', 'dispatched', 'running')
      order by j.created_at desc limit 1),
    'costPerHourCents', t.price_per_hour_cents,
    'totalCostCents', (
      select coalesce(sum(r.amount_cents), 0)
      from public.billing_records r
      where r.machine_id = m.id and r.kind = 'charge'))
  from public.tiers t where t.id = m.tier
$$;
revoke all on function private.machine_json(public.machines) from public, anon, authenticated;
grant execute on function private.machine_json(public.machines) to authenticated, service_role;

create or replace function private.event_json(e public.machine_events) returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object(
    'id', e.id, 'machineId', e.machine_id, 'eventType', e.event_type, 'details', e.details,
    'level', e.level, 'source', e.source, 'createdAt', private.ts(e.created_at))
$$;
revoke all on function private.event_json(public.machine_events) from public, anon, authenticated;
grant execute on function private.event_json(public.machine_events) to authenticated, service_role;

create or replace function private.job_json(j public.jobs) returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object(
    'id', j.id, 'machineId', j.machine_id, 'action', j.action, 'status', j.status,
    'attempts', j.attempts, 'result', j.result, 'error', j.error,
    'createdAt', private.ts(j.created_at), 'updatedAt', private.ts(j.updated_at))
$$;
revoke all on function private.job_json(public.jobs) from public, anon, authenticated;
grant execute on function private.job_json(public.jobs) to authenticated, service_role;

-- The runner webhook body of API.md §5 for job j (the Worker adds callbackUrl and, for
-- create, agentToken). It carries the SSH key: only the definer functions call it.
create or replace function private.delivery_json(j public.jobs) returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object(
    'jobId', j.id, 'action', j.action, 'attempt', j.attempts + 1, 'params', j.params,
    'machine', jsonb_build_object(
      'id', m.id, 'name', m.name, 'tier', m.tier, 'cpu', t.cpu, 'memoryMb', t.memory_mb,
      'diskGb', t.disk_gb, 'provider', m.provider, 'region', m.region, 'image', m.image,
      'ipAddress', m.ip_address, 'providerInstanceId', m.provider_instance_id,
      'sshPublicKey', m.ssh_public_key, 'configuration', m.configuration))
  from public.machines m join public.tiers t on t.id = m.tier
  where m.id = j.machine_id
$$;
revoke all on function private.delivery_json(public.jobs) from public, anon, authenticated;

-- A job for the Worker to deliver: its id, and its webhook body as JSON *text*, which the
-- Worker decodes on its own, so that one undecodable job fails alone.
create or replace function private.delivery(j public.jobs) returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object('jobId', j.id, 'payload', private.delivery_json(j)::pg_catalog.text)
$$;
revoke all on function private.delivery(public.jobs) from public, anon, authenticated;
