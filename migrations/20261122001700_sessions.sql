-- Accounts and sessions: exchange, refresh-session, logout (service role, or the caller
-- for logout), and me / me PATCH, which read and write through RLS and column grants as
-- the caller.

-- exchange: upsert the account from verified Privy claims and open a refresh family. A
-- new account gets the signup credits of private.settings (never an argument: every public
-- function is callable through /rpc) and their `signup` billing record.
create or replace function public.hangar_exchange(
  p_privy_did text default null,
  p_provider text default null,
  p_identifier text default null,
  p_refresh_hash text default null,
  p_refresh_ttl_days int default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  a public.accounts;
  aid pg_catalog.uuid;
  created boolean;
  credits bigint := greatest(coalesce(private.setting('signup_credits_cents'), 0), 0);
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
revoke all on function public.hangar_exchange(text, text, text, text, int) from public, anon, authenticated;
grant execute on function public.hangar_exchange(text, text, text, text, int) to service_role;

-- Supabase Auth (API.md §1): such an access token (HS256 with the project's JWT secret,
-- role and aud `authenticated`, sub = the auth user's id) reaches PostgREST as it is, so
-- the account is made in the SQL function the request calls, in the same round trip: the
-- functions that need the caller's account (me, me PATCH, create-machine, projects POST,
-- get-billing) call private.ensure_account() first. Functions that only read or act on
-- rows a new account cannot have yet answer as for an empty account and make nothing.
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
  -- An anonymous Supabase sign-in (is_anonymous) costs nothing to repeat, so it gets no
  -- signup credits (API.md §2): it can buy credits like anyone else.
  credits := case when claims -> 'is_anonymous' = 'true'::pg_catalog.jsonb then 0
    else greatest(coalesce(private.setting('signup_credits_cents'), 0), 0) end;
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

-- refresh-session: spend a refresh token for a new one in the same family. A token that
-- was already spent means it leaked: the whole family is revoked.
create or replace function public.hangar_refresh(
  p_refresh_hash text default null,
  p_new_refresh_hash text default null,
  p_refresh_ttl_days int default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  t public.refresh_tokens;
  a public.accounts;
begin
  select * into t from public.refresh_tokens where token_hash = p_refresh_hash for update;
  if not found or t.revoked_at is not null or t.expires_at <= now() then
    return private.refuse('invalid_token', 'Invalid refresh token');
  end if;
  if t.spent_at is not null then
    update public.refresh_tokens set revoked_at = now()
      where session_id = t.session_id and revoked_at is null;
    return private.refuse('invalid_token', 'Refresh token reused; session revoked');
  end if;

  update public.refresh_tokens set spent_at = now() where id = t.id;
  insert into public.refresh_tokens (account_id, session_id, token_hash, expires_at)
  values (t.account_id, t.session_id, p_new_refresh_hash, now() + make_interval(days => p_refresh_ttl_days));

  select * into a from public.accounts where id = t.account_id;
  return private.ok(jsonb_build_object('account', private.account_json(a), 'sessionId', t.session_id));
end $$;
revoke all on function public.hangar_refresh(text, text, int) from public, anon, authenticated;
grant execute on function public.hangar_refresh(text, text, int) to service_role;

-- logout: revoke the caller's refresh family (the caller is auth.uid()).
create or replace function public.hangar_logout(p_session_id uuid default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
begin
  if auth.uid() is null then
    return private.refuse('invalid_token', 'No caller');
  end if;
  update public.refresh_tokens set revoked_at = now()
    where session_id = p_session_id and account_id = auth.uid() and revoked_at is null;
  return private.ok(null);
end $$;
revoke all on function public.hangar_logout(uuid) from public, anon;
grant execute on function public.hangar_logout(uuid) to authenticated, service_role;

-- me: the caller's account, read through RLS; a Supabase Auth caller's is made first, so
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

-- me PATCH: each argument is {"set": bool, "value": …}; RLS and column grants apply.
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
