-- Machine transitions: create-machine and start / stop / restart / delete, for the
-- caller (auth.uid()), read from private.machine_transitions. Each locks the rows it
-- decides on and writes the machine, its job and its event in one transaction, and
-- answers {machine, changed, delivery?}: changed=false for a repeat that has nothing
-- left to do (200, no job); delivery is the job the Worker hands to the runner.

-- The actions a machine in p_status may be asked for, in the order a refusal lists them.
create or replace function private.allowed_actions(p_status text) returns text[]
language sql stable set search_path = '' as $$
  select coalesce(array_agg(t.action order by t.ordinal), '{}')
  from private.machine_transitions t
  where t.from_status = p_status and t.job_action is not null
$$;
revoke all on function private.allowed_actions(text) from public, anon, authenticated;

-- 409 invalid_state_transition for p_action on machine m (API.md §1, §3).
create or replace function private.refuse_transition(m public.machines, p_action text) returns jsonb
language sql stable set search_path = '' as $$
  select private.refuse('invalid_state_transition',
    format('Machine is %s; %s', m.status, case
      when cardinality(a.allowed) = 0 then 'no action is allowed'
      else 'only ' || array_to_string(a.allowed, ', ') || ' allowed' end),
    jsonb_build_object('status', m.status, 'action', p_action, 'allowed', to_jsonb(a.allowed)))
  from (select private.allowed_actions(m.status) as allowed) a
$$;
revoke all on function private.refuse_transition(public.machines, text) from public, anon, authenticated;

-- The status a machine holds while a job of this action is under way; null for a job
-- that does not move its machine (deploy, command). Only the job a machine is waiting on
-- moves it on (hangar_job_callback) or to error (private.fail_job).
create or replace function private.status_while(p_job_action text) returns text
language sql stable set search_path = '' as $$
  select t.to_status from private.machine_transitions t
  where t.job_action = p_job_action and t.to_status is distinct from t.from_status
  limit 1
$$;
revoke all on function private.status_while(text) from public, anon, authenticated;

-- The hourly price of the account's billed machines (running or on their way there),
-- leaving out p_except (the machine being started).
create or replace function private.running_hourly_cents(p_owner uuid, p_except uuid) returns bigint
language sql stable set search_path = '' as $$
  select coalesce(sum(t.price_per_hour_cents), 0)::bigint
  from public.machines m
  join public.tiers t on t.id = m.tier
  join private.machine_statuses s on s.status = m.status
  where m.owner_id = p_owner and m.id is distinct from p_except and s.billed
$$;
revoke all on function private.running_hourly_cents(uuid, uuid) from public, anon, authenticated;

-- The smallest tier (by price) with at least p_cpu vCPUs, p_memory_mb MiB and p_disk_gb GB
-- (each optional): {tier}, or the 400 naming the first size no tier has. p_tier must be
-- null: sizes and a tier are two ways to say one thing.
create or replace function private.tier_for_sizes(p_tier text, p_cpu numeric, p_memory_mb bigint, p_disk_gb bigint) returns jsonb
language plpgsql stable set search_path = '' as $$
declare
  chosen pg_catalog.text;
begin
  if p_tier is not null then
    return private.refuse('validation_error', 'Give `tier` or `cpu`, `memory` and `disk`, not both', jsonb_build_object('field', 'tier'));
  elsif p_cpu <= 0 then
    return private.refuse('validation_error', '`cpu` must be a number of vCPUs above 0', jsonb_build_object('field', 'cpu'));
  elsif p_memory_mb <= 0 then
    return private.refuse('validation_error', '`memory` must be a whole number of MiB above 0', jsonb_build_object('field', 'memory'));
  elsif p_disk_gb <= 0 then
    return private.refuse('validation_error', '`disk` must be a whole number of GB above 0', jsonb_build_object('field', 'disk'));
  end if;
  select t.id into chosen from public.tiers t
  where t.cpu >= coalesce(p_cpu, 0) and t.memory_mb >= coalesce(p_memory_mb, 0) and t.disk_gb >= coalesce(p_disk_gb, 0)
  order by t.price_per_month_cents, t.id limit 1;
  if chosen is not null then
    return jsonb_build_object('tier', chosen);
  end if;
  return case
    when p_cpu > (select max(cpu) from public.tiers) then private.refuse('validation_error',
      format('No tier has %s vCPUs (at most %s)', p_cpu, (select max(cpu) from public.tiers)), jsonb_build_object('field', 'cpu'))
    when p_memory_mb > (select max(memory_mb) from public.tiers) then private.refuse('validation_error',
      format('No tier has %s MiB of memory (at most %s)', p_memory_mb, (select max(memory_mb) from public.tiers)), jsonb_build_object('field', 'memory'))
    when p_disk_gb > (select max(disk_gb) from public.tiers) then private.refuse('validation_error',
      format('No tier has %s GB of disk (at most %s)', p_disk_gb, (select max(disk_gb) from public.tiers)), jsonb_build_object('field', 'disk'))
    else private.refuse('validation_error', 'No tier has all of these sizes at once', jsonb_build_object('field', 'cpu'))
  end;
end $$;
revoke all on function private.tier_for_sizes(text, numeric, bigint, bigint) from public, anon, authenticated;

-- 402 insufficient_credits unless p_owner's balance covers one hour of every machine the
-- account would then have running (API.md §3): what runs now but p_except (the machine
-- being started), plus p_price_per_hour. Null when it does. The caller holds the account
-- row lock, so the balance and what runs are read as they really are.
create or replace function private.balance_refusal(p_owner uuid, p_except uuid, p_price_per_hour bigint) returns jsonb
language plpgsql stable set search_path = '' as $$
declare
  balance bigint := (select credit_balance_cents from public.accounts where id = p_owner);
  required bigint := private.running_hourly_cents(p_owner, p_except) + p_price_per_hour;
begin
  if balance < required then
    return private.refuse('insufficient_credits', 'Insufficient credits',
      jsonb_build_object('balanceCents', balance, 'requiredCents', required));
  end if;
  return null;
end $$;
revoke all on function private.balance_refusal(uuid, uuid, bigint) from public, anon, authenticated;

-- Writes a job and its event for machine m; returns the job.
create or replace function private.enqueue(m public.machines, p_action text, p_params jsonb, p_event text, p_source text)
returns public.jobs
language plpgsql set search_path = '' as $$
declare
  j public.jobs;
begin
  -- Hand-off rule (API.md §5): the request delivers its own job right after it commits,
  -- so the job is committed `dispatched` before its webhook leaves. The scheduler takes
  -- it over only if that delivery has not settled within the lease.
  insert into public.jobs (machine_id, owner_id, action, status, params, next_attempt_at)
  values (m.id, m.owner_id, p_action, 'dispatched', coalesce(p_params, '{}'), now() + make_interval(secs => private.setting('job_lease_seconds')))
  returning * into j;
  insert into public.machine_events (machine_id, owner_id, event_type, details, source)
  values (m.id, m.owner_id, p_event, jsonb_build_object('jobId', j.id, 'status', m.status), p_source);
  return j;
end $$;
revoke all on function private.enqueue(public.machines, text, jsonb, text, text) from public, anon, authenticated;

-- create-machine: the caller's account (made first for a Supabase Auth caller), the
-- Idempotency-Key, membership of the team (p_team_id, API.md §7) and the project (of the
-- same team, private.project_fits), both read FOR KEY SHARE so that a create racing their
-- delete waits for it and then answers 400 `teamId` / `projectId` rather than failing on
-- the foreign key (and a team's delete, which counts live machines under its row lock,
-- sees this one), the quota and the balance (the caller's: the creator pays, also in a
-- team), then the machine, its create job and event.
create or replace function public.hangar_create_machine(
  p_name text default null, p_tier text default null, p_provider text default null, p_region text default null, p_image text default null,
  p_project_id uuid default null, p_configuration jsonb default null, p_ssh_public_key text default null,
  p_idempotency_key text default null,
  p_ssh_key_ids jsonb default null,
  p_team_id uuid default null,
  -- Seed 000's sizes (POST instances { cpu, memory, disk }): the smallest tier that has at
  -- least that much of each, instead of p_tier.
  p_cpu numeric default null, p_memory_mb bigint default null, p_disk_gb bigint default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  uid pg_catalog.uuid := auth.uid();
  m public.machines;
  t public.tiers;
  tr private.machine_transitions;
  limit_count bigint;
  current_count bigint;
  req_hash pg_catalog.text;
  k public.idempotency_keys;
  inserted int;
  j public.jobs;
  refusal pg_catalog.jsonb;
  key_facts pg_catalog.jsonb;
  v_name pg_catalog.text := pg_catalog.btrim(p_name);
begin
  if uid is null then
    return private.refuse('invalid_token', 'No caller');
  end if;
  -- The Worker's defaults and refusals (create-machine), so that a caller of /rpc gets the
  -- same machine or the same 400 naming the field, never a constraint's raw error. The
  -- provider's default region is stated here only (the Worker leaves region out when the
  -- body does); the Worker always sends provider (DEFAULT_PROVIDER is its own) and image
  -- (which it checks against ALLOWED_IMAGES).
  if p_cpu is not null or p_memory_mb is not null or p_disk_gb is not null then
    refusal := private.tier_for_sizes(p_tier, p_cpu, p_memory_mb, p_disk_gb);
    if refusal ? 'error' then
      return refusal;
    end if;
    p_tier := refusal ->> 'tier';
    refusal := null;
  end if;
  p_tier := coalesce(p_tier, 'dev.small');
  p_provider := coalesce(p_provider, 'aws');
  p_region := coalesce(p_region, case p_provider when 'aws' then 'us-east-1' when 'gcp' then 'us-central1' when 'azure' then 'eastus' end);
  p_image := coalesce(p_image, 'ubuntu-22.04');
  refusal := case
    when v_name is null or v_name !~ '^[A-Za-z0-9 _-]{1,63}$' then private.refuse('validation_error',
      '`name` must be 1 to 63 characters of letters, digits, -, _ and space', jsonb_build_object('field', 'name'))
    when p_provider not in ('aws', 'gcp', 'azure') then private.refuse('validation_error',
      '`provider` must be one of aws, gcp, azure', jsonb_build_object('field', 'provider'))
    when p_region !~ '^[a-z0-9-]{2,32}$' then private.refuse('validation_error',
      '`region` must be 2 to 32 characters of a-z, 0-9 and -', jsonb_build_object('field', 'region'))
    when p_image !~ '^[A-Za-z0-9._:/@-]{1,128}$' then private.refuse('validation_error',
      '`image` must be 1 to 128 characters of letters, digits and ._:/@-', jsonb_build_object('field', 'image'))
    when p_configuration is not null and (pg_catalog.jsonb_typeof(p_configuration) <> 'object'
        or octet_length(p_configuration::pg_catalog.text) > 16384 or private.jsonb_depth(p_configuration) > 16)
      then private.refuse('validation_error', '`configuration` must be a JSON object of at most 16 KiB and 16 levels',
        jsonb_build_object('field', 'configuration'))
    when p_idempotency_key is not null and (octet_length(p_idempotency_key) not between 1 and 255 or p_idempotency_key !~ '^[!-~]+$')
      then private.refuse('validation_error', 'Idempotency-Key must be 1 to 255 visible ASCII characters',
        jsonb_build_object('field', 'Idempotency-Key'))
  end;
  if refusal is not null then
    return refusal;
  end if;
  p_name := v_name;
  select * into t from public.tiers where id = p_tier;
  if not found then
    return private.refuse('validation_error', 'Unknown tier', jsonb_build_object('field', 'tier'));
  end if;
  -- The one key line besides sshKeyIds is held to the rules of `ssh-keys` (a caller of
  -- /rpc could otherwise give a machine a key the Worker refuses, such as weak RSA).
  if p_ssh_public_key is not null then
    key_facts := private.ssh_key_facts(p_ssh_public_key);
    if key_facts ? 'error' then
      return private.refuse('validation_error', '`sshPublicKey` ' || (key_facts ->> 'error'), jsonb_build_object('field', 'sshPublicKey'));
    end if;
  end if;
  perform private.ensure_account();
  -- A valid token whose account is gone (deleted): refused before the Idempotency-Key
  -- is taken, whose row references the account (it was a foreign-key 502).
  if not exists (select 1 from public.accounts where id = uid) then
    return private.refuse('not_found', 'Account not found');
  end if;

  if p_idempotency_key is not null then
    req_hash := md5(jsonb_build_array(p_name, p_tier, p_provider, p_region, p_image,
      p_project_id, p_configuration, p_ssh_public_key, p_team_id, p_ssh_key_ids)::pg_catalog.text);
    delete from public.idempotency_keys
      where owner_id = uid and key = p_idempotency_key and created_at < now() - interval '24 hours';
    -- A concurrent request with the same key waits here until the first one commits.
    insert into public.idempotency_keys (owner_id, key, request_hash)
    values (uid, p_idempotency_key, req_hash)
    on conflict (owner_id, key) do nothing;
    get diagnostics inserted = row_count;
    if inserted = 0 then
      select * into k from public.idempotency_keys where owner_id = uid and key = p_idempotency_key;
      if k.request_hash <> req_hash then
        return private.refuse('conflict', 'Idempotency-Key was used with a different request');
      end if;
      select * into m from public.machines where id = k.machine_id;
      if not found then
        return private.refuse('conflict', 'Idempotency-Key is in use');
      end if;
      return private.ok(jsonb_build_object('machine', private.machine_json(m), 'changed', false));
    end if;
  end if;

  -- Every refusal from here on frees the key it took (refusals return normally, no
  -- rollback), once, after the block: a repeat is checked afresh and gets the same answer.
  <<checks>>
  begin
    if p_team_id is not null then
      perform 1 from public.teams tm where tm.id = p_team_id and private.team_role(tm.id, uid) is not null for key share;
      -- Membership again, in a statement of its own: when the lock above waited for a
      -- removal of this caller (which holds the team row FOR UPDATE), only a new snapshot
      -- sees that they are gone (the locking read re-checks the row, not team_members).
      if found then
        perform 1 from public.team_members where team_id = p_team_id and account_id = uid for key share;
      end if;
      if not found then
        refusal := private.refuse('validation_error', 'Team not found', jsonb_build_object('field', 'teamId'));
        exit checks;
      end if;
    end if;
    if p_project_id is not null then
      perform 1 from public.projects p where p.id = p_project_id and private.project_fits(p.id, p_team_id) for key share;
      if not found then
        refusal := private.refuse('validation_error', 'Project not found', jsonb_build_object('field', 'projectId'));
        exit checks;
      end if;
    end if;
    -- sshKeyIds: the caller's own keys (locked FOR KEY SHARE, as the project), API.md §7.
    if p_ssh_key_ids is not null then
      refusal := private.ssh_key_ids_refusal(p_ssh_key_ids, uid);
      exit checks when refusal is not null;
    end if;

    -- The account row lock serializes this account's creates and starts, so the quota
    -- and the balance are checked against what really exists.
    select max_machines into limit_count from public.accounts where id = uid for update;
    if not found then
      refusal := private.refuse('not_found', 'Account not found');
      exit checks;
    end if;
    limit_count := coalesce(limit_count, private.setting('max_machines_per_account'));
    select count(*) into current_count from public.machines where owner_id = uid and status <> 'terminated';
    if current_count >= limit_count then
      refusal := private.refuse('quota_exceeded',
        format('An account may have at most %s machines that are not terminated', limit_count),
        jsonb_build_object('limit', limit_count, 'current', current_count));
      exit checks;
    end if;
    -- Creations per hour (API.md §1): each starts a Terraform apply, whatever the path.
    select private.rate_refusal('max_machine_creates_per_hour', count(*), min(mc.created_at), interval '1 hour')
      into refusal from public.machines mc where mc.owner_id = uid and mc.created_at > now() - interval '1 hour';
    exit checks when refusal is not null;
    refusal := private.balance_refusal(uid, null, t.price_per_hour_cents);
  end checks;
  if refusal is not null then
    delete from public.idempotency_keys where owner_id = uid and key = p_idempotency_key;
    return refusal;
  end if;

  select * into tr from private.machine_transitions where action = 'create';
  insert into public.machines (owner_id, project_id, name, status, tier, provider, region, image,
    configuration, ssh_public_key, team_id)
  values (uid, p_project_id, p_name, tr.to_status, p_tier, p_provider, p_region, p_image,
    coalesce(p_configuration, '{}'), p_ssh_public_key, p_team_id)
  returning * into m;
  if p_ssh_key_ids is not null then
    perform private.set_machine_ssh_keys(m.id, p_ssh_key_ids);
  end if;
  j := private.enqueue(m, tr.job_action, '{}', 'machine.create_requested', 'user');
  if p_idempotency_key is not null then
    update public.idempotency_keys set machine_id = m.id where owner_id = uid and key = p_idempotency_key;
  end if;
  return private.ok(jsonb_build_object('machine', private.machine_json(m), 'changed', true,
    'delivery', private.delivery(j)));
end $$;
revoke all on function public.hangar_create_machine(text, text, text, text, text, uuid, jsonb, text, text, jsonb, uuid, numeric, bigint, bigint) from public, anon;
grant execute on function public.hangar_create_machine(text, text, text, text, text, uuid, jsonb, text, text, jsonb, uuid, numeric, bigint, bigint) to authenticated, service_role;

-- start / stop / restart / delete, by whoever may (private.can_act): a stranger gets 404,
-- a team member's delete 403. The balance a start needs is the creator's, who pays.
create or replace function public.hangar_machine_action(p_machine_id uuid default null, p_action text default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  m public.machines;
  tr private.machine_transitions;
  provisioned boolean;
  j public.jobs;
  refusal pg_catalog.jsonb;
begin
  if p_action is null or p_action not in ('start', 'stop', 'restart', 'delete') then
    return private.refuse('validation_error', 'Unknown action', jsonb_build_object('field', 'action'));
  end if;
  -- The row lock serializes concurrent requests for one machine: exactly one job.
  select * into m from public.machines
    where id = p_machine_id and private.can_act(owner_id, team_id, 'read') for update;
  if not found then
    return private.refuse('not_found', 'Machine not found');
  end if;
  if not private.can_act(m.owner_id, m.team_id, p_action) then
    return private.refuse('forbidden', format('Only the machine''s creator or its team''s owner may %s it', p_action));
  end if;
  select * into tr from private.machine_transitions where action = p_action and from_status = m.status;
  if not found then
    return private.refuse_transition(m, p_action);
  end if;
  if tr.job_action is null then
    return private.ok(jsonb_build_object('machine', private.machine_json(m), 'changed', false));
  end if;
  -- Transitions of one machine per minute (API.md §1): each is a Terraform run. A delete
  -- is never refused (it ends the machine, and its bill); creations are limited per hour.
  if p_action <> 'delete' then
    select private.rate_refusal('max_actions_per_machine_per_minute', count(*), min(jb.created_at), interval '1 minute')
      into refusal from public.jobs jb
      where jb.machine_id = m.id and jb.created_at > now() - interval '1 minute'
        and jb.action in (select x.job_action from private.machine_transitions x
          where x.job_action is not null and x.to_status is distinct from x.from_status);
    if refusal is not null then
      return refusal;
    end if;
  end if;

  if p_action = 'start' then
    -- The creator's account row lock serializes starts and creates.
    perform 1 from public.accounts where id = m.owner_id for update;
    refusal := private.balance_refusal(m.owner_id, m.id, (select price_per_hour_cents from public.tiers where id = m.tier));
    if refusal is not null then
      return refusal;
    end if;
  end if;

  if p_action = 'delete' then
    -- Hand-off rule (API.md §5): only a create that was never handed to the runner (its
    -- job is still `queued`) lets the machine end at once. Once it is `dispatched` or
    -- later, the runner may build something, so delete queues a terminate.
    provisioned := m.provider_instance_id is not null or exists (
      select 1 from public.jobs where machine_id = m.id and action = 'create' and status <> 'queued'
        and cancelled_at is null);
    if not provisioned then
      update public.jobs set status = 'failed', cancelled_at = now(),
          error = 'cancelled: machine deleted before provisioning'
        where machine_id = m.id and status = 'queued';
      update public.machines set status = 'terminated', last_stopped = coalesce(last_stopped, now())
        where id = m.id returning * into m;
      insert into public.machine_events (machine_id, owner_id, event_type, details, source)
      values (m.id, m.owner_id, 'machine.terminated', jsonb_build_object('reason', 'deleted before provisioning'), 'user');
      return private.ok(jsonb_build_object('machine', private.machine_json(m), 'changed', true));
    end if;
    -- The terminate supersedes any lifecycle job under way: one active lifecycle job per
    -- machine. The runner runs a machine's jobs in order, so what it already has still
    -- ends before the terminate does.
    update public.jobs set status = 'failed', cancelled_at = now(), error = 'cancelled: machine deleted'
      where machine_id = m.id and status in ('queued', 'dispatched', 'running')
        and action in ('create', 'start', 'stop', 'restart');
  end if;

  update public.machines set status = tr.to_status where id = m.id returning * into m;
  j := private.enqueue(m, tr.job_action, '{}', 'machine.' || p_action || '_requested', 'user');
  return private.ok(jsonb_build_object('machine', private.machine_json(m), 'changed', true,
    'delivery', private.delivery(j)));
end $$;
revoke all on function public.hangar_machine_action(uuid, text) from public, anon;
grant execute on function public.hangar_machine_action(uuid, text) to authenticated, service_role;
