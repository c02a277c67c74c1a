-- The credit ledger (API.md §4): one row per charge, credit or signup grant. Append-only:
-- rows are written only inside SQL functions (signup, add-credits, metering), in the same
-- transaction as the balance they explain, so that
--   balance = signup + credits − charges
-- holds to the cent. Users read their own rows through RLS and write none; nobody but
-- the owner of the table (the SECURITY DEFINER functions) updates or deletes a row.
-- amount_cents is never negative: `kind` says which way it moves the balance.

create table public.billing_records (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references public.accounts (id) on delete cascade,
  machine_id uuid references public.machines (id) on delete set null,
  kind text not null check (kind in ('charge', 'credit', 'signup')),
  amount_cents bigint not null check (amount_cents >= 0),
  description text not null check (char_length(description) between 1 and 200),
  period_start timestamptz,
  period_end timestamptz check (period_end is null or period_start is null or period_end >= period_start),
  -- The billed time a charge covers (usage hours in get-billing).
  usage_seconds numeric(16, 6) check (usage_seconds is null or usage_seconds >= 0),
  created_at timestamptz not null default now()
);
-- get-billing's cursor: an account's records newest first, (created_at, id) keyset.
create index billing_records_page on public.billing_records (account_id, created_at desc, id desc);
-- Usage per machine and period.
create index billing_records_machine on public.billing_records (machine_id, period_start) where machine_id is not null;
-- get-billing's monthly usage: an account's charges by the end of the time they cover.
create index billing_records_usage on public.billing_records (account_id, period_end)
  where kind = 'charge';

alter table public.billing_records enable row level security;
create policy billing_records_select_own on public.billing_records
  for select to authenticated using (account_id = (select auth.uid()));

revoke all on public.billing_records from public, anon, authenticated, service_role;
grant select on public.billing_records to authenticated;
grant select, insert on public.billing_records to service_role;
