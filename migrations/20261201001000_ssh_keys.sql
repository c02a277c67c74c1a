-- SSH keys (API.md §7): named OpenSSH public keys kept on an account, and the keys chosen
-- for each machine. Users read their own keys and the key choices of the machines they
-- can see; every write goes through the ssh-keys functions and create/update-machine
-- (20261201001100_ssh_key_functions.sql), which check the key itself (type, size,
-- fingerprint: private.ssh_key_facts) and whose keys a machine may get.

create table public.ssh_keys (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references public.accounts (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 64 and name = btrim(name) and name !~ '[[:cntrl:]]'),
  -- `<type> <base64 blob>[ <comment>]` on one line, as installed in authorized_keys.
  public_key text not null check (octet_length(public_key) <= 8192 and public_key !~ '[[:cntrl:]]'),
  -- `SHA256:` + unpadded base64 of the SHA-256 of the blob, as `ssh-keygen -l` prints it.
  fingerprint text not null check (fingerprint ~ '^SHA256:[A-Za-z0-9+/]{43}$'),
  type text not null check (type = split_part(public_key, ' ', 1)),
  bits int not null check (bits between 256 and 16384),
  created_at timestamptz not null default now(),
  -- A key is kept once per account (409 conflict).
  constraint ssh_keys_once unique (account_id, fingerprint)
);
create index ssh_keys_account_page on public.ssh_keys (account_id, created_at desc, id desc);

alter table public.ssh_keys enable row level security;
create policy ssh_keys_select_own on public.ssh_keys for select to authenticated
  using (account_id = (select auth.uid()));

revoke all on public.ssh_keys from anon, authenticated;
grant all on public.ssh_keys to service_role;
grant select on public.ssh_keys to authenticated;

-- The keys chosen for a machine, in the order chosen (at most 10). A deleted key leaves
-- every machine's choice, and so do the keys of a member who leaves a team on its machines
-- (private.ssh_keys_removed re-authorizes them). A machine's keys may be of several
-- accounts: a team member's own keys on a team machine.
create table public.machine_ssh_keys (
  machine_id uuid not null references public.machines (id) on delete cascade,
  ssh_key_id uuid not null references public.ssh_keys (id) on delete cascade,
  position smallint not null check (position between 0 and 9),
  primary key (machine_id, ssh_key_id),
  constraint machine_ssh_keys_position unique (machine_id, position)
);
create index machine_ssh_keys_key on public.machine_ssh_keys (ssh_key_id);

alter table public.machine_ssh_keys enable row level security;
-- Whoever may see the machine (its RLS, evaluated as the caller) sees which keys it has.
create policy machine_ssh_keys_select_visible on public.machine_ssh_keys for select to authenticated
  using (exists (select 1 from public.machines m where m.id = machine_id));

revoke all on public.machine_ssh_keys from anon, authenticated;
grant all on public.machine_ssh_keys to service_role;
grant select on public.machine_ssh_keys to authenticated;

-- Machines that lost a key while they were not running (on their way to running, which a
-- job already carrying the key is bringing about, or stopped): each gets an authorize_keys
-- job when it arrives at running (private.ssh_keys_on_arrival, called by the runner's
-- callback), so no key outlives its removal on a machine in transit. Written and read only
-- by the SSH key helpers (20261201001100_ssh_key_functions.sql).
create table private.ssh_key_resyncs (
  machine_id uuid primary key references public.machines (id) on delete cascade,
  since timestamptz not null default now()
);
revoke all on private.ssh_key_resyncs from public, anon, authenticated;
