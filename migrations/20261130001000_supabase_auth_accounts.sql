-- Accounts for Supabase Auth users (API.md §1), created on first use, and the signup
-- grant written to the ledger on both sign-in paths.
--
-- A Supabase Auth access token (HS256 with the project's JWT secret, role and aud
-- `authenticated`, sub = the auth user's id) reaches PostgREST as it is, so the account
-- is made in the SQL function the request calls, in the same round trip: the functions
-- that need the caller's account (me, me PATCH, create-machine, projects POST) call
-- private.ensure_account() first. Functions that only read or act on rows a new account
-- cannot have yet (machines, jobs, logs, projects) answer as for an empty account and
-- make nothing.
--
-- The signup amount comes from private.settings (`signup_credits_cents`), never from an
-- argument: every public function is callable through /rpc, so an amount passed in would
-- be chosen by the caller. The migration seeds it with 1000, the default of
-- SIGNUP_CREDITS_CENTS (config/variables.mjs); an operator who sets SIGNUP_CREDITS_CENTS
-- sets this row to the same value:
--   update private.settings set value = 500 where name = 'signup_credits_cents';
-- exchange (Privy) still takes the Worker's SIGNUP_CREDITS_CENTS.

-- Privy users have a DID; Supabase Auth users do not (their id is the auth user's id).
-- The column stays unique: NULLs do not collide, and exchange upserts on it.
alter table public.accounts alter column privy_did drop not null;

insert into private.settings (name, value) values ('signup_credits_cents', 1000)
  on conflict (name) do nothing;

-- The caller's account, created from the verified claims (request.jwt.claims) if it does
-- not exist: id = sub, provider = app_metadata.provider, identifier = email or phone,
-- the signup credits and their `signup` record. Concurrent first calls insert once: the
-- primary key makes the others wait and then do nothing, and only the call that inserted
-- writes the record. Only Supabase Auth tokens create accounts: a Hangar session
-- (iss = 'hangar', minted by exchange for an account that existed) whose account is gone
-- does not bring it back with fresh credits.
create or replace function private.ensure_account() returns void
language plpgsql security definer set search_path = '' as $$
declare
  uid pg_catalog.uuid := auth.uid();
  claims pg_catalog.jsonb := auth.jwt();
  credits bigint;
  created pg_catalog.uuid;
begin
  if uid is null or claims is null or exists (select 1 from public.accounts where id = uid) then
    return;
  end if;
  if claims ->> 'role' is distinct from 'authenticated'
      or not coalesce(claims -> 'aud' ? 'authenticated', false)
      or claims ->> 'iss' is not distinct from 'hangar' then
    return;
  end if;
  credits := greatest(coalesce(private.setting('signup_credits_cents'), 0), 0);
  insert into public.accounts (id, provider, identifier, credit_balance_cents, last_login)
  values (uid,
    nullif(claims -> 'app_metadata' ->> 'provider', ''),
    coalesce(nullif(claims ->> 'email', ''), nullif(claims ->> 'phone', '')),
    credits, now())
  on conflict (id) do nothing
  returning id into created;
  if created is not null and credits > 0 then
    insert into public.billing_records (account_id, kind, amount_cents, description)
    values (created, 'signup', credits, 'Signup credits');
  end if;
end $$;
revoke all on function private.ensure_account() from public, anon, authenticated;
-- The SECURITY INVOKER reads (hangar_me …) call it as the caller; it acts on the caller's
-- own verified claims only.
grant execute on function private.ensure_account() to authenticated, service_role;

-- exchange (20261122001700_sessions.sql), now also writing the `signup` record when it
-- creates the account.
create or replace function public.hangar_exchange(
  p_privy_did text default null,
  p_provider text default null,
  p_identifier text default null,
  p_signup_credits_cents bigint default null,
  p_refresh_hash text default null,
  p_refresh_ttl_days int default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  a public.accounts;
  aid pg_catalog.uuid;
  created boolean;
  credits bigint := greatest(coalesce(p_signup_credits_cents, 0), 0);
  sid pg_catalog.uuid := gen_random_uuid();
begin
  insert into public.accounts (privy_did, provider, identifier, credit_balance_cents, last_login)
  values (p_privy_did, p_provider, p_identifier, credits, now())
  on conflict (privy_did) do update
    set last_login = now(),
        provider = coalesce(excluded.provider, accounts.provider),
        identifier = coalesce(excluded.identifier, accounts.identifier)
  -- xmax is 0 on a row this statement inserted, the locker's id on one it updated.
  returning id, xmax = 0 into aid, created;
  if created and credits > 0 then
    insert into public.billing_records (account_id, kind, amount_cents, description)
    values (aid, 'signup', credits, 'Signup credits');
  end if;
  select * into a from public.accounts where id = aid;

  insert into public.refresh_tokens (account_id, session_id, token_hash, expires_at)
  values (a.id, sid, p_refresh_hash, now() + make_interval(days => p_refresh_ttl_days));

  return private.ok(jsonb_build_object('account', private.account_json(a), 'sessionId', sid));
end $$;
revoke all on function public.hangar_exchange(text, text, text, bigint, text, int) from public, anon, authenticated;
grant execute on function public.hangar_exchange(text, text, text, bigint, text, int) to service_role;

-- me (20261122001700_sessions.sql): creates a Supabase Auth caller's account first, so
-- VOLATILE (PostgREST runs STABLE functions in a read-only transaction).
create or replace function public.hangar_me() returns jsonb
language plpgsql volatile security invoker set search_path = '' as $$
declare
  a public.accounts;
begin
  perform private.ensure_account();
  select * into a from public.accounts where id = auth.uid();
  if not found then
    return private.refuse('not_found', 'Account not found');
  end if;
  return private.ok(private.account_json(a));
end $$;
revoke all on function public.hangar_me() from public, anon;
grant execute on function public.hangar_me() to authenticated, service_role;

-- me PATCH (20261122001700_sessions.sql), after ensure_account.
create or replace function public.hangar_update_me(p_display_name jsonb default null, p_photo_url jsonb default null) returns jsonb
language plpgsql security invoker set search_path = '' as $$
declare
  a public.accounts;
begin
  perform private.ensure_account();
  update public.accounts set
    display_name = case when (p_display_name ->> 'set')::boolean then p_display_name ->> 'value' else display_name end,
    photo_url = case when (p_photo_url ->> 'set')::boolean then p_photo_url ->> 'value' else photo_url end
  where id = auth.uid()
  returning * into a;
  if not found then
    return private.refuse('not_found', 'Account not found');
  end if;
  return private.ok(private.account_json(a));
end $$;
revoke all on function public.hangar_update_me(jsonb, jsonb) from public, anon;
grant execute on function public.hangar_update_me(jsonb, jsonb) to authenticated, service_role;

-- create-machine (20261122001900_machine_lifecycle.sql), with two changes: the caller's
-- account is made first (ensure_account), and the project is read FOR KEY SHARE, so a
-- create racing a project's delete (hangar_delete_project locks it FOR UPDATE) waits for
-- it and then answers 400 `projectId` rather than failing on the foreign key.
create or replace function public.hangar_create_machine(
  p_name text default null, p_tier text default null, p_provider text default null, p_region text default null, p_image text default null,
  p_project_id uuid default null, p_configuration jsonb default null, p_ssh_public_key text default null,
  p_idempotency_key text default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  uid pg_catalog.uuid := auth.uid();
  m public.machines;
  t public.tiers;
  tr private.machine_transitions;
  balance bigint;
  required bigint;
  limit_count bigint;
  current_count bigint;
  req_hash pg_catalog.text;
  k public.idempotency_keys;
  inserted int;
  j public.jobs;
begin
  if uid is null then
    return private.refuse('invalid_token', 'No caller');
  end if;
  select * into t from public.tiers where id = p_tier;
  if not found then
    return private.refuse('validation_error', 'Unknown tier', jsonb_build_object('field', 'tier'));
  end if;
  perform private.ensure_account();
  -- A valid token whose account is gone (deleted): refused before the Idempotency-Key
  -- is taken, whose row references the account (it was a foreign-key 502).
  if not exists (select 1 from public.accounts where id = uid) then
    return private.refuse('not_found', 'Account not found');
  end if;

  if p_idempotency_key is not null then
    req_hash := md5(jsonb_build_array(p_name, p_tier, p_provider, p_region, p_image,
      p_project_id, p_configuration, p_ssh_public_key)::pg_catalog.text);
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

  -- Refusals return normally (no rollback), so each one frees the key it took: a repeat
  -- is checked afresh and gets the same answer.
  if p_project_id is not null then
    perform 1 from public.projects where id = p_project_id and owner_id = uid for key share;
    if not found then
      delete from public.idempotency_keys where owner_id = uid and key = p_idempotency_key;
      return private.refuse('validation_error', 'Project not found', jsonb_build_object('field', 'projectId'));
    end if;
  end if;

  -- The account row lock serializes this account's creates and starts, so the quota
  -- and the balance are checked against what really exists.
  select credit_balance_cents, max_machines into balance, limit_count from public.accounts where id = uid for update;
  if balance is null then
    delete from public.idempotency_keys where owner_id = uid and key = p_idempotency_key;
    return private.refuse('not_found', 'Account not found');
  end if;
  limit_count := coalesce(limit_count, private.setting('max_machines_per_account'));
  select count(*) into current_count from public.machines where owner_id = uid and status <> 'terminated';
  if current_count >= limit_count then
    delete from public.idempotency_keys where owner_id = uid and key = p_idempotency_key;
    return private.refuse('quota_exceeded',
      format('An account may have at most %s machines that are not terminated', limit_count),
      jsonb_build_object('limit', limit_count, 'current', current_count));
  end if;
  -- One hour of every machine the account would then have running (API.md §3).
  required := private.running_hourly_cents(uid, null) + t.price_per_hour_cents;
  if balance < required then
    delete from public.idempotency_keys where owner_id = uid and key = p_idempotency_key;
    return private.refuse('insufficient_credits', 'Insufficient credits',
      jsonb_build_object('balanceCents', balance, 'requiredCents', required));
  end if;

  select * into tr from private.machine_transitions where action = 'create';
  insert into public.machines (owner_id, project_id, name, status, tier, provider, region, image,
    configuration, ssh_public_key)
  values (uid, p_project_id, p_name, tr.to_status, p_tier, p_provider, p_region, p_image,
    coalesce(p_configuration, '{}'), p_ssh_public_key)
  returning * into m;
  j := private.enqueue(m, tr.job_action, '{}', 'machine.create_requested', 'user');
  if p_idempotency_key is not null then
    update public.idempotency_keys set machine_id = m.id where owner_id = uid and key = p_idempotency_key;
  end if;
  return private.ok(jsonb_build_object('machine', private.machine_json(m), 'changed', true,
    'delivery', private.delivery(j)));
end $$;
revoke all on function public.hangar_create_machine(text, text, text, text, text, uuid, jsonb, text, text) from public, anon;
grant execute on function public.hangar_create_machine(text, text, text, text, text, uuid, jsonb, text, text) to authenticated, service_role;
