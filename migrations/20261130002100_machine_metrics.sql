-- Load samples that the agent on each machine posts (record-metrics, API.md §4): CPU,
-- memory and disk use in percent, and the bytes received and sent since its previous
-- sample. Written only by hangar_record_metrics (the agent's token, checked against the
-- machine's hash, names the machine); whoever sees the machine reads them (RLS), through
-- insights.
-- The scheduler keeps 8 days (hangar_prune_metrics).
--
-- The key is (machine, recorded_at): a batch the agent sends again is stored once, and
-- it is the index of insights' time ranges. owner_id is the machine's creator, copied.

create table public.machine_metrics (
  machine_id uuid not null references public.machines (id) on delete cascade,
  owner_id uuid not null references public.accounts (id) on delete cascade,
  recorded_at timestamptz not null,
  cpu numeric(5, 2) not null check (cpu between 0 and 100),
  memory numeric(5, 2) not null check (memory between 0 and 100),
  disk numeric(5, 2) not null check (disk between 0 and 100),
  net_in bigint not null check (net_in >= 0),
  net_out bigint not null check (net_out >= 0),
  primary key (machine_id, recorded_at)
);
-- Pruning: everything older than 8 days, across machines.
create index machine_metrics_recorded on public.machine_metrics (recorded_at);

alter table public.machine_metrics enable row level security;
-- Visible with its machine, as the machines policy says: to its creator (owner_id, copied
-- from the machine, which also spares the creator's reads the subquery) and to the members
-- of its team.
create policy machine_metrics_select on public.machine_metrics for select to authenticated
  using (owner_id = (select auth.uid())
    or machine_id in (select m.id from public.machines m where m.team_id = any ((select private.my_teams())::uuid[])));

revoke all on public.machine_metrics from public, anon, authenticated, service_role;
grant select on public.machine_metrics to authenticated;
grant select, insert, delete on public.machine_metrics to service_role;

-- record-metrics finds the machine by the SHA-256 of the agent's token.
create index machines_agent_token on public.machines (agent_token_hash) where agent_token_hash is not null;
