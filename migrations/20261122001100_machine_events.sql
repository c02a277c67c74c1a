-- A machine's log: transitions, job outcomes, runner log lines and the owner's own
-- notes (hangar_log_event). Written only by the functions; whoever sees the machine reads them
-- (owner_id is the machine's creator).

create table public.machine_events (
  id uuid primary key default gen_random_uuid(),
  machine_id uuid not null references public.machines (id) on delete cascade,
  owner_id uuid not null references public.accounts (id) on delete cascade,
  event_type text not null check (event_type ~ '^[A-Za-z0-9._:-]{1,64}$'),
  details jsonb check (details is null or (octet_length(details::text) <= 16384
    and private.jsonb_depth(details) <= 32)),
  level text not null default 'info' check (level in ('info', 'warn', 'error')),
  source text not null check (source in ('user', 'system', 'runner', 'agent')),
  created_at timestamptz not null default clock_timestamp()
);
create index machine_events_machine on public.machine_events (machine_id, created_at desc, id desc);

alter table public.machine_events enable row level security;
-- Visible with its machine, as the machines policy says: to its creator (owner_id, copied
-- from the machine, which also spares the creator's reads the subquery) and to the members
-- of its team.
create policy machine_events_select on public.machine_events for select to authenticated
  using (owner_id = (select auth.uid())
    or machine_id in (select m.id from public.machines m where m.team_id = any ((select private.my_teams())::uuid[])));

revoke all on public.machine_events from anon, authenticated;
grant all on public.machine_events to service_role;
grant select on public.machine_events to authenticated;
