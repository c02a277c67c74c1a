-- Machine sizes and their prices (API.md §3). Anyone may read them, also without a
-- token; only the operator changes them.

create table public.tiers (
  id text primary key,
  cpu numeric(4, 1) not null,
  memory_mb int not null,
  disk_gb int not null,
  price_per_month_cents bigint not null,
  -- monthly / 730 hours, rounded up to the cent
  price_per_hour_cents bigint generated always as ((price_per_month_cents + 729) / 730) stored
);
insert into public.tiers (id, cpu, memory_mb, disk_gb, price_per_month_cents) values
  ('dev.small', 0.5, 1024, 10, 600),
  ('dev.medium', 1, 2048, 20, 1200),
  ('dev.large', 2, 4096, 40, 2400),
  ('dev.xlarge', 4, 8192, 80, 4800);

alter table public.tiers enable row level security;
create policy tiers_read on public.tiers for select to anon, authenticated using (true);

revoke all on public.tiers from anon, authenticated;
grant select on public.tiers to anon, authenticated;
grant all on public.tiers to service_role;
