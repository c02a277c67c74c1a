-- The `secrets` function (API.md §7) and the service role's reads of sealed values: one
-- SQL function per request. The user-facing ones never return a ciphertext, a nonce or a
-- key id; the service-role ones hand the sealed values to the Worker, which opens them
-- only into a job's signed webhook (delivery) or to seal them again (key rotation).

-- The Secret of API.md §7: metadata only.
create or replace function private.secret_json(p_id uuid, p_name text, p_scope text, p_project_id uuid, p_machine_id uuid, p_updated_at timestamptz)
returns jsonb
language sql immutable set search_path = '' as $$
  select jsonb_build_object('id', p_id, 'name', p_name, 'scope', p_scope, 'projectId', p_project_id,
    'machineId', p_machine_id, 'updatedAt', private.ts(p_updated_at))
$$;
revoke all on function private.secret_json(uuid, text, text, uuid, uuid, timestamptz) from public, anon, authenticated;
grant execute on function private.secret_json(uuid, text, text, uuid, uuid, timestamptz) to authenticated, service_role;

-- secrets GET: the caller's secrets, account scope first, then by project, machine and
-- name; optionally only one scope, one project's or one machine's. It runs as the caller:
-- RLS keeps it to the caller's own rows, and the column grants to the metadata columns
-- (account_id is not one of them, so no filter on it here; not granted to the service
-- role, for which RLS would not filter).
create or replace function public.hangar_list_secrets(p_scope text default null, p_project_id uuid default null, p_machine_id uuid default null)
returns jsonb
language sql stable security invoker set search_path = '' as $$
  select private.ok(jsonb_build_object('secrets', coalesce(jsonb_agg(
    private.secret_json(s.id, s.name, s.scope, s.project_id, s.machine_id, s.updated_at)
    order by case s.scope when 'account' then 0 when 'project' then 1 else 2 end, s.project_id, s.machine_id, s.name), '[]')))
  from public.secrets s
  where (p_scope is null or s.scope = p_scope)
    and (p_project_id is null or s.project_id = p_project_id)
    and (p_machine_id is null or s.machine_id = p_machine_id)
$$;
revoke all on function public.hangar_list_secrets(text, uuid, uuid) from public, anon;
grant execute on function public.hangar_list_secrets(text, uuid, uuid) to authenticated;

-- secrets PUT: the upsert of one sealed value. The project or machine must be the
-- caller's own (else 400 naming projectId / machineId, as create-machine answers; a
-- terminated machine receives nothing any more); p_id must be private.secret_id of the
-- scope, its target and the name, the associated data the Worker sealed the value with.
-- The caller's account row is locked first, so that concurrent PUTs count the quota
-- (max_secrets_per_account) one after the other. {secret, created}.
create or replace function public.hangar_put_secret(
  p_id uuid default null, p_name text default null, p_project_id uuid default null, p_machine_id uuid default null,
  p_ciphertext text default null, p_nonce text default null, p_key_id text default null
) returns jsonb
language plpgsql volatile security definer set search_path = '' as $$
declare
  uid pg_catalog.uuid := auth.uid();
  v_scope pg_catalog.text;
  target pg_catalog.uuid;
  s public.secrets;
  existed boolean;
  n bigint;
  max_secrets bigint := coalesce(private.setting('max_secrets_per_account'), 50);
begin
  if uid is null then
    return private.refuse('invalid_token', 'No caller');
  end if;
  if p_name is null or p_name !~ '^[A-Z_][A-Z0-9_]{0,63}$' then
    return private.refuse('validation_error', '`name` must be 1 to 64 characters of A-Z, 0-9 and _, not starting with a digit',
      jsonb_build_object('field', 'name'));
  end if;
  if p_project_id is not null and p_machine_id is not null then
    return private.refuse('validation_error', 'Give `projectId` or `machineId`, not both', jsonb_build_object('field', 'machineId'));
  end if;
  -- What the Worker sends; a caller of /rpc that sends anything else stores nothing.
  if p_ciphertext is null or octet_length(p_ciphertext) not between 24 and 10960 or p_ciphertext !~ '^[A-Za-z0-9+/]+={0,2}$'
      or p_nonce is null or p_nonce !~ '^[A-Za-z0-9+/]{16}$' or p_key_id is null or p_key_id !~ '^[0-9a-f]{16}$' then
    return private.refuse('validation_error', '`value` must be sealed by the secrets function', jsonb_build_object('field', 'value'));
  end if;
  perform private.ensure_account();
  perform 1 from public.accounts where id = uid for update;
  if not found then
    return private.refuse('invalid_token', 'No account');
  end if;
  if p_machine_id is not null then
    v_scope := 'machine';
    target := p_machine_id;
    perform 1 from public.machines where id = p_machine_id and owner_id = uid and status <> 'terminated' for key share;
    if not found then
      return private.refuse('validation_error', 'Machine not found', jsonb_build_object('field', 'machineId'));
    end if;
  elsif p_project_id is not null then
    v_scope := 'project';
    target := p_project_id;
    perform 1 from public.projects where id = p_project_id and owner_id = uid for key share;
    if not found then
      return private.refuse('validation_error', 'Project not found', jsonb_build_object('field', 'projectId'));
    end if;
  else
    v_scope := 'account';
    target := uid;
  end if;
  if p_id is distinct from private.secret_id(v_scope, target, p_name) then
    return private.refuse('validation_error', '`id` must be derived from the scope, its target and the name',
      jsonb_build_object('field', 'id'));
  end if;
  existed := exists (select 1 from public.secrets where id = p_id);
  if not existed then
    select count(*) into n from public.secrets where account_id = uid;
    if n >= max_secrets then
      return private.refuse('quota_exceeded', format('An account may keep at most %s secrets', max_secrets),
        jsonb_build_object('limit', max_secrets, 'current', n));
    end if;
  end if;
  insert into public.secrets (id, account_id, project_id, machine_id, name, ciphertext, nonce, key_id)
  values (p_id, uid, p_project_id, p_machine_id, p_name, p_ciphertext, p_nonce, p_key_id)
  on conflict (id) do update set ciphertext = excluded.ciphertext, nonce = excluded.nonce, key_id = excluded.key_id
  returning * into s;
  return private.ok(jsonb_build_object(
    'secret', private.secret_json(s.id, s.name, s.scope, s.project_id, s.machine_id, s.updated_at),
    'created', not existed));
end $$;
revoke all on function public.hangar_put_secret(uuid, text, uuid, uuid, text, text, text) from public, anon;
grant execute on function public.hangar_put_secret(uuid, text, uuid, uuid, text, text, text) to authenticated, service_role;

-- secrets/{id} DELETE: the caller's own only (anyone else's is 404, as a missing one);
-- the Secret as it was.
create or replace function public.hangar_delete_secret(p_secret_id uuid default null) returns jsonb
language plpgsql volatile security definer set search_path = '' as $$
declare
  s public.secrets;
begin
  delete from public.secrets where id = p_secret_id and account_id = auth.uid() returning * into s;
  if not found then
    return private.refuse('not_found', 'Secret not found');
  end if;
  return private.ok(private.secret_json(s.id, s.name, s.scope, s.project_id, s.machine_id, s.updated_at));
end $$;
revoke all on function public.hangar_delete_secret(uuid) from public, anon;
grant execute on function public.hangar_delete_secret(uuid) to authenticated, service_role;

-- The secrets in scope of a machine, each with its rank (0 the machine's, 1 its project's,
-- 2 its owner's account-wide ones): the narrowest scope wins a name. One rule for the
-- delivery's flag (private.job_has_secrets) and for hangar_job_secrets below.
create or replace function private.secrets_in_scope(p_machine_id uuid)
returns table (id uuid, name text, ciphertext text, nonce text, key_id text, rank int)
language sql stable set search_path = '' as $$
  with m as (select m.id, m.owner_id, m.project_id from public.machines m where m.id = p_machine_id)
  select s.id, s.name, s.ciphertext, s.nonce, s.key_id, 2 from public.secrets s, m
    where s.account_id = m.owner_id and s.project_id is null and s.machine_id is null
  union all
  select s.id, s.name, s.ciphertext, s.nonce, s.key_id, 1 from public.secrets s, m where s.project_id = m.project_id
  union all
  select s.id, s.name, s.ciphertext, s.nonce, s.key_id, 0 from public.secrets s, m where s.machine_id = m.id
$$;
revoke all on function private.secrets_in_scope(uuid) from public, anon, authenticated;

-- The sealed secrets of a job (service role: delivery, just before the webhook is signed):
-- for create and deploy, those in scope of its machine, the owner's account-wide ones, its
-- project's and its own, the narrowest scope of each name; none for other actions.
create or replace function public.hangar_job_secrets(p_job_id uuid default null) returns jsonb
language sql stable security definer set search_path = '' as $$
  with in_scope as (
    select s.* from public.jobs j, private.secrets_in_scope(j.machine_id) s
    where j.id = p_job_id and j.action in ('create', 'deploy')
  ), chosen as (
    select distinct on (name) id, name, ciphertext, nonce, key_id from in_scope order by name, rank
  )
  select private.ok(coalesce(jsonb_agg(jsonb_build_object(
    'id', id, 'name', name, 'ciphertext', ciphertext, 'nonce', nonce, 'keyId', key_id) order by name), '[]'))
  from chosen
$$;
revoke all on function public.hangar_job_secrets(uuid) from public, anon, authenticated;
grant execute on function public.hangar_job_secrets(uuid) to service_role;

-- Key rotation (service role: the scheduler's re-encrypt pass, shared/src/runner/rotation.rs):
-- up to p_limit secrets sealed under another key than p_key_id, oldest first.
create or replace function public.hangar_stale_secrets(p_key_id text default null, p_limit int default null) returns jsonb
language sql stable security definer set search_path = '' as $$
  select private.ok(coalesce(jsonb_agg(jsonb_build_object(
    'id', s.id, 'name', s.name, 'ciphertext', s.ciphertext, 'nonce', s.nonce, 'keyId', s.key_id)), '[]'))
  from (select * from public.secrets where key_id <> p_key_id order by updated_at, id
        limit least(greatest(coalesce(p_limit, 100), 1), 1000)) s
$$;
revoke all on function public.hangar_stale_secrets(text, int) from public, anon, authenticated;
grant execute on function public.hangar_stale_secrets(text, int) to service_role;

-- The pass's writes, p_rows = [{id, old: {ciphertext, nonce, keyId}, new: {…}}]: each row is
-- resealed only if it still holds `old` (a PUT since the read wins). {reencrypted: n}.
create or replace function public.hangar_reencrypt_secrets(p_rows jsonb default null) returns jsonb
language plpgsql volatile security definer set search_path = '' as $$
declare
  n int;
begin
  with r as (
    select (e ->> 'id')::pg_catalog.uuid as id, e -> 'old' as old, e -> 'new' as new
    from jsonb_array_elements(case when jsonb_typeof(p_rows) = 'array' then p_rows else '[]' end) e
  ), done as (
    update public.secrets s set ciphertext = r.new ->> 'ciphertext', nonce = r.new ->> 'nonce', key_id = r.new ->> 'keyId'
    from r
    where s.id = r.id and s.ciphertext = r.old ->> 'ciphertext' and s.nonce = r.old ->> 'nonce' and s.key_id = r.old ->> 'keyId'
    returning s.id
  )
  select count(*) into n from done;
  return private.ok(jsonb_build_object('reencrypted', n));
end $$;
revoke all on function public.hangar_reencrypt_secrets(jsonb) from public, anon, authenticated;
grant execute on function public.hangar_reencrypt_secrets(jsonb) to service_role;
