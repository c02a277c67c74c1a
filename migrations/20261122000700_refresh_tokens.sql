-- Refresh tokens: only their hashes, only for the service role (no policy: RLS on and
-- no grant means no user reads a row). session_id is the family that a reused token
-- revokes (hangar_refresh).

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
