-- Signatures of runner callbacks already applied, so that a replayed callback is a
-- no-op (hangar_job_callback); kept a day (hangar_claim_due_jobs prunes them).
-- Service role only.

create table public.callback_receipts (
  signature text primary key,
  job_id uuid not null,
  received_at timestamptz not null default now()
);

alter table public.callback_receipts enable row level security;

revoke all on public.callback_receipts from anon, authenticated;
grant all on public.callback_receipts to service_role;
