-- The `secrets` function (API.md §7) and the service role's reads of sealed values: one
-- SQL function per request. The user-facing ones never return a ciphertext, a nonce or a
-- key id; the service-role ones hand the sealed values to the Worker, which opens them
-- only into a job's signed webhook (delivery) or to seal them again (key rotation).

-- The Secret of API.md §7: metadata only.
create or replace function private.secret_json(p_id uuid, p_name text, p_scope text, p_team_id uuid, p_project_id uuid,
  p_machine_id uuid, p_updated_at timestamptz)
returns jsonb
language sql immutable set search_path = '' as $$
  select jsonb_build_object('id', p_id, 'name', p_name, 'scope', p_scope, 'teamId', p_team_id, 'projectId', p_project_id,
    'machineId', p_machine_id, 'updatedAt', private.ts(p_updated_at))
$$;
revoke all on function private.secret_json(uuid, text, text, uuid, uuid, uuid, timestamptz) from public, anon, authenticated;
grant execute on function private.secret_json(uuid, text, text, uuid, uuid, uuid, timestamptz) to authenticated, service_role;

-- secrets GET: the secrets the caller reads (RLS: their account's, their teams', those of
-- the projects and machines they reach), account scope first, then team, project and
-- machine, then by name; optionally only one scope, or one team's, project's or machine's.
-- It runs as the caller: RLS decides the rows, the column grants keep it to metadata (not
-- granted to the service role, for which RLS would not filter).
create or replace function public.hangar_list_secrets(p_scope text default null, p_team_id uuid default null,
  p_project_id uuid default null, p_machine_id uuid default null)
returns jsonb
language sql stable security invoker set search_path = '' as $$
  select private.ok(jsonb_build_object('secrets', coalesce(jsonb_agg(
    private.secret_json(s.id, s.name, s.scope, s.team_id, s.project_id, s.machine_id, s.updated_at)
    order by case s.scope when 'account' then 0 when 'team' then 1 when 'project' then 2 else 3 end,
      s.team_id, s.project_id, s.machine_id, s.name), '[]')))
  from public.secrets s
  where (p_scope is null or s.scope = p_scope)
    and (p_team_id is null or s.team_id = p_team_id)
    and (p_project_id is null or s.project_id = p_project_id)
    and (p_machine_id is null or s.machine_id = p_machine_id)
$$;
revoke all on function public.hangar_list_secrets(text, uuid, uuid, uuid) from public, anon;
grant execute on function public.hangar_list_secrets(text, uuid, uuid, uuid) to authenticated;

-- Why the caller, of role p_role on the target (private.secret_role), may not write or
-- delete a secret of scope p_scope there (null: they may). p_field names the target's field
-- of a PUT (teamId, projectId, machineId); null for an existing secret. A target they do not
-- read is 400 on the field, as create-machine answers a project not theirs (an existing
-- secret: 404, as a missing one); one they read but may not manage is 403.
create or replace function private.secret_refusal(p_role text, p_scope text, p_field text default null) returns jsonb
language plpgsql immutable set search_path = '' as $$
begin
  if not private.role_allows(p_role, 'read') then
    if p_field is null then
      return private.refuse('not_found', 'Secret not found');
    end if;
    return private.refuse('validation_error', initcap(p_scope) || ' not found', jsonb_build_object('field', p_field));
  elsif not private.role_allows(p_role, 'manage') then
    return private.refuse('forbidden', case p_scope
      when 'team' then 'Only the team''s owner may change the team''s secrets'
      else format('Only the %s''s creator or the team''s owner may change its secrets', p_scope) end);
  end if;
  return null;
end $$;
revoke all on function private.secret_refusal(text, text, text) from public, anon, authenticated;

-- secrets PUT: the upsert of one sealed value, for the account p_account_id (the caller the
-- Worker verified). Only the service role calls it: the Worker seals the value under
-- SECRETS_KEY for the row id, so a user's token, which could store a ciphertext of its own
-- making (one no rotation can open), is refused here, as data. Every access rule is here:
-- the target must be one the caller manages (private.secret_role: a team's owner for a
-- team, the creator or the team's owner for a project or machine, in a team only while a
-- member; a terminated machine receives nothing any more); p_id must be private.secret_id
-- of the scope, its target and the name, the associated data the Worker sealed with. The
-- caller's account row is locked first, so that concurrent PUTs count the quota
-- (max_secrets_per_account, of the secrets the account made) one after the other.
-- {secret, created}.
create or replace function public.hangar_put_secret(
  p_account_id uuid default null, p_id uuid default null, p_name text default null, p_team_id uuid default null,
  p_project_id uuid default null, p_machine_id uuid default null,
  p_ciphertext text default null, p_nonce text default null, p_key_id text default null
) returns jsonb
language plpgsql volatile security definer set search_path = '' as $$
declare
  uid pg_catalog.uuid := p_account_id;
  v_scope pg_catalog.text;
  target pg_catalog.uuid;
  refusal pg_catalog.jsonb;
  s public.secrets;
  existed boolean;
  n bigint;
  max_secrets bigint := coalesce(private.setting('max_secrets_per_account'), 50);
begin
  if auth.role() is distinct from 'service_role' then
    return private.refuse('forbidden', 'Secrets are stored through the secrets function (PUT /functions/v1/secrets), which seals the value');
  end if;
  if p_name is null or p_name !~ '^[A-Z_][A-Z0-9_]{0,63}$' then
    return private.refuse('validation_error', '`name` must be 1 to 64 characters of A-Z, 0-9 and _, not starting with a digit',
      jsonb_build_object('field', 'name'));
  end if;
  if num_nonnulls(p_team_id, p_project_id, p_machine_id) > 1 then
    return private.refuse('validation_error', 'Give at most one of `teamId`, `projectId` and `machineId`',
      jsonb_build_object('field', case when p_machine_id is not null then 'machineId' else 'projectId' end));
  end if;
  if p_ciphertext is null or octet_length(p_ciphertext) not between 24 and 10960 or p_ciphertext !~ '^[A-Za-z0-9+/]+={0,2}$'
      or p_nonce is null or p_nonce !~ '^[A-Za-z0-9+/]{16}$' or p_key_id is null or p_key_id !~ '^[0-9a-f]{16}$' then
    return private.refuse('validation_error', '`value` must be sealed by the secrets function', jsonb_build_object('field', 'value'));
  end if;
  perform 1 from public.accounts where id = uid for update;
  if not found then
    return private.refuse('invalid_token', 'No account');
  end if;
  -- The target is locked against deletion (its FK) while the row goes in.
  if p_machine_id is not null then
    v_scope := 'machine';
    target := p_machine_id;
    perform 1 from public.machines where id = p_machine_id and status <> 'terminated' for key share;
    refusal := private.secret_refusal(
      case when found then private.secret_role(null, null, null, p_machine_id, uid) end, v_scope, 'machineId');
  elsif p_project_id is not null then
    v_scope := 'project';
    target := p_project_id;
    perform 1 from public.projects where id = p_project_id for key share;
    refusal := private.secret_refusal(private.secret_role(null, null, p_project_id, null, uid), v_scope, 'projectId');
  elsif p_team_id is not null then
    v_scope := 'team';
    target := p_team_id;
    perform 1 from public.teams where id = p_team_id for key share;
    refusal := private.secret_refusal(private.secret_role(null, p_team_id, null, null, uid), v_scope, 'teamId');
  else
    v_scope := 'account';
    target := uid;
  end if;
  if refusal is not null then
    return refusal;
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
  insert into public.secrets (id, account_id, team_id, project_id, machine_id, name, ciphertext, nonce, key_id)
  values (p_id, uid, p_team_id, p_project_id, p_machine_id, p_name, p_ciphertext, p_nonce, p_key_id)
  on conflict (id) do update set ciphertext = excluded.ciphertext, nonce = excluded.nonce, key_id = excluded.key_id,
    unopenable_ring = null
  returning * into s;
  return private.ok(jsonb_build_object(
    'secret', private.secret_json(s.id, s.name, s.scope, s.team_id, s.project_id, s.machine_id, s.updated_at),
    'created', not existed));
end $$;
revoke all on function public.hangar_put_secret(uuid, uuid, text, uuid, uuid, uuid, text, text, text) from public, anon;
-- Granted to users too, so that a call through /rpc with a user's token gets its refusal
-- (forbidden) in the contract's shape rather than a permission error.
grant execute on function public.hangar_put_secret(uuid, uuid, text, uuid, uuid, uuid, text, text, text) to authenticated, service_role;

-- secrets/{id} DELETE: by whoever may write it (private.secret_role 'manage'); one the
-- caller does not read is 404, as a missing one; one they read but may not change is 403.
-- The Secret as it was.
create or replace function public.hangar_delete_secret(p_secret_id uuid default null) returns jsonb
language plpgsql volatile security definer set search_path = '' as $$
declare
  s public.secrets;
  refusal pg_catalog.jsonb;
begin
  select * into s from public.secrets where id = p_secret_id for update;
  refusal := private.secret_refusal(
    case when found then private.secret_role(s.account_id, s.team_id, s.project_id, s.machine_id, auth.uid()) end, s.scope);
  if refusal is not null then
    return refusal;
  end if;
  delete from public.secrets where id = s.id;
  return private.ok(private.secret_json(s.id, s.name, s.scope, s.team_id, s.project_id, s.machine_id, s.updated_at));
end $$;
revoke all on function public.hangar_delete_secret(uuid) from public, anon;
grant execute on function public.hangar_delete_secret(uuid) to authenticated, service_role;

-- The secrets in scope of a machine, each with its rank (0 the machine's, 1 its project's,
-- 2 its team's or, for a machine in no team, its creator's account-wide ones): the
-- narrowest scope wins a name. A project's reach the machine only when the project is of
-- the machine's team (outside a team: of the machine's creator), however the machine came
-- to point at it. One rule for the delivery's flag (private.job_has_secrets) and for
-- hangar_job_secrets below.
create or replace function private.secrets_in_scope(p_machine_id uuid)
returns table (id uuid, name text, ciphertext text, nonce text, key_id text, rank int)
language sql stable set search_path = '' as $$
  with m as (select m.id, m.owner_id, m.team_id, m.project_id from public.machines m where m.id = p_machine_id)
  select s.id, s.name, s.ciphertext, s.nonce, s.key_id, 2 from public.secrets s, m
    where m.team_id is null and s.account_id = m.owner_id and s.team_id is null and s.project_id is null and s.machine_id is null
  union all
  select s.id, s.name, s.ciphertext, s.nonce, s.key_id, 2 from public.secrets s, m where s.team_id = m.team_id
  union all
  select s.id, s.name, s.ciphertext, s.nonce, s.key_id, 1 from public.secrets s, m, public.projects p
    where p.id = m.project_id and s.project_id = p.id
      and p.team_id is not distinct from m.team_id and (p.team_id is not null or p.owner_id = m.owner_id)
  union all
  select s.id, s.name, s.ciphertext, s.nonce, s.key_id, 0 from public.secrets s, m where s.machine_id = m.id
$$;
revoke all on function private.secrets_in_scope(uuid) from public, anon, authenticated;

-- The sealed secrets of a job (service role: delivery, just before the webhook is signed):
-- for create and deploy, those in scope of its machine, the narrowest scope of each name;
-- none for other actions.
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
-- up to p_limit secrets sealed under another key than p_key_id, by id, leaving out those
-- already set aside as unopenable under this ring p_ring (hangar_reencrypt_secrets): each
-- tick takes rows no earlier tick could not open, so no set of bad rows holds up the rest.
create or replace function public.hangar_stale_secrets(p_key_id text default null, p_ring text default null, p_limit int default null)
returns jsonb
language sql stable security definer set search_path = '' as $$
  select private.ok(coalesce(jsonb_agg(jsonb_build_object(
    'id', s.id, 'name', s.name, 'ciphertext', s.ciphertext, 'nonce', s.nonce, 'keyId', s.key_id) order by s.id), '[]'))
  from (select * from public.secrets where key_id <> p_key_id and unopenable_ring is distinct from p_ring order by id
        limit least(greatest(coalesce(p_limit, 100), 1), 1000)) s
$$;
revoke all on function public.hangar_stale_secrets(text, text, int) from public, anon, authenticated;
grant execute on function public.hangar_stale_secrets(text, text, int) to service_role;

-- The pass's writes. p_rows = [{id, old: {ciphertext, nonce, keyId}, new: {…}}]: each row
-- is resealed only if it still holds `old` (a PUT since the read wins). p_unopenable =
-- [{id, old}]: the rows the pass could not open, set aside under the ring p_ring if they
-- still hold `old`. {reencrypted: n, unopenable: m}.
create or replace function public.hangar_reencrypt_secrets(p_rows jsonb default null, p_unopenable jsonb default null,
  p_ring text default null)
returns jsonb
language plpgsql volatile security definer set search_path = '' as $$
declare
  n int;
  m int;
begin
  if jsonb_typeof(p_unopenable) = 'array' and jsonb_array_length(p_unopenable) > 0
      and (p_ring is null or p_ring !~ '^[0-9a-f]{16}:[0-9a-f]{16}$') then
    return private.refuse('validation_error', '`ring` must be two key ids', jsonb_build_object('field', 'ring'));
  end if;
  with r as (
    select (e ->> 'id')::pg_catalog.uuid as id, e -> 'old' as old, e -> 'new' as new
    from jsonb_array_elements(case when jsonb_typeof(p_rows) = 'array' then p_rows else '[]' end) e
  ), done as (
    update public.secrets s set ciphertext = r.new ->> 'ciphertext', nonce = r.new ->> 'nonce', key_id = r.new ->> 'keyId',
      unopenable_ring = null
    from r
    where s.id = r.id and s.ciphertext = r.old ->> 'ciphertext' and s.nonce = r.old ->> 'nonce' and s.key_id = r.old ->> 'keyId'
    returning s.id
  )
  select count(*) into n from done;
  with r as (
    select (e ->> 'id')::pg_catalog.uuid as id, e -> 'old' as old
    from jsonb_array_elements(case when jsonb_typeof(p_unopenable) = 'array' then p_unopenable else '[]' end) e
  ), aside as (
    update public.secrets s set unopenable_ring = p_ring
    from r
    where s.id = r.id and s.ciphertext = r.old ->> 'ciphertext' and s.nonce = r.old ->> 'nonce' and s.key_id = r.old ->> 'keyId'
    returning s.id
  )
  select count(*) into m from aside;
  return private.ok(jsonb_build_object('reencrypted', n, 'unopenable', m));
end $$;
revoke all on function public.hangar_reencrypt_secrets(jsonb, jsonb, text) from public, anon, authenticated;
grant execute on function public.hangar_reencrypt_secrets(jsonb, jsonb, text) to service_role;

-- health's count (API.md §6): the secrets a rotation set aside because they did not open.
create or replace function private.unopenable_secrets() returns bigint
language sql stable set search_path = '' as $$
  select count(*) from public.secrets where unopenable_ring is not null
$$;
revoke all on function private.unopenable_secrets() from public, anon, authenticated;
grant execute on function private.unopenable_secrets() to service_role;
