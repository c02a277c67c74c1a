-- Accounts. A user reads their own account and may edit only display_name and
-- photo_url; identity, credits and logins change only through the SECURITY DEFINER
-- session functions (20261122001700_sessions.sql), which the Workers call as the
-- service role.

create table public.accounts (
  id uuid primary key default gen_random_uuid(),
  -- A Privy user's DID; null for a Supabase Auth user, whose id is the auth user's id.
  -- Unique: NULLs do not collide, and exchange upserts on it.
  privy_did text unique,
  display_name text check (display_name is null or char_length(display_name) between 1 and 64),
  photo_url text check (photo_url is null or (char_length(photo_url) <= 2048 and photo_url ~* '^https?://')),
  provider text,
  identifier text,
  credit_balance_cents bigint not null default 0,
  -- An operator's per-account override of private.settings' max_machines_per_account.
  max_machines int check (max_machines is null or max_machines >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  last_login timestamptz
);

-- The meter stops the machines of accounts at or below zero: they are few.
create index accounts_overdrawn on public.accounts (id) where credit_balance_cents <= 0;

create trigger accounts_touch before update on public.accounts
  for each row execute function private.touch_updated_at();

alter table public.accounts enable row level security;
create policy accounts_select_own on public.accounts
  for select to authenticated using (id = (select auth.uid()));
create policy accounts_update_own on public.accounts
  for update to authenticated using (id = (select auth.uid())) with check (id = (select auth.uid()));

revoke all on public.accounts from anon, authenticated;
grant all on public.accounts to service_role;
grant select on public.accounts to authenticated;
grant update (display_name, photo_url) on public.accounts to authenticated;
