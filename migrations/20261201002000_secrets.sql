-- Secrets (API.md §7): values a machine receives as /etc/hangar/secrets.env, kept per
-- account, per team, per project or per machine (the scope, by which target is set). The
-- database holds only ciphertext: the Worker seals each value with AES-256-GCM under
-- SECRETS_KEY (a random 96-bit nonce, the row id as associated data) and opens it only
-- into the signed webhook of a create or deploy job. key_id names the key that sealed it
-- (two keys are live during a rotation).
--
-- Who reaches what (one rule, private.secret_role, in set form in the policy below): an
-- account's own secrets are its own; a team's are its members' to read and its owner's to
-- write; a project's or machine's are read by whoever reads the target and written by
-- whoever manages it (its creator, the team's owner), in a team only while a member. Users
-- read that metadata only (RLS, and column grants: not even the ciphertext, nonce or key
-- id is readable through PostgREST) and write nothing directly: a ciphertext is stored
-- only by hangar_put_secret, which only the service role (the secrets Worker) may call,
-- and removed by hangar_delete_secret (20261201002100_secret_functions.sql).

-- The id of a secret, derived from its scope, its target (account, team, project or
-- machine id) and its name: a UUID of version 8 from SHA-256, as the Worker derives it
-- (shared/src/crypto.rs `secret_id`). The Worker needs the id, its associated data, before
-- the upsert; deriving it keeps it through a re-put and makes the primary key the unique
-- name per scope target. The CHECK below refuses any other id, from any writer.
create or replace function private.secret_id(p_scope text, p_target uuid, p_name text) returns uuid
language sql immutable parallel safe set search_path = '' as $$
  select encode(set_byte(set_byte(h, 6, (get_byte(h, 6) & 15) | 128), 8, (get_byte(h, 8) & 63) | 128), 'hex')::pg_catalog.uuid
  from (select substring(sha256(convert_to('hangar-secret-id:' || p_scope || ':' || p_target::pg_catalog.text || ':' || p_name, 'UTF8'))
    from 1 for 16) as h) d
$$;
revoke all on function private.secret_id(text, uuid, text) from public, anon, authenticated;
grant execute on function private.secret_id(text, uuid, text) to service_role;

create table public.secrets (
  id uuid primary key,
  -- Who made it: the account of an account secret, else whoever first wrote it (the
  -- per-account quota counts it there). It grants nothing on its own: access follows the
  -- target (private.secret_role).
  account_id uuid not null references public.accounts (id) on delete cascade,
  -- At most one target (secrets_one_target); none is the account scope.
  team_id uuid references public.teams (id) on delete cascade,
  project_id uuid references public.projects (id) on delete cascade,
  machine_id uuid references public.machines (id) on delete cascade,
  scope text not null generated always as (
    case when machine_id is not null then 'machine' when project_id is not null then 'project'
      when team_id is not null then 'team' else 'account' end) stored,
  name text not null check (name ~ '^[A-Z_][A-Z0-9_]{0,63}$'),
  -- base64: ciphertext ‖ 16-byte tag of a value of at most 8 KiB; a 12-byte nonce.
  ciphertext text not null check (octet_length(ciphertext) between 24 and 10960 and ciphertext ~ '^[A-Za-z0-9+/]+={0,2}$'),
  nonce text not null check (nonce ~ '^[A-Za-z0-9+/]{16}$'),
  key_id text not null check (key_id ~ '^[0-9a-f]{16}$'),
  -- The key ring ('<SECRETS_KEY id>:<SECRETS_KEY_PREVIOUS id>') under which the re-encrypt
  -- pass of a rotation could not open this value: set aside, it is not tried again under
  -- that ring, so it never holds up the rows after it (runner/rotation.rs). A new value
  -- (PUT) or another ring clears it; `health` counts these rows.
  unopenable_ring text check (unopenable_ring ~ '^[0-9a-f]{16}:[0-9a-f]{16}$'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint secrets_one_target check (num_nonnulls(team_id, project_id, machine_id) <= 1),
  constraint secrets_derived_id check (id = private.secret_id(
    case when machine_id is not null then 'machine' when project_id is not null then 'project'
      when team_id is not null then 'team' else 'account' end,
    coalesce(machine_id, project_id, team_id, account_id), name))
);
create index secrets_account on public.secrets (account_id, name) where team_id is null and project_id is null and machine_id is null;
-- The quota's count of what an account made, every scope together.
create index secrets_maker on public.secrets (account_id);
create index secrets_team on public.secrets (team_id) where team_id is not null;
create index secrets_project on public.secrets (project_id) where project_id is not null;
create index secrets_machine on public.secrets (machine_id) where machine_id is not null;
-- The re-encrypt pass walks rows under another key by id; health counts those set aside.
create index secrets_key on public.secrets (key_id, id);
create index secrets_unopenable on public.secrets (unopenable_ring) where unopenable_ring is not null;
-- updated_at is when the value was last sealed (a PUT, a rotation), not when the pass set
-- a row aside.
create trigger secrets_touch before update of ciphertext, nonce, key_id on public.secrets
  for each row execute function private.touch_updated_at();

-- p_uid's role on the target of a secret (API.md §7): 'creator', 'team_owner', 'member' or
-- null. The target is the machine p_machine, else the project p_project, else the team
-- p_team, else the account p_account (at most one is given, as in a row). For a project or
-- machine it is private.access_role on its creator and team, except that in a team it
-- takes a member: a creator who left the team reaches none of its secrets. A team's owner
-- is its 'team_owner', a member its 'member'; an account is its own 'creator'. Reading
-- takes 'read', writing and deleting 'manage' (private.role_allows). PL/pgSQL, as
-- access_role is: its plans are kept for the session.
create or replace function private.secret_role(p_account uuid, p_team uuid, p_project uuid, p_machine uuid, p_uid uuid)
returns text
language plpgsql stable set search_path = '' as $$
declare
  v_owner pg_catalog.uuid;
  v_team pg_catalog.uuid;
begin
  if p_machine is not null then
    select m.owner_id, m.team_id into v_owner, v_team from public.machines m where m.id = p_machine;
  elsif p_project is not null then
    select p.owner_id, p.team_id into v_owner, v_team from public.projects p where p.id = p_project;
  elsif p_team is not null then
    v_team := p_team;
  else
    v_owner := p_account;
  end if;
  if v_owner is null and v_team is null then
    return null;
  elsif v_team is not null and private.team_role(v_team, p_uid) is null then
    return null;
  end if;
  return private.access_role(v_owner, v_team, p_uid);
end $$;
revoke all on function private.secret_role(uuid, uuid, uuid, uuid, uuid) from public, anon, authenticated;

alter table public.secrets enable row level security;
-- The 'read' of private.secret_role in set form (each arm an index condition): one's own
-- account secrets; the secrets of one's teams; those of the projects and machines one
-- reads, i.e. one's own outside a team and those of one's teams.
create policy secrets_select on public.secrets for select to authenticated using (
  (account_id = (select auth.uid()) and team_id is null and project_id is null and machine_id is null)
  or team_id = any ((select private.my_teams())::uuid[])
  or project_id = any (array(select p.id from public.projects p
    where (p.team_id is null and p.owner_id = (select auth.uid())) or p.team_id = any ((select private.my_teams())::uuid[])))
  or machine_id = any (array(select m.id from public.machines m
    where (m.team_id is null and m.owner_id = (select auth.uid())) or m.team_id = any ((select private.my_teams())::uuid[])))
);

revoke all on public.secrets from anon, authenticated;
grant all on public.secrets to service_role;
grant select (id, name, scope, team_id, project_id, machine_id, updated_at) on public.secrets to authenticated;

-- How many secrets an account may make (every scope together): a create or deploy
-- webhook carries those in scope of its machine, and the runner takes at most 4 MiB.
insert into private.settings (name, value) values ('max_secrets_per_account', 50)
  on conflict (name) do nothing;
