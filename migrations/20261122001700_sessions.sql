-- Accounts and sessions: exchange, refresh-session, logout (service role, or the caller
-- for logout), and me / me PATCH, which read and write through RLS and column grants as
-- the caller.

-- exchange: upsert the account from verified Privy claims and open a refresh family.
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
  sid pg_catalog.uuid := gen_random_uuid();
begin
  insert into public.accounts (privy_did, provider, identifier, credit_balance_cents, last_login)
  values (p_privy_did, p_provider, p_identifier, greatest(p_signup_credits_cents, 0), now())
  on conflict (privy_did) do update
    set last_login = now(),
        provider = coalesce(excluded.provider, accounts.provider),
        identifier = coalesce(excluded.identifier, accounts.identifier)
  returning * into a;

  insert into public.refresh_tokens (account_id, session_id, token_hash, expires_at)
  values (a.id, sid, p_refresh_hash, now() + make_interval(days => p_refresh_ttl_days));

  return private.ok(jsonb_build_object('account', private.account_json(a), 'sessionId', sid));
end $$;
revoke all on function public.hangar_exchange(text, text, text, bigint, text, int) from public, anon, authenticated;
grant execute on function public.hangar_exchange(text, text, text, bigint, text, int) to service_role;

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

-- me: the caller's account, read through RLS.
create or replace function public.hangar_me() returns jsonb
language plpgsql stable security invoker set search_path = '' as $$
declare
  a public.accounts;
begin
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
