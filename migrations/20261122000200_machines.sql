-- Machines, their events and jobs (the outbox), projects, tiers and idempotency keys.
-- Users read their own rows through RLS and may change only a machine's name and project
-- directly; every transition goes through hangar_machine_action, which locks the row and
-- writes the machine, the job and the event in one transaction.

create table public.tiers (
  id text primary key,
  cpu numeric(4, 1) not null,
  memory_mb int not null,
  disk_gb int not null,
  price_per_month_cents bigint not null,
  -- monthly / 730 hours, rounded up to the cent
  price_per_hour_cents bigint generated always as ((price_per_month_cents + 729) / 730) stored
);
insert into public.tiers (id, cpu, memory_mb, disk_gb, price_per_month_cents) values
  ('dev.small', 0.5, 1024, 10, 600),
  ('dev.medium', 1, 2048, 20, 1200),
  ('dev.large', 2, 4096, 40, 2400),
  ('dev.xlarge', 4, 8192, 80, 4800);

alter table public.tiers enable row level security;
revoke all on public.tiers from anon, authenticated;
grant select on public.tiers to anon, authenticated;
grant all on public.tiers to service_role;
create policy tiers_read on public.tiers for select to anon, authenticated using (true);

create table public.projects (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references public.accounts (id) on delete cascade,
  name text not null check (char_length(btrim(name)) between 1 and 63),
  description text check (description is null or char_length(description) <= 1000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index projects_owner on public.projects (owner_id, created_at desc);
create trigger projects_touch before update on public.projects
  for each row execute function public.hangar_touch_updated_at();

alter table public.projects enable row level security;
revoke all on public.projects from anon, authenticated;
grant all on public.projects to service_role;
grant select, delete on public.projects to authenticated;
grant insert (name, description) on public.projects to authenticated;
grant update (name, description) on public.projects to authenticated;
create policy projects_own on public.projects for all to authenticated
  using (owner_id = auth.uid()) with check (owner_id = auth.uid());

create table public.machines (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references public.accounts (id) on delete cascade,
  project_id uuid references public.projects (id) on delete set null,
  name text not null check (name ~ '^[A-Za-z0-9 _-]{1,63}$'),
  status text not null default 'provisioning' check (status in (
    'provisioning', 'starting', 'running', 'stopping', 'stopped',
    'restarting', 'terminating', 'terminated', 'error')),
  tier text not null references public.tiers (id),
  provider text not null check (provider in ('aws', 'gcp', 'azure')),
  region text not null check (region ~ '^[a-z0-9-]{2,32}$'),
  image text not null check (image ~ '^[A-Za-z0-9._:/@-]{1,128}$'),
  configuration jsonb not null default '{}'
    check (jsonb_typeof(configuration) = 'object' and octet_length(configuration::text) <= 16384
      and private.jsonb_depth(configuration) <= 16),
  ssh_public_key text check (ssh_public_key is null or (octet_length(ssh_public_key) <= 8192
    and ssh_public_key ~ '^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,2}( [^\n]*)?$')),
  ip_address text,
  provider_instance_id text,
  agent_token_hash text,
  last_started timestamptz,
  last_stopped timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index machines_owner_page on public.machines (owner_id, created_at desc, id desc);
create index machines_project on public.machines (project_id);
create trigger machines_touch before update on public.machines
  for each row execute function public.hangar_touch_updated_at();

alter table public.machines enable row level security;
revoke all on public.machines from anon, authenticated;
grant all on public.machines to service_role;
grant select on public.machines to authenticated;
grant update (name, project_id) on public.machines to authenticated;
create policy machines_select_own on public.machines for select to authenticated
  using (owner_id = auth.uid());
create policy machines_update_own on public.machines for update to authenticated
  using (owner_id = auth.uid())
  with check (owner_id = auth.uid() and (project_id is null or exists (
    select 1 from public.projects p where p.id = project_id and p.owner_id = auth.uid())));

create table public.machine_events (
  id uuid primary key default gen_random_uuid(),
  machine_id uuid not null references public.machines (id) on delete cascade,
  owner_id uuid not null references public.accounts (id) on delete cascade,
  event_type text not null check (event_type ~ '^[A-Za-z0-9._:-]{1,64}$'),
  details jsonb check (details is null or (octet_length(details::text) <= 16384
    and private.jsonb_depth(details) <= 32)),
  level text not null default 'info' check (level in ('info', 'warn', 'error')),
  source text not null check (source in ('user', 'system', 'runner', 'agent')),
  created_at timestamptz not null default clock_timestamp()
);
create index machine_events_machine on public.machine_events (machine_id, created_at desc, id desc);

alter table public.machine_events enable row level security;
revoke all on public.machine_events from anon, authenticated;
grant all on public.machine_events to service_role;
grant select on public.machine_events to authenticated;
create policy machine_events_select_own on public.machine_events for select to authenticated
  using (owner_id = auth.uid());

create table public.jobs (
  id uuid primary key default gen_random_uuid(),
  machine_id uuid not null references public.machines (id) on delete cascade,
  owner_id uuid not null references public.accounts (id) on delete cascade,
  action text not null check (action in ('create', 'start', 'stop', 'restart', 'terminate', 'deploy', 'command')),
  status text not null default 'queued' check (status in ('queued', 'dispatched', 'running', 'succeeded', 'failed')),
  attempts int not null default 0,
  next_attempt_at timestamptz not null default now(),
  -- Exactly what the runner reads (API.md §5); the settings of a deploy sit one level in.
  params jsonb not null default '{}' check (private.jsonb_depth(params) <= 17),
  result jsonb check (result is null or private.jsonb_depth(result) <= 32),
  error text,
  -- Set when the runner acknowledged a delivery (2xx). A job `dispatched` without it is
  -- being handed over: its lease (next_attempt_at) lets the scheduler retry it if the
  -- Worker that was delivering it died.
  delivered_at timestamptz,
  -- Set when a delete superseded the job; the runner may still run it (API.md §5).
  cancelled_at timestamptz,
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp()
);
create index jobs_machine on public.jobs (machine_id, created_at desc);
create index jobs_due on public.jobs (next_attempt_at)
  where status in ('queued', 'dispatched') and delivered_at is null;
create trigger jobs_touch before update on public.jobs
  for each row execute function public.hangar_touch_updated_at();

alter table public.jobs enable row level security;
revoke all on public.jobs from anon, authenticated;
grant all on public.jobs to service_role;
grant select on public.jobs to authenticated;
create policy jobs_select_own on public.jobs for select to authenticated
  using (owner_id = auth.uid());

-- Idempotency-Key: the first response's machine, per caller and key, for 24 hours.
create table public.idempotency_keys (
  owner_id uuid not null references public.accounts (id) on delete cascade,
  key text not null,
  request_hash text not null,
  machine_id uuid references public.machines (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (owner_id, key)
);
alter table public.idempotency_keys enable row level security;
revoke all on public.idempotency_keys from anon, authenticated;
grant all on public.idempotency_keys to service_role;

-- ---------------------------------------------------------------------------------
-- JSON shapes of API.md §3
create or replace function public.hangar_job_json(j public.jobs) returns jsonb
language sql stable as $$
  select jsonb_build_object(
    'id', j.id, 'machineId', j.machine_id, 'action', j.action, 'status', j.status,
    'attempts', j.attempts, 'result', j.result, 'error', j.error,
    'createdAt', public.hangar_ts(j.created_at), 'updatedAt', public.hangar_ts(j.updated_at))
$$;

create or replace function public.hangar_event_json(e public.machine_events) returns jsonb
language sql stable as $$
  select jsonb_build_object(
    'id', e.id, 'machineId', e.machine_id, 'eventType', e.event_type, 'details', e.details,
    'level', e.level, 'source', e.source, 'createdAt', public.hangar_ts(e.created_at))
$$;

create or replace function public.hangar_machine_json(m public.machines) returns jsonb
language sql stable as $$
  select jsonb_build_object(
    'id', m.id, 'name', m.name, 'status', m.status, 'tier', m.tier,
    'cpu', t.cpu, 'memoryMb', t.memory_mb, 'diskGb', t.disk_gb,
    'provider', m.provider, 'region', m.region, 'image', m.image,
    'ipAddress', m.ip_address, 'providerInstanceId', m.provider_instance_id,
    'projectId', m.project_id, 'configuration', m.configuration,
    'lastStarted', public.hangar_ts(m.last_started), 'lastStopped', public.hangar_ts(m.last_stopped),
    'createdAt', public.hangar_ts(m.created_at), 'updatedAt', public.hangar_ts(m.updated_at),
    'pendingJob', (
      select jsonb_build_object('id', j.id, 'action', j.action, 'status', j.status)
      from public.jobs j
      where j.machine_id = m.id and j.status in ('queued', 'dispatched', 'running')
      order by j.created_at desc limit 1))
  from public.tiers t where t.id = m.tier
$$;

-- The Account now counts machines (not terminated) and projects.
create or replace function public.hangar_account_json(a public.accounts) returns jsonb
language sql stable as $$
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
    'createdAt', public.hangar_ts(a.created_at),
    'lastLogin', public.hangar_ts(a.last_login)
  )
$$;

-- The runner webhook body of API.md §5 for job j (the Worker adds callbackUrl and,
-- for create, agentToken).
create or replace function public.hangar_delivery_json(j public.jobs) returns jsonb
language sql stable security definer set search_path = pg_catalog, public, pg_temp as $$
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

-- A job for the Worker to deliver: its id, and its webhook body as JSON *text*, which the
-- Worker decodes on its own, so that one undecodable job fails alone.
create or replace function private.delivery(j public.jobs) returns jsonb
language sql stable set search_path = '' as $$
  select pg_catalog.jsonb_build_object('jobId', j.id, 'payload', public.hangar_delivery_json(j)::text)
$$;
revoke all on function private.delivery(public.jobs) from public, anon, authenticated;

-- ---------------------------------------------------------------------------------
-- The transition table of API.md §3.
create or replace function public.hangar_allowed_actions(p_status text) returns text[]
language sql immutable as $$
  select case p_status
    when 'running' then array['stop', 'restart', 'delete', 'deploy', 'command']
    when 'stopped' then array['start', 'delete']
    when 'error' then array['start', 'delete']
    when 'terminating' then array[]::text[]
    when 'terminated' then array[]::text[]
    else array['delete']
  end
$$;

-- Statuses in which an action has nothing left to do (answered 200, no job).
create or replace function public.hangar_action_done(p_action text, p_status text) returns boolean
language sql immutable as $$
  select case p_action
    when 'start' then p_status in ('running', 'starting')
    when 'stop' then p_status in ('stopped', 'stopping')
    when 'restart' then p_status = 'restarting'
    when 'delete' then p_status in ('terminating', 'terminated')
    else false
  end
$$;

create or replace function public.hangar_refuse_transition(m public.machines, p_action text) returns jsonb
language sql stable as $$
  select public.hangar_refuse('invalid_state_transition',
    format('Machine is %s; %s', m.status, case
      when cardinality(public.hangar_allowed_actions(m.status)) = 0 then 'no action is allowed'
      else 'only ' || array_to_string(public.hangar_allowed_actions(m.status), ', ') || ' allowed' end),
    jsonb_build_object('status', m.status, 'action', p_action,
      'allowed', to_jsonb(public.hangar_allowed_actions(m.status))))
$$;

-- Writes a job and its event for machine m; returns the job.
create or replace function public.hangar_enqueue(m public.machines, p_action text, p_params jsonb, p_event text, p_source text)
returns public.jobs
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  j jobs;
begin
  -- Hand-off rule (API.md §5): the request delivers its own job right after it commits,
  -- so the job is committed `dispatched` before its webhook leaves. The scheduler takes
  -- it over only if that delivery has not settled within the lease.
  insert into jobs (machine_id, owner_id, action, status, params, next_attempt_at)
  values (m.id, m.owner_id, p_action, 'dispatched', coalesce(p_params, '{}'), now() + interval '60 seconds')
  returning * into j;
  insert into machine_events (machine_id, owner_id, event_type, details, source)
  values (m.id, m.owner_id, p_event, jsonb_build_object('jobId', j.id, 'status', m.status), p_source);
  return j;
end $$;

-- The hourly price of the account's machines that are running or on their way there,
-- leaving out `except_id` (the machine being started).
create or replace function private.running_hourly_cents(p_owner uuid, p_except uuid) returns bigint
language sql stable set search_path = '' as $$
  select coalesce(sum(t.price_per_hour_cents), 0)::bigint
  from public.machines m join public.tiers t on t.id = m.tier
  where m.owner_id = p_owner and m.id is distinct from p_except
    and m.status in ('provisioning', 'starting', 'running', 'restarting')
$$;
revoke all on function private.running_hourly_cents(uuid, uuid) from public, anon, authenticated;

-- start / stop / restart / delete, for the caller (auth.uid()).
-- Answers {machine, changed}: changed=false for an idempotent repeat.
create or replace function public.hangar_machine_action(p_machine_id uuid default null, p_action text default null) returns jsonb
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  m machines;
  next_status text;
  job_action text;
  provisioned boolean;
  j jobs;
  balance bigint;
  required bigint;
begin
  if p_action is null or p_action not in ('start', 'stop', 'restart', 'delete') then
    return hangar_refuse('validation_error', 'Unknown action', jsonb_build_object('field', 'action'));
  end if;
  -- The row lock serializes concurrent requests for one machine: exactly one job.
  select * into m from machines where id = p_machine_id and owner_id = auth.uid() for update;
  if not found then
    return hangar_refuse('not_found', 'Machine not found');
  end if;
  if hangar_action_done(p_action, m.status) then
    return hangar_ok(jsonb_build_object('machine', hangar_machine_json(m), 'changed', false));
  end if;
  if not p_action = any (hangar_allowed_actions(m.status)) then
    return hangar_refuse_transition(m, p_action);
  end if;

  if p_action = 'start' then
    -- The balance must cover one hour of every machine the account would then have
    -- running (API.md §3). The account row lock serializes starts and creates.
    select credit_balance_cents into balance from accounts where id = m.owner_id for update;
    required := private.running_hourly_cents(m.owner_id, m.id)
      + (select price_per_hour_cents from tiers where id = m.tier);
    if balance < required then
      return hangar_refuse('insufficient_credits', 'Insufficient credits',
        jsonb_build_object('balanceCents', balance, 'requiredCents', required));
    end if;
  end if;

  if p_action = 'delete' then
    -- Hand-off rule (API.md §5): only a create that was never handed to the runner (its
    -- job is still `queued`) lets the machine end at once. Once it is `dispatched` or
    -- later, the runner may build something, so delete queues a terminate.
    provisioned := m.provider_instance_id is not null or exists (
      select 1 from jobs where machine_id = m.id and action = 'create' and status <> 'queued'
        and cancelled_at is null);
    if not provisioned then
      update jobs set status = 'failed', cancelled_at = now(),
          error = 'cancelled: machine deleted before provisioning'
        where machine_id = m.id and status = 'queued';
      update machines set status = 'terminated', last_stopped = coalesce(last_stopped, now())
        where id = m.id returning * into m;
      insert into machine_events (machine_id, owner_id, event_type, details, source)
      values (m.id, m.owner_id, 'machine.terminated', jsonb_build_object('reason', 'deleted before provisioning'), 'user');
      return hangar_ok(jsonb_build_object('machine', hangar_machine_json(m), 'changed', true));
    end if;
    -- The terminate supersedes any lifecycle job under way: one active lifecycle job per
    -- machine. The runner runs a machine's jobs in order, so what it already has still
    -- ends before the terminate does.
    update jobs set status = 'failed', cancelled_at = now(), error = 'cancelled: machine deleted'
      where machine_id = m.id and status in ('queued', 'dispatched', 'running')
        and action in ('create', 'start', 'stop', 'restart');
  end if;

  next_status := case p_action when 'start' then 'starting' when 'stop' then 'stopping'
    when 'restart' then 'restarting' else 'terminating' end;
  job_action := case p_action when 'delete' then 'terminate' else p_action end;
  update machines set status = next_status where id = m.id returning * into m;
  j := hangar_enqueue(m, job_action, '{}', 'machine.' || p_action || '_requested', 'user');
  return hangar_ok(jsonb_build_object('machine', hangar_machine_json(m), 'changed', true,
    'delivery', private.delivery(j)));
end $$;

-- create-machine: ownership of the project, the balance (one hour of the tier), the
-- Idempotency-Key, then the machine, its create job and event.
create or replace function public.hangar_create_machine(
  p_name text default null, p_tier text default null, p_provider text default null, p_region text default null, p_image text default null,
  p_project_id uuid default null, p_configuration jsonb default null, p_ssh_public_key text default null,
  p_idempotency_key text default null
) returns jsonb
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  uid uuid := auth.uid();
  m machines;
  t tiers;
  balance bigint;
  required bigint;
  limit_count bigint;
  current_count bigint;
  req_hash text;
  k idempotency_keys;
  inserted int;
  j jobs;
begin
  if uid is null then
    return hangar_refuse('invalid_token', 'No caller');
  end if;
  select * into t from tiers where id = p_tier;
  if not found then
    return hangar_refuse('validation_error', 'Unknown tier', jsonb_build_object('field', 'tier'));
  end if;

  if p_idempotency_key is not null then
    req_hash := md5(jsonb_build_array(p_name, p_tier, p_provider, p_region, p_image,
      p_project_id, p_configuration, p_ssh_public_key)::text);
    delete from idempotency_keys
      where owner_id = uid and key = p_idempotency_key and created_at < now() - interval '24 hours';
    -- A concurrent request with the same key waits here until the first one commits.
    insert into idempotency_keys (owner_id, key, request_hash)
    values (uid, p_idempotency_key, req_hash)
    on conflict (owner_id, key) do nothing;
    get diagnostics inserted = row_count;
    if inserted = 0 then
      select * into k from idempotency_keys where owner_id = uid and key = p_idempotency_key;
      if k.request_hash <> req_hash then
        return hangar_refuse('conflict', 'Idempotency-Key was used with a different request');
      end if;
      select * into m from machines where id = k.machine_id;
      if not found then
        return hangar_refuse('conflict', 'Idempotency-Key is in use');
      end if;
      return hangar_ok(jsonb_build_object('machine', hangar_machine_json(m), 'changed', false));
    end if;
  end if;

  -- Refusals return normally (no rollback), so each one frees the key it took: a repeat
  -- is checked afresh and gets the same answer.
  if p_project_id is not null and not exists (
      select 1 from projects where id = p_project_id and owner_id = uid) then
    delete from idempotency_keys where owner_id = uid and key = p_idempotency_key;
    return hangar_refuse('validation_error', 'Project not found', jsonb_build_object('field', 'projectId'));
  end if;

  -- The account row lock serializes this account's creates and starts, so the quota
  -- and the balance are checked against what really exists.
  select credit_balance_cents, max_machines into balance, limit_count from accounts where id = uid for update;
  if balance is null then
    delete from idempotency_keys where owner_id = uid and key = p_idempotency_key;
    return hangar_refuse('not_found', 'Account not found');
  end if;
  limit_count := coalesce(limit_count, private.setting('max_machines_per_account'));
  select count(*) into current_count from machines where owner_id = uid and status <> 'terminated';
  if current_count >= limit_count then
    delete from idempotency_keys where owner_id = uid and key = p_idempotency_key;
    return hangar_refuse('quota_exceeded',
      format('An account may have at most %s machines that are not terminated', limit_count),
      jsonb_build_object('limit', limit_count, 'current', current_count));
  end if;
  -- One hour of every machine the account would then have running (API.md §3).
  required := private.running_hourly_cents(uid, null) + t.price_per_hour_cents;
  if balance < required then
    delete from idempotency_keys where owner_id = uid and key = p_idempotency_key;
    return hangar_refuse('insufficient_credits', 'Insufficient credits',
      jsonb_build_object('balanceCents', balance, 'requiredCents', required));
  end if;

  insert into machines (owner_id, project_id, name, tier, provider, region, image,
    configuration, ssh_public_key)
  values (uid, p_project_id, p_name, p_tier, p_provider, p_region, p_image,
    coalesce(p_configuration, '{}'), p_ssh_public_key)
  returning * into m;
  j := hangar_enqueue(m, 'create', '{}', 'machine.create_requested', 'user');
  if p_idempotency_key is not null then
    update idempotency_keys set machine_id = m.id where owner_id = uid and key = p_idempotency_key;
  end if;
  return hangar_ok(jsonb_build_object('machine', hangar_machine_json(m), 'changed', true,
    'delivery', private.delivery(j)));
end $$;

-- update-machine: name and project any time; tier only while stopped.
create or replace function public.hangar_update_machine(p_machine_id uuid default null, p_name jsonb default null, p_project_id jsonb default null, p_tier jsonb default null)
returns jsonb
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  m machines;
  new_project uuid;
  changes jsonb := '{}';
begin
  select * into m from machines where id = p_machine_id and owner_id = auth.uid() for update;
  if not found then
    return hangar_refuse('not_found', 'Machine not found');
  end if;
  if (p_project_id ->> 'set')::boolean then
    new_project := (p_project_id ->> 'value')::uuid;
    if new_project is not null and not exists (
        select 1 from projects where id = new_project and owner_id = auth.uid()) then
      return hangar_refuse('validation_error', 'Project not found', jsonb_build_object('field', 'projectId'));
    end if;
    m.project_id := new_project;
    changes := changes || jsonb_build_object('projectId', new_project);
  end if;
  if (p_tier ->> 'set')::boolean and p_tier ->> 'value' is distinct from m.tier then
    if m.status <> 'stopped' then
      return hangar_refuse('invalid_state_transition',
        format('Machine is %s; the tier can change only while stopped', m.status),
        jsonb_build_object('status', m.status, 'action', 'resize',
          'allowed', to_jsonb(hangar_allowed_actions(m.status))));
    end if;
    if not exists (select 1 from tiers where id = p_tier ->> 'value') then
      return hangar_refuse('validation_error', 'Unknown tier', jsonb_build_object('field', 'tier'));
    end if;
    m.tier := p_tier ->> 'value';
    changes := changes || jsonb_build_object('tier', m.tier);
  end if;
  if (p_name ->> 'set')::boolean then
    m.name := p_name ->> 'value';
    changes := changes || jsonb_build_object('name', m.name);
  end if;
  update machines set name = m.name, project_id = m.project_id, tier = m.tier
    where id = m.id returning * into m;
  if changes <> '{}' then
    insert into machine_events (machine_id, owner_id, event_type, details, source)
    values (m.id, m.owner_id, 'machine.updated', changes, 'user');
  end if;
  return hangar_ok(hangar_machine_json(m));
end $$;

-- get-user-machines: keyset pagination on (created_at, id), newest first.
create or replace function public.hangar_list_machines(
  p_status text default null, p_project_id uuid default null, p_limit int default null, p_cursor_ts timestamptz default null, p_cursor_id uuid default null,
  p_include_terminated boolean default null
) returns jsonb
language plpgsql stable security invoker set search_path = pg_catalog, public, pg_temp as $$
declare
  page_size int := least(greatest(coalesce(p_limit, 50), 1), 100);
  items jsonb;
  more boolean;
  last_ts timestamptz;
  last_id uuid;
begin
  with page as (
    select m, row_number() over (order by m.created_at desc, m.id desc) as n
    from machines m
    where m.owner_id = auth.uid()
      and (p_status is null or m.status = p_status)
      and (p_project_id is null or m.project_id = p_project_id)
      and (coalesce(p_include_terminated, false) or p_status = 'terminated' or m.status <> 'terminated')
      and (p_cursor_ts is null or (m.created_at, m.id) < (p_cursor_ts, p_cursor_id))
    order by m.created_at desc, m.id desc
    limit page_size + 1)
  select coalesce(jsonb_agg(hangar_machine_json(page.m) order by n) filter (where n <= page_size), '[]'),
         count(*) > page_size,
         max((page.m).created_at) filter (where n = page_size),
         (array_agg((page.m).id) filter (where n = page_size))[1]
    into items, more, last_ts, last_id
  from page;
  return hangar_ok(jsonb_build_object('machines', items,
    'next', case when more then jsonb_build_object(
      'ts', to_char(last_ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'id', last_id) end));
end $$;

-- get-machine-status: the machine and its last 10 events.
create or replace function public.hangar_get_machine(p_machine_id uuid default null) returns jsonb
language plpgsql stable security invoker set search_path = pg_catalog, public, pg_temp as $$
declare
  m machines;
begin
  select * into m from machines where id = p_machine_id and owner_id = auth.uid();
  if not found then
    return hangar_refuse('not_found', 'Machine not found');
  end if;
  return hangar_ok(hangar_machine_json(m) || jsonb_build_object('recentEvents', coalesce((
    select jsonb_agg(hangar_event_json(e) order by e.created_at desc, e.id desc)
    from (select * from machine_events where machine_id = m.id
          order by created_at desc, id desc limit 10) e), '[]')));
end $$;

-- log-machine-event: a user's own note on its machine.
create or replace function public.hangar_log_event(p_machine_id uuid default null, p_event_type text default null, p_details jsonb default null, p_level text default null)
returns jsonb
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  m machines;
  e machine_events;
begin
  select * into m from machines where id = p_machine_id and owner_id = auth.uid();
  if not found then
    return hangar_refuse('not_found', 'Machine not found');
  end if;
  insert into machine_events (machine_id, owner_id, event_type, details, level, source)
  values (m.id, m.owner_id, p_event_type, p_details, coalesce(p_level, 'info'), 'user')
  returning * into e;
  return hangar_ok(hangar_event_json(e));
end $$;

-- get-logs: events newest first, optionally before a moment.
create or replace function public.hangar_get_logs(p_machine_id uuid default null, p_limit int default null, p_before timestamptz default null)
returns jsonb
language plpgsql stable security invoker set search_path = pg_catalog, public, pg_temp as $$
begin
  if not exists (select 1 from machines where id = p_machine_id and owner_id = auth.uid()) then
    return hangar_refuse('not_found', 'Machine not found');
  end if;
  return hangar_ok(jsonb_build_object('events', coalesce((
    select jsonb_agg(hangar_event_json(e) order by e.created_at desc, e.id desc)
    from (select * from machine_events
          where machine_id = p_machine_id and (p_before is null or created_at < p_before)
          order by created_at desc, id desc limit least(greatest(coalesce(p_limit, 50), 1), 500)) e), '[]')));
end $$;

create or replace function public.hangar_get_job(p_job_id uuid default null) returns jsonb
language plpgsql stable security invoker set search_path = pg_catalog, public, pg_temp as $$
declare
  j jobs;
begin
  select * into j from jobs where id = p_job_id and owner_id = auth.uid();
  if not found then
    return hangar_refuse('not_found', 'Job not found');
  end if;
  return hangar_ok(hangar_job_json(j));
end $$;

-- Internal helpers are not callable through /rpc; the user-facing functions are.
revoke all on function public.hangar_enqueue(public.machines, text, jsonb, text, text) from public, anon, authenticated;
revoke all on function public.hangar_delivery_json(public.jobs) from public, anon, authenticated;
grant execute on function public.hangar_delivery_json(public.jobs) to service_role;
grant execute on function public.hangar_enqueue(public.machines, text, jsonb, text, text) to service_role;
revoke all on function public.hangar_machine_action(uuid, text) from public, anon;
revoke all on function public.hangar_create_machine(text, text, text, text, text, uuid, jsonb, text, text) from public, anon;
revoke all on function public.hangar_update_machine(uuid, jsonb, jsonb, jsonb) from public, anon;
revoke all on function public.hangar_list_machines(text, uuid, int, timestamptz, uuid, boolean) from public, anon;
revoke all on function public.hangar_get_machine(uuid) from public, anon;
revoke all on function public.hangar_log_event(uuid, text, jsonb, text) from public, anon;
revoke all on function public.hangar_get_logs(uuid, int, timestamptz) from public, anon;
revoke all on function public.hangar_get_job(uuid) from public, anon;
grant execute on function public.hangar_machine_action(uuid, text) to authenticated, service_role;
grant execute on function public.hangar_create_machine(text, text, text, text, text, uuid, jsonb, text, text) to authenticated, service_role;
grant execute on function public.hangar_update_machine(uuid, jsonb, jsonb, jsonb) to authenticated, service_role;
grant execute on function public.hangar_list_machines(text, uuid, int, timestamptz, uuid, boolean) to authenticated, service_role;
grant execute on function public.hangar_get_machine(uuid) to authenticated, service_role;
grant execute on function public.hangar_log_event(uuid, text, jsonb, text) to authenticated, service_role;
grant execute on function public.hangar_get_logs(uuid, int, timestamptz) to authenticated, service_role;
grant execute on function public.hangar_get_job(uuid) to authenticated, service_role;
