-- Machines. Users read their own and may change only name and project directly (to a
-- project of their own); every status change goes through hangar_machine_action or the
-- runner's callback, which lock the row and write the machine, its job and its event in
-- one transaction. status is one of private.machine_statuses.
-- A machine may belong to a team (team_id, fixed at create): its members read and act on
-- it as private.role_allows says (20261122000850_teams.sql); owner_id stays its creator,
-- who pays for it.

create table public.machines (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references public.accounts (id) on delete cascade,
  project_id uuid references public.projects (id) on delete set null,
  -- A team is deleted only without live machines (hangar_delete_team); the terminated
  -- ones then stay with their creators.
  team_id uuid references public.teams (id) on delete set null,
  name text not null check (name ~ '^[A-Za-z0-9 _-]{1,63}$'),
  status text not null default 'provisioning' references private.machine_statuses (status),
  tier text not null references public.tiers (id),
  provider text not null check (provider in ('aws', 'gcp', 'azure')),
  region text not null check (region ~ '^[a-z0-9-]{2,32}$'),
  image text not null check (image ~ '^[A-Za-z0-9._:/@-]{1,128}$'),
  configuration jsonb not null default '{}'
    check (jsonb_typeof(configuration) = 'object' and octet_length(configuration::text) <= 16384
      and private.jsonb_depth(configuration) <= 16),
  ssh_public_key text check (ssh_public_key is null or (octet_length(ssh_public_key) <= 8192
    and ssh_public_key ~ '^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,2}( [^\n]*)?$')),
  ip_address text,
  provider_instance_id text,
  agent_token_hash text,
  last_started timestamptz,
  last_stopped timestamptz,
  -- The billing clock (private.machine_clock, 20261130002000_metering_schema.sql).
  -- Billed time is accounted for (charged, or in billed_remainder) up to this moment.
  last_billed_at timestamptz,
  -- Accounted but not yet charged, in units (1/2,628,000,000,000 cent). Less than one
  -- cent right after a charge; more while a stopped machine waits for the next run.
  billed_remainder bigint not null default 0 check (billed_remainder >= 0),
  -- The billed time behind billed_remainder that no record covers yet, in µs (usage
  -- hours are counted exactly even though charges come in whole cents).
  billed_remainder_us bigint not null default 0 check (billed_remainder_us >= 0),
  -- Where the machine's next charge record starts: the end of its last one.
  last_charged_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index machines_owner_page on public.machines (owner_id, created_at desc, id desc);
create index machines_project on public.machines (project_id);
create index machines_team_page on public.machines (team_id, created_at desc, id desc) where team_id is not null;
create trigger machines_touch before update on public.machines
  for each row execute function private.touch_updated_at();

alter table public.machines enable row level security;
-- Read: the creator and the members of its team (the set form of private.access_role).
create policy machines_select on public.machines for select to authenticated
  using (owner_id = (select auth.uid()) or team_id = any ((select private.my_teams())::uuid[]));
-- Name and project: whoever may 'edit' it, into a project of its own team.
create policy machines_update on public.machines for update to authenticated
  using (private.can_act(owner_id, team_id, 'edit'))
  with check (private.can_act(owner_id, team_id, 'edit')
    and (project_id is null or private.project_fits(project_id, team_id)));

revoke all on public.machines from anon, authenticated;
grant all on public.machines to service_role;
grant select on public.machines to authenticated;
grant update (name, project_id) on public.machines to authenticated;
