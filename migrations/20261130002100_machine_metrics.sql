-- Load samples that the agent on each machine posts (record-metrics, API.md §4): CPU,
-- memory and disk use in percent, and the bytes received and sent since its previous
-- sample. Written only by hangar_record_metrics (the agent's token, checked against the
-- machine's hash, names the machine); whoever sees the machine reads them (RLS), through
-- insights.
-- The scheduler keeps 8 days (hangar_prune_metrics).
--
-- A machine keeps at most one sample per 10-second slot (API.md §4): the key is
-- (machine, slot), so a batch the agent sends again is stored once and a token that
-- floods samples stores at most six a minute; (machine, recorded_at) is the index of
-- insights' time ranges. owner_id is the machine's creator, copied.

-- The 10-second slot of a moment. extract(epoch) of a timestamptz does not depend on the
-- time zone, so this is immutable (Postgres marks extract itself only stable).
create or replace function private.metric_slot(t timestamptz) returns bigint
language sql immutable parallel safe set search_path = '' as $$
  select floor(extract(epoch from t) / 10)::bigint
$$;
revoke all on function private.metric_slot(timestamptz) from public, anon, authenticated;

create table public.machine_metrics (
  machine_id uuid not null references public.machines (id) on delete cascade,
  owner_id uuid not null references public.accounts (id) on delete cascade,
  recorded_at timestamptz not null,
  cpu numeric(5, 2) not null check (cpu between 0 and 100),
  memory numeric(5, 2) not null check (memory between 0 and 100),
  disk numeric(5, 2) not null check (disk between 0 and 100),
  net_in bigint not null check (net_in >= 0),
  net_out bigint not null check (net_out >= 0),
  slot bigint not null generated always as (private.metric_slot(recorded_at)) stored,
  primary key (machine_id, slot)
);
create index machine_metrics_series on public.machine_metrics (machine_id, recorded_at);
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
