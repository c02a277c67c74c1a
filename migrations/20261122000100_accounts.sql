-- Accounts and sessions.
-- Users read their own account and may edit only display_name and photo_url; credits,
-- identity and refresh tokens change only through the SECURITY DEFINER functions below,
-- which the functions call with the service role.

-- Timestamps leave the database as RFC 3339 UTC strings, whatever the session time zone.
create or replace function public.hangar_ts(t timestamptz) returns text
language sql immutable as $$
  select to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- An outcome the functions decode: {"ok": true, "data": …} or a refusal.
create or replace function public.hangar_ok(data jsonb) returns jsonb
language sql immutable as $$ select jsonb_build_object('ok', true, 'data', data) $$;

create or replace function public.hangar_refuse(code text, message text, details jsonb default null) returns jsonb
language sql immutable as $$
  select jsonb_strip_nulls(jsonb_build_object('ok', false, 'error', code, 'message', message, 'details', details))
$$;

-- Helpers and operator settings that PostgREST never exposes (it serves `public` only).
create schema if not exists private;
revoke all on schema private from public, anon, authenticated;
grant usage on schema private to service_role;

-- Nesting depth of a JSON value: how many arrays/objects deep it goes (a scalar is 0,
-- `{}` is 1). CHECK constraints use it so that nothing too deep to decode is stored:
-- one over-deep row once jammed the scheduler for every tenant.
create or replace function private.jsonb_depth(j jsonb) returns int
language sql immutable parallel safe set search_path = '' as $$
  with recursive walk(v, d) as (
    select j, 1
    union all
    select c.value, w.d + 1
    from walk w
    cross join lateral (
      select e.value from pg_catalog.jsonb_array_elements(
        case when pg_catalog.jsonb_typeof(w.v) = 'array' then w.v else '[]'::jsonb end) e
      union all
      select e.value from pg_catalog.jsonb_each(
        case when pg_catalog.jsonb_typeof(w.v) = 'object' then w.v else '{}'::jsonb end) e
    ) c
    where pg_catalog.jsonb_typeof(c.value) in ('array', 'object')
  )
  select case when pg_catalog.jsonb_typeof(j) in ('array', 'object')
    then (select max(d) from walk) else 0 end
$$;
-- CHECK constraints evaluate it as whoever writes the row.
grant execute on function private.jsonb_depth(jsonb) to anon, authenticated, service_role;

-- Operator limits (API.md §1). The database enforces them, so they live here rather
-- than in a Worker's variables, which a caller of /rpc would bypass. Change one with
-- `update private.settings set value = 20 where name = 'max_machines_per_account'`.
create table private.settings (
  name text primary key,
  value bigint not null
);
insert into private.settings (name, value) values
  ('max_machines_per_account', 10),
  ('max_pending_jobs_per_machine', 5);
revoke all on private.settings from public, anon, authenticated;
grant select on private.settings to service_role;

create or replace function private.setting(p_name text) returns bigint
language sql stable set search_path = '' as $$
  select value from private.settings where name = p_name
$$;
revoke all on function private.setting(text) from public, anon, authenticated;

create or replace function public.hangar_touch_updated_at() returns trigger
language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end $$;

create table public.accounts (
  id uuid primary key default gen_random_uuid(),
  privy_did text not null unique,
  display_name text check (display_name is null or char_length(display_name) between 1 and 64),
  photo_url text check (photo_url is null or (char_length(photo_url) <= 2048 and photo_url ~ '^https?://')),
  provider text,
  identifier text,
  credit_balance_cents bigint not null default 0,
  -- An operator's per-account override of private.settings' max_machines_per_account.
  max_machines int check (max_machines is null or max_machines >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  last_login timestamptz
);

create trigger accounts_touch before update on public.accounts
  for each row execute function public.hangar_touch_updated_at();

alter table public.accounts enable row level security;
revoke all on public.accounts from anon, authenticated;
grant all on public.accounts to service_role;
grant select on public.accounts to authenticated;
grant update (display_name, photo_url) on public.accounts to authenticated;

create policy accounts_select_own on public.accounts
  for select to authenticated using (id = auth.uid());
create policy accounts_update_own on public.accounts
  for update to authenticated using (id = auth.uid()) with check (id = auth.uid());

-- Refresh tokens: only hashes, only the service role. session_id is the family that a
-- reused token revokes.
create table public.refresh_tokens (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references public.accounts (id) on delete cascade,
  session_id uuid not null,
  token_hash text not null unique,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  spent_at timestamptz,
  revoked_at timestamptz
);
create index refresh_tokens_session on public.refresh_tokens (session_id);
create index refresh_tokens_account on public.refresh_tokens (account_id);

alter table public.refresh_tokens enable row level security;
revoke all on public.refresh_tokens from anon, authenticated;
grant all on public.refresh_tokens to service_role;

-- The Account of API.md §2. Later migrations replace it as counts gain tables.
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
    'machineCount', 0,
    'projectCount', 0,
    'createdAt', public.hangar_ts(a.created_at),
    'lastLogin', public.hangar_ts(a.last_login)
  )
$$;

-- exchange: upsert the account from verified Privy claims and open a refresh family.
create or replace function public.hangar_exchange(
  p_privy_did text default null,
  p_provider text default null,
  p_identifier text default null,
  p_signup_credits_cents bigint default null,
  p_refresh_hash text default null,
  p_refresh_ttl_days int default null
) returns jsonb
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  a public.accounts;
  sid uuid := gen_random_uuid();
begin
  insert into accounts (privy_did, provider, identifier, credit_balance_cents, last_login)
  values (p_privy_did, p_provider, p_identifier, greatest(p_signup_credits_cents, 0), now())
  on conflict (privy_did) do update
    set last_login = now(),
        provider = coalesce(excluded.provider, accounts.provider),
        identifier = coalesce(excluded.identifier, accounts.identifier)
  returning * into a;

  insert into refresh_tokens (account_id, session_id, token_hash, expires_at)
  values (a.id, sid, p_refresh_hash, now() + make_interval(days => p_refresh_ttl_days));

  return hangar_ok(jsonb_build_object('account', hangar_account_json(a), 'sessionId', sid));
end $$;

-- refresh-session: spend a refresh token for a new one in the same family. A token that
-- was already spent means it leaked: the whole family is revoked.
create or replace function public.hangar_refresh(
  p_refresh_hash text default null,
  p_new_refresh_hash text default null,
  p_refresh_ttl_days int default null
) returns jsonb
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  t refresh_tokens;
  a accounts;
begin
  select * into t from refresh_tokens where token_hash = p_refresh_hash for update;
  if not found or t.revoked_at is not null or t.expires_at <= now() then
    return hangar_refuse('invalid_token', 'Invalid refresh token');
  end if;
  if t.spent_at is not null then
    update refresh_tokens set revoked_at = now()
      where session_id = t.session_id and revoked_at is null;
    return hangar_refuse('invalid_token', 'Refresh token reused; session revoked');
  end if;

  update refresh_tokens set spent_at = now() where id = t.id;
  insert into refresh_tokens (account_id, session_id, token_hash, expires_at)
  values (t.account_id, t.session_id, p_new_refresh_hash, now() + make_interval(days => p_refresh_ttl_days));

  select * into a from accounts where id = t.account_id;
  return hangar_ok(jsonb_build_object('account', hangar_account_json(a), 'sessionId', t.session_id));
end $$;

-- logout: revoke the caller's refresh family (the caller is auth.uid()).
create or replace function public.hangar_logout(p_session_id uuid default null) returns jsonb
language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
begin
  if auth.uid() is null then
    return hangar_refuse('invalid_token', 'No caller');
  end if;
  update refresh_tokens set revoked_at = now()
    where session_id = p_session_id and account_id = auth.uid() and revoked_at is null;
  return hangar_ok(null);
end $$;

-- me: the caller's account, read through RLS.
create or replace function public.hangar_me() returns jsonb
language plpgsql stable security invoker set search_path = pg_catalog, public, pg_temp as $$
declare
  a accounts;
begin
  select * into a from accounts where id = auth.uid();
  if not found then
    return hangar_refuse('not_found', 'Account not found');
  end if;
  return hangar_ok(hangar_account_json(a));
end $$;

-- me PATCH: each argument is {"set": bool, "value": …}; RLS and column grants apply.
create or replace function public.hangar_update_me(p_display_name jsonb default null, p_photo_url jsonb default null) returns jsonb
language plpgsql security invoker set search_path = pg_catalog, public, pg_temp as $$
declare
  a accounts;
begin
  update accounts set
    display_name = case when (p_display_name ->> 'set')::boolean then p_display_name ->> 'value' else display_name end,
    photo_url = case when (p_photo_url ->> 'set')::boolean then p_photo_url ->> 'value' else photo_url end
  where id = auth.uid()
  returning * into a;
  if not found then
    return hangar_refuse('not_found', 'Account not found');
  end if;
  return hangar_ok(hangar_account_json(a));
end $$;

create or replace function public.hangar_health() returns jsonb
language sql stable as $$ select public.hangar_ok(jsonb_build_object('database', 'ok')) $$;

-- Functions are executable by PUBLIC by default: each is granted to whom calls it.
revoke all on function public.hangar_exchange(text, text, text, bigint, text, int) from public, anon, authenticated;
revoke all on function public.hangar_refresh(text, text, int) from public, anon, authenticated;
revoke all on function public.hangar_health() from public, anon, authenticated;
revoke all on function public.hangar_logout(uuid) from public, anon;
revoke all on function public.hangar_me() from public, anon;
revoke all on function public.hangar_update_me(jsonb, jsonb) from public, anon;
grant execute on function public.hangar_exchange(text, text, text, bigint, text, int) to service_role;
grant execute on function public.hangar_refresh(text, text, int) to service_role;
grant execute on function public.hangar_health() to service_role;
grant execute on function public.hangar_logout(uuid) to authenticated, service_role;
grant execute on function public.hangar_me() to authenticated, service_role;
grant execute on function public.hangar_update_me(jsonb, jsonb) to authenticated, service_role;
