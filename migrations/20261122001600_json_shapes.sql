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

-- The sum of a machine's charge records. SECURITY DEFINER: the records are its creator's
-- (billing_records RLS), and a team member reading the machine sees its cost too.
-- PL/pgSQL, whose plan is kept for the session: a SQL function called from machine_json is
-- planned again for every machine.
create or replace function private.machine_cost_cents(p_machine uuid) returns bigint
language plpgsql stable security definer set search_path = '' as $$
begin
  return (select coalesce(sum(r.amount_cents), 0)::bigint
    from public.billing_records r
    where r.machine_id = p_machine and r.kind = 'charge');
end $$;
revoke all on function private.machine_cost_cents(uuid) from public, anon, authenticated;
grant execute on function private.machine_cost_cents(uuid) to authenticated, service_role;

-- The ids of the SSH keys chosen for a machine, in the order chosen (API.md §7), as the
-- caller may see them (machine_ssh_keys RLS follows the machine's). PL/pgSQL because the
-- table comes later (20261201001000_ssh_keys.sql): a SQL function's body is checked when
-- it is created, a PL/pgSQL one's when it runs.
create or replace function private.machine_ssh_key_ids(p_machine uuid) returns jsonb
language plpgsql stable set search_path = '' as $$
begin
  return coalesce((select jsonb_agg(to_jsonb(k.ssh_key_id) order by k.position)
    from public.machine_ssh_keys k where k.machine_id = p_machine), '[]');
end $$;
revoke all on function private.machine_ssh_key_ids(uuid) from public, anon, authenticated;
grant execute on function private.machine_ssh_key_ids(uuid) to authenticated, service_role;

-- The machine's sshAuthorizedKeys for the runner (API.md §5, §7): the lines of its chosen
-- keys in order, then its own sshPublicKey, each key once (by its blob). The runner adds
-- its own key. PL/pgSQL for the same reason as above; only definer functions call it.
create or replace function private.machine_authorized_keys(m public.machines) returns jsonb
language plpgsql stable set search_path = '' as $$
begin
  return (select coalesce(jsonb_agg(d.line order by d.ord), '[]') from (
    select distinct on (split_part(a.line, ' ', 2)) a.line, a.ord from (
      select k.public_key as line, mk.position::int as ord
      from public.machine_ssh_keys mk join public.ssh_keys k on k.id = mk.ssh_key_id
      where mk.machine_id = m.id
      union all
      select m.ssh_public_key, 1000 where m.ssh_public_key is not null
    ) a
    order by split_part(a.line, ' ', 2), a.ord) d);
end $$;
revoke all on function private.machine_authorized_keys(public.machines) from public, anon, authenticated;

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
    'projectId', m.project_id, 'teamId', m.team_id, 'configuration', m.configuration,
    'lastStarted', private.ts(m.last_started), 'lastStopped', private.ts(m.last_stopped),
    'createdAt', private.ts(m.created_at), 'updatedAt', private.ts(m.updated_at),
    'pendingJob', (
      select jsonb_build_object('id', j.id, 'action', j.action, 'status', j.status)
      from public.jobs j
      where j.machine_id = m.id and j.status in ('queued', 'dispatched', 'running')
      order by j.created_at desc limit 1),
    'costPerHourCents', t.price_per_hour_cents,
    'totalCostCents', private.machine_cost_cents(m.id),
    'sshKeyIds', private.machine_ssh_key_ids(m.id))
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
      'sshPublicKey', m.ssh_public_key, 'sshAuthorizedKeys', private.machine_authorized_keys(m),
      'configuration', m.configuration))
  from public.machines m join public.tiers t on t.id = m.tier
  where m.id = j.machine_id
$$;
revoke all on function private.delivery_json(public.jobs) from public, anon, authenticated;

-- Whether a create or deploy job has secrets in scope (private.secrets_in_scope, with
-- the secrets): the Worker fetches and opens them (hangar_job_secrets) only
-- then, so a delivery without secrets costs no extra round trip. PL/pgSQL: the secrets
-- table comes later in name order (a SQL body is checked at creation).
create or replace function private.job_has_secrets(j public.jobs) returns boolean
language plpgsql stable set search_path = '' as $$
begin
  return j.action in ('create', 'deploy') and exists (select 1 from private.secrets_in_scope(j.machine_id));
end $$;
revoke all on function private.job_has_secrets(public.jobs) from public, anon, authenticated;

-- A job for the Worker to deliver: its id and action, its webhook body as JSON *text*,
-- which the Worker sends on as it is (adding its own fields at the end), so that one job
-- that cannot be read fails alone, whether it has secrets to open, and the machine's
-- provider (the job goes to a runner of it).
create or replace function private.delivery(j public.jobs) returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object('jobId', j.id, 'action', j.action, 'payload', private.delivery_json(j)::pg_catalog.text,
    'secrets', private.job_has_secrets(j),
    'provider', (select m.provider from public.machines m where m.id = j.machine_id))
$$;
revoke all on function private.delivery(public.jobs) from public, anon, authenticated;
