-- Idempotency-Key of create-machine: the first response's machine, per caller and key,
-- for 24 hours (hangar_create_machine). Service role only.

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
