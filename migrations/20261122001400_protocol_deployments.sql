-- Protocol deployments asked for with deploy-protocol: one row per deploy job, whose
-- outcome sets its status (private.fail_job, hangar_job_callback). Whoever sees the machine
-- reads them.

create table public.protocol_deployments (
  id uuid primary key default gen_random_uuid(),
  machine_id uuid not null references public.machines (id) on delete cascade,
  owner_id uuid not null references public.accounts (id) on delete cascade,
  job_id uuid references public.jobs (id) on delete set null,
  name text not null,
  version text not null,
  settings jsonb not null default '{}' check (private.jsonb_depth(settings) <= 16),
  status text not null default 'pending' check (status in ('pending', 'deployed', 'failed')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index protocol_deployments_machine on public.protocol_deployments (machine_id, created_at desc);
create trigger protocol_deployments_touch before update on public.protocol_deployments
  for each row execute function private.touch_updated_at();

alter table public.protocol_deployments enable row level security;
-- Visible with its machine, as the machines policy says: to its creator (owner_id, copied
-- from the machine, which also spares the creator's reads the subquery) and to the members
-- of its team.
create policy protocol_deployments_select on public.protocol_deployments for select to authenticated
  using (owner_id = (select auth.uid())
    or machine_id in (select m.id from public.machines m where m.team_id = any ((select private.my_teams())::uuid[])));

revoke all on public.protocol_deployments from anon, authenticated;
grant all on public.protocol_deployments to service_role;
grant select on public.protocol_deployments to authenticated;
