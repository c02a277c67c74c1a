-- Secrets (API.md §7): values a machine receives as /etc/hangar/secrets.env, kept per
-- account, per project or per machine. The database holds only ciphertext: the Worker
-- seals each value with AES-256-GCM under SECRETS_KEY (a random 96-bit nonce, the row id
-- as associated data) and opens it only into the signed webhook of a create or deploy job.
-- key_id names the key that sealed it (two keys are live during a rotation).
--
-- Users read the metadata of their own secrets only (RLS, and column grants: not even the
-- ciphertext, nonce or key id is readable through PostgREST) and write nothing directly:
-- every change is hangar_put_secret / hangar_delete_secret
-- (20261201002100_secret_functions.sql).

-- The id of a secret, derived from its scope, what it belongs to (account, project or
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
  -- Whose secret it is (the project's or machine's owner for the narrower scopes).
  account_id uuid not null references public.accounts (id) on delete cascade,
  project_id uuid references public.projects (id) on delete cascade,
  machine_id uuid references public.machines (id) on delete cascade,
  scope text not null generated always as (
    case when machine_id is not null then 'machine' when project_id is not null then 'project' else 'account' end) stored,
  name text not null check (name ~ '^[A-Z_][A-Z0-9_]{0,63}$'),
  -- base64: ciphertext ‖ 16-byte tag of a value of at most 8 KiB; a 12-byte nonce.
  ciphertext text not null check (octet_length(ciphertext) between 24 and 10960 and ciphertext ~ '^[A-Za-z0-9+/]+={0,2}$'),
  nonce text not null check (nonce ~ '^[A-Za-z0-9+/]{16}$'),
  key_id text not null check (key_id ~ '^[0-9a-f]{16}$'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint secrets_one_target check (project_id is null or machine_id is null),
  constraint secrets_derived_id check (id = private.secret_id(
    case when machine_id is not null then 'machine' when project_id is not null then 'project' else 'account' end,
    coalesce(machine_id, project_id, account_id), name))
);
create index secrets_account on public.secrets (account_id, name) where project_id is null and machine_id is null;
create index secrets_project on public.secrets (project_id) where project_id is not null;
create index secrets_machine on public.secrets (machine_id) where machine_id is not null;
-- The re-encrypt pass of a key rotation looks for rows under another key.
create index secrets_key on public.secrets (key_id);
create trigger secrets_touch before update on public.secrets
  for each row execute function private.touch_updated_at();

alter table public.secrets enable row level security;
create policy secrets_select_own on public.secrets for select to authenticated
  using (account_id = (select auth.uid()));

revoke all on public.secrets from anon, authenticated;
grant all on public.secrets to service_role;
grant select (id, name, scope, project_id, machine_id, updated_at) on public.secrets to authenticated;

-- How many secrets an account may keep (every scope together): a create or deploy
-- webhook carries them all, and the runner takes at most 4 MiB.
insert into private.settings (name, value) values ('max_secrets_per_account', 50)
  on conflict (name) do nothing;
