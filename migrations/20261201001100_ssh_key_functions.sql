-- The `ssh-keys` function (API.md §7): list, add and delete the caller's SSH keys, and the
-- helpers create-machine and update-machine use for `sshKeyIds`. One SQL function per
-- request. The Worker parses a key before it gets here (shared::domain::SshKey); SQL
-- reads it again (private.ssh_key_facts) and computes its type, size and fingerprint
-- itself, so that a caller of /rpc can neither store a key that cannot log in nor give a
-- key a fingerprint it does not have (the fingerprint is what makes a duplicate a 409).

-- Bits of a positive SSH mpint (big-endian, a leading zero byte when the top bit is
-- set); null for zero or a negative number.
create or replace function private.ssh_mpint_bits(n bytea) returns int
language plpgsql immutable set search_path = '' as $$
declare
  i int := 0;
  b int;
  top int := 0;
begin
  if n is null or octet_length(n) = 0 or get_byte(n, 0) >= 128 then
    return null;
  end if;
  while i < octet_length(n) and get_byte(n, i) = 0 loop
    i := i + 1;
  end loop;
  if i = octet_length(n) then
    return null;
  end if;
  b := get_byte(n, i);
  while b > 0 loop
    b := b >> 1;
    top := top + 1;
  end loop;
  return (octet_length(n) - i - 1) * 8 + top;
end $$;
revoke all on function private.ssh_mpint_bits(bytea) from public, anon, authenticated;

-- What an OpenSSH public key line is: {type, bits, fingerprint}, or {error} saying why it
-- is not a key Hangar takes. The same rules as shared/src/domain/ssh_key.rs: ed25519,
-- ecdsa nistp256/384/521, rsa of 2048 to 16384 bits, and the two security-key types;
-- the blob is a sequence of SSH strings whose first is the line's type, with exactly the
-- fields of that type. fingerprint = `SHA256:` + unpadded base64 of SHA-256(blob).
create or replace function private.ssh_key_facts(p_line text) returns jsonb
language plpgsql immutable set search_path = '' as $$
declare
  kind pg_catalog.text := split_part(p_line, ' ', 1);
  blob pg_catalog.bytea;
  f pg_catalog.bytea[] := '{}';
  pos int := 0;
  len bigint;
  bits int;
  ok boolean;
  malformed pg_catalog.jsonb := jsonb_build_object('error', format('the %s key is malformed', kind));
begin
  if p_line is null or octet_length(p_line) > 8192 or p_line ~ '[[:cntrl:]]'
      or p_line !~ '^[A-Za-z0-9@.-]+ [A-Za-z0-9+/]+={0,2}( [^ ].*)?$' then
    return jsonb_build_object('error',
      'must be an OpenSSH public key line: `<type> <base64 key> [comment]` on one line, at most 8192 bytes');
  end if;
  if kind not in ('ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa',
      'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com') then
    return jsonb_build_object('error', format('type `%s` is not taken; use ssh-ed25519, ecdsa-sha2-nistp256/384/521, '
      'ssh-rsa (2048 bits or more) or a security key (sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com)', left(kind, 40)));
  end if;
  begin
    blob := decode(split_part(p_line, ' ', 2), 'base64');
  exception when others then
    return jsonb_build_object('error', 'the key is not valid base64');
  end;
  while pos < octet_length(blob) loop
    if pos + 4 > octet_length(blob) then
      return malformed;
    end if;
    len := (get_byte(blob, pos)::bigint << 24) + (get_byte(blob, pos + 1) << 16)
      + (get_byte(blob, pos + 2) << 8) + get_byte(blob, pos + 3);
    if pos + 4 + len > octet_length(blob) then
      return malformed;
    end if;
    f := array_append(f, substring(blob from pos + 5 for len::int));
    pos := pos + 4 + len::int;
  end loop;
  if cardinality(f) = 0 or f[1] <> convert_to(kind, 'UTF8') then
    return jsonb_build_object('error', format('the key inside is not a %s key (its type does not match the line''s)', kind));
  end if;
  case kind
    when 'ssh-ed25519' then
      bits := 256;
      ok := cardinality(f) = 2 and octet_length(f[2]) = 32;
    when 'sk-ssh-ed25519@openssh.com' then
      bits := 256;
      ok := cardinality(f) = 3 and octet_length(f[2]) = 32 and octet_length(f[3]) > 0;
    when 'sk-ecdsa-sha2-nistp256@openssh.com' then
      bits := 256;
      ok := cardinality(f) = 4 and f[2] = convert_to('nistp256', 'UTF8') and octet_length(f[3]) = 65
        and get_byte(f[3], 0) = 4 and octet_length(f[4]) > 0;
    when 'ssh-rsa' then
      bits := case when cardinality(f) = 3 and private.ssh_mpint_bits(f[2]) is not null
        then private.ssh_mpint_bits(f[3]) end;
      ok := bits is not null;
      if ok and bits < 2048 then
        return jsonb_build_object('error', format('RSA keys must have at least 2048 bits; this one has %s', bits));
      end if;
      if ok and bits > 16384 then
        return jsonb_build_object('error', format('RSA keys may have at most 16384 bits; this one has %s', bits));
      end if;
    else -- ecdsa-sha2-nistp256/384/521
      bits := substring(kind from 'nistp([0-9]+)$')::int;
      ok := cardinality(f) = 3 and f[2] = convert_to('nistp' || bits, 'UTF8')
        and octet_length(f[3]) = 1 + 2 * ((bits + 7) / 8) and get_byte(f[3], 0) = 4;
  end case;
  if not ok then
    return malformed;
  end if;
  return jsonb_build_object('type', kind, 'bits', bits,
    'fingerprint', 'SHA256:' || rtrim(encode(sha256(blob), 'base64'), '='));
end $$;
revoke all on function private.ssh_key_facts(text) from public, anon, authenticated;

-- The SshKey of API.md §7.
create or replace function private.ssh_key_json(k public.ssh_keys) returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object('id', k.id, 'name', k.name, 'fingerprint', k.fingerprint, 'type', k.type,
    'bits', k.bits, 'publicKey', k.public_key, 'createdAt', private.ts(k.created_at))
$$;
revoke all on function private.ssh_key_json(public.ssh_keys) from public, anon, authenticated;
grant execute on function private.ssh_key_json(public.ssh_keys) to authenticated, service_role;

-- ssh-keys GET: the caller's keys, newest first: {sshKeys: SshKey[]}.
create or replace function public.hangar_list_ssh_keys() returns jsonb
language sql stable security invoker set search_path = '' as $$
  select private.ok(jsonb_build_object('sshKeys',
    coalesce(jsonb_agg(private.ssh_key_json(k) order by k.created_at desc, k.id desc), '[]')))
  from public.ssh_keys k
  where k.account_id = auth.uid()
$$;
revoke all on function public.hangar_list_ssh_keys() from public, anon;
grant execute on function public.hangar_list_ssh_keys() to authenticated, service_role;

-- ssh-keys POST: a key of the caller's (made first for a Supabase Auth caller), at most
-- max_ssh_keys_per_account of them; the same key (fingerprint) twice is 409 conflict.
create or replace function public.hangar_create_ssh_key(p_name text default null, p_public_key text default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  uid pg_catalog.uuid := auth.uid();
  facts pg_catalog.jsonb;
  k public.ssh_keys;
  limit_count bigint := private.setting('max_ssh_keys_per_account');
  current_count bigint;
begin
  if uid is null then
    return private.refuse('invalid_token', 'No caller');
  end if;
  if p_name is null or char_length(btrim(p_name)) not between 1 and 64 or p_name ~ '[[:cntrl:]]' then
    return private.refuse('validation_error', '`name` must be 1 to 64 characters without control characters',
      jsonb_build_object('field', 'name'));
  end if;
  facts := private.ssh_key_facts(p_public_key);
  if facts ? 'error' then
    return private.refuse('validation_error', '`publicKey` ' || (facts ->> 'error'), jsonb_build_object('field', 'publicKey'));
  end if;
  perform private.ensure_account();
  -- The account row lock serializes this account's additions: the count is exact.
  perform 1 from public.accounts where id = uid for update;
  if not found then
    return private.refuse('not_found', 'Account not found');
  end if;
  select count(*) into current_count from public.ssh_keys where account_id = uid;
  if current_count >= limit_count then
    return private.refuse('quota_exceeded', format('An account may keep at most %s SSH keys', limit_count),
      jsonb_build_object('limit', limit_count, 'current', current_count));
  end if;
  insert into public.ssh_keys (account_id, name, public_key, fingerprint, type, bits)
  values (uid, btrim(p_name), p_public_key, facts ->> 'fingerprint', facts ->> 'type', (facts ->> 'bits')::int)
  on conflict on constraint ssh_keys_once do nothing
  returning * into k;
  if not found then
    select * into k from public.ssh_keys where account_id = uid and fingerprint = facts ->> 'fingerprint';
    return private.refuse('conflict', format('This key (%s) is already on your account as "%s"', k.fingerprint, k.name),
      jsonb_build_object('sshKeyId', k.id, 'fingerprint', k.fingerprint));
  end if;
  return private.ok(private.ssh_key_json(k));
end $$;
revoke all on function public.hangar_create_ssh_key(text, text) from public, anon;
grant execute on function public.hangar_create_ssh_key(text, text) to authenticated, service_role;

-- Keys came off the machines p_machine_ids (locked by the caller, their machine_ssh_keys
-- rows already gone): the one way every removal takes effect (API.md §7). A running
-- machine gets an authorize_keys job now, built from the keys it has left (no pending-jobs
-- limit: a revocation is never refused); any other live machine owes one when it arrives
-- at running (private.ssh_key_resyncs), since a job already on its way may carry the old
-- keys. Answers the jobs for the Worker to hand to the runner.
create or replace function private.ssh_keys_removed(p_machine_ids uuid[]) returns jsonb
language plpgsql set search_path = '' as $$
declare
  m public.machines;
  deliveries pg_catalog.jsonb := '[]';
begin
  for m in select * from public.machines where id = any (p_machine_ids) order by id loop
    if m.status = 'running' then
      deliveries := deliveries || jsonb_build_array(private.delivery(
        private.enqueue(m, 'authorize_keys', '{}', 'machine.authorize_keys_requested', 'system')));
    elsif m.status not in ('terminating', 'terminated') then
      insert into public.machine_events (machine_id, owner_id, event_type, details, source)
      values (m.id, m.owner_id, 'machine.authorize_keys_deferred', jsonb_build_object('status', m.status), 'system');
      insert into private.ssh_key_resyncs (machine_id) values (m.id) on conflict do nothing;
    end if;
  end loop;
  return deliveries;
end $$;
revoke all on function private.ssh_keys_removed(uuid[]) from public, anon, authenticated;

-- The runner's callback, when machine p_machine_id has just arrived at running: the
-- authorize_keys job it owes (private.ssh_keys_removed) as a delivery, or null.
create or replace function private.ssh_keys_on_arrival(p_machine_id uuid) returns jsonb
language plpgsql set search_path = '' as $$
declare
  m public.machines;
begin
  select * into m from public.machines where id = p_machine_id and status = 'running';
  if not found then
    return null;
  end if;
  delete from private.ssh_key_resyncs where machine_id = m.id;
  if not found then
    return null;
  end if;
  return private.delivery(private.enqueue(m, 'authorize_keys', '{}', 'machine.authorize_keys_requested', 'system'));
end $$;
revoke all on function private.ssh_keys_on_arrival(uuid) from public, anon, authenticated;

-- Takes off machines p_machine_ids (locked by the caller) every key whose account may no
-- longer reach the machine (private.access_role, as it is now: after a member left its
-- team, or the machine left a team with its creator), and re-authorizes the machines that
-- lost one. Answers the jobs to hand over.
create or replace function private.prune_machine_ssh_keys(p_machine_ids uuid[]) returns jsonb
language plpgsql set search_path = '' as $$
declare
  pruned pg_catalog.uuid[];
begin
  with gone as (
    delete from public.machine_ssh_keys mk
    using public.ssh_keys k, public.machines m
    where mk.ssh_key_id = k.id and m.id = mk.machine_id and mk.machine_id = any (p_machine_ids)
      and private.access_role(m.owner_id, m.team_id, k.account_id) is null
    returning mk.machine_id)
  select coalesce(array_agg(distinct machine_id), '{}') into pruned from gone;
  return private.ssh_keys_removed(pruned);
end $$;
revoke all on function private.prune_machine_ssh_keys(uuid[]) from public, anon, authenticated;

-- ssh-keys/{id} DELETE: removes the key from the account and from every machine that had
-- it, whatever its status (private.ssh_keys_removed: running ones now, the others when they
-- arrive at running). Answers {sshKey, machineIds, deliveries}: the key as it was, the
-- machines it came off, and the authorize_keys jobs for the Worker to hand over.
-- Locks: the machines first, then the key (the order update-machine takes them in).
create or replace function public.hangar_delete_ssh_key(p_ssh_key_id uuid default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  uid pg_catalog.uuid := auth.uid();
  k public.ssh_keys;
  machine_ids pg_catalog.uuid[];
begin
  if not exists (select 1 from public.ssh_keys where id = p_ssh_key_id and account_id = uid) then
    return private.refuse('not_found', 'SSH key not found');
  end if;
  perform 1 from public.machines
    where id in (select machine_id from public.machine_ssh_keys where ssh_key_id = p_ssh_key_id)
    order by id for update;
  select * into k from public.ssh_keys where id = p_ssh_key_id and account_id = uid for update;
  if not found then
    return private.refuse('not_found', 'SSH key not found');
  end if;
  -- No machine can take the key any more; lock one that took it between the two locks.
  perform 1 from public.machines
    where id in (select machine_id from public.machine_ssh_keys where ssh_key_id = k.id)
    order by id for update;
  select coalesce(array_agg(machine_id order by machine_id), '{}') into machine_ids
    from public.machine_ssh_keys where ssh_key_id = k.id;
  -- Its machine_ssh_keys rows go with it (on delete cascade) before any job is built.
  delete from public.ssh_keys where id = k.id;
  return private.ok(jsonb_build_object('sshKey', private.ssh_key_json(k), 'machineIds', to_jsonb(machine_ids),
    'deliveries', private.ssh_keys_removed(machine_ids)));
end $$;
revoke all on function public.hangar_delete_ssh_key(uuid) from public, anon;
grant execute on function public.hangar_delete_ssh_key(uuid) to authenticated, service_role;

-- sshKeyIds of create-machine and update-machine, as given (JSON): a refusal naming the
-- field, or null when it is an array of at most 10 distinct ids of p_account's own keys.
-- Those keys are locked FOR KEY SHARE, so a delete racing the choice waits for it.
create or replace function private.ssh_key_ids_refusal(p_ids jsonb, p_account uuid) returns jsonb
language plpgsql set search_path = '' as $$
declare
  n int;
  owned int;
  refuse_with pg_catalog.text;
begin
  if p_ids is null or jsonb_typeof(p_ids) <> 'array' then
    refuse_with := '`sshKeyIds` must be an array of SSH key ids';
  elsif jsonb_array_length(p_ids) > 10 then
    refuse_with := '`sshKeyIds`: at most 10 SSH keys per machine';
  elsif exists (select 1 from jsonb_array_elements(p_ids) e
      where jsonb_typeof(e) <> 'string'
        or (e #>> '{}') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') then
    refuse_with := '`sshKeyIds` must be an array of SSH key ids (UUIDs)';
  elsif (select count(distinct lower(e #>> '{}')) from jsonb_array_elements(p_ids) e) <> jsonb_array_length(p_ids) then
    refuse_with := '`sshKeyIds` lists a key twice';
  end if;
  if refuse_with is not null then
    return private.refuse('validation_error', refuse_with, jsonb_build_object('field', 'sshKeyIds'));
  end if;
  n := jsonb_array_length(p_ids);
  perform 1 from public.ssh_keys k
    where k.account_id = p_account
      and k.id in (select (e #>> '{}')::pg_catalog.uuid from jsonb_array_elements(p_ids) e)
    for key share;
  get diagnostics owned = row_count;
  if owned <> n then
    return private.refuse('validation_error', 'SSH key not found: `sshKeyIds` takes only your own keys (ssh-keys)',
      jsonb_build_object('field', 'sshKeyIds'));
  end if;
  return null;
end $$;
revoke all on function private.ssh_key_ids_refusal(jsonb, uuid) from public, anon, authenticated;

-- sshKeyIds (checked) as machine_ssh_key_ids answers them: a JSON array of ids, in order.
create or replace function private.ssh_key_id_list(p_ids jsonb) returns jsonb
language sql immutable set search_path = '' as $$
  select coalesce(jsonb_agg(to_jsonb((e #>> '{}')::pg_catalog.uuid) order by o), '[]')
  from jsonb_array_elements(p_ids) with ordinality as x(e, o)
$$;
revoke all on function private.ssh_key_id_list(jsonb) from public, anon, authenticated;

-- Replaces the keys chosen for a machine (locked by the caller) with p_ids (checked), in
-- that order. Only keys whose account may reach the machine now: this statement reads
-- team_members afresh, so a member removed while their update-machine waited for the
-- machine's lock pins nothing (the lock's re-check saw them as they were before).
create or replace function private.set_machine_ssh_keys(p_machine_id uuid, p_ids jsonb) returns void
language plpgsql set search_path = '' as $$
begin
  delete from public.machine_ssh_keys where machine_id = p_machine_id;
  insert into public.machine_ssh_keys (machine_id, ssh_key_id, position)
  select p_machine_id, k.id, x.o - 1
  from jsonb_array_elements(p_ids) with ordinality as x(e, o)
  join public.ssh_keys k on k.id = (x.e #>> '{}')::pg_catalog.uuid
  join public.machines m on m.id = p_machine_id
  where private.access_role(m.owner_id, m.team_id, k.account_id) is not null;
end $$;
revoke all on function private.set_machine_ssh_keys(uuid, jsonb) from public, anon, authenticated;
