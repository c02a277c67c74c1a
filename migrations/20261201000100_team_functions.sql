-- The `teams` function (API.md §7): a caller's teams, creating, renaming and deleting one,
-- and its members (list, add by email / wallet / account id, remove or leave). One SQL
-- function per request. All are SECURITY DEFINER and check the caller's role themselves
-- (private.team_role): teams and team_members are written nowhere else, and a Member
-- shows other accounts' display names and identifiers, which accounts' RLS hides.
-- A team that is not the caller's is 404 (never 403); a member asking for an owner's
-- action is 403 `forbidden`.

-- Team = {id, name, role (the caller's), memberCount, machineCount (not terminated), createdAt}.
create or replace function private.team_json(t public.teams, p_role text) returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object(
    'id', t.id,
    'name', t.name,
    'role', p_role,
    'memberCount', (select count(*) from public.team_members tm where tm.team_id = t.id),
    'machineCount', (select count(*) from public.machines m where m.team_id = t.id and m.status <> 'terminated'),
    'createdAt', private.ts(t.created_at))
$$;
revoke all on function private.team_json(public.teams, text) from public, anon, authenticated;

-- Member = {accountId, displayName, identifier, role, joinedAt}.
create or replace function private.member_json(tm public.team_members) returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object(
    'accountId', tm.account_id,
    'displayName', a.display_name,
    'identifier', a.identifier,
    'role', tm.role,
    'joinedAt', private.ts(tm.joined_at))
  from public.accounts a where a.id = tm.account_id
$$;
revoke all on function private.member_json(public.team_members) from public, anon, authenticated;

-- A team name as the table takes it (the Worker parses the same; this answers callers of
-- /rpc with the field rather than a 5xx): the refusal, or null.
create or replace function private.team_name_refusal(p_name text) returns jsonb
language sql immutable set search_path = '' as $$
  select case when p_name is null or char_length(btrim(p_name)) not between 1 and 64 or p_name ~ '[[:cntrl:]]' then
    private.refuse('validation_error', '`name` must be 1 to 64 characters, without control characters',
      jsonb_build_object('field', 'name'))
  end
$$;
revoke all on function private.team_name_refusal(text) from public, anon, authenticated;

-- The header's rule for a team request, once: 404 unless the team was found and the
-- caller is in it (p_role from private.team_role); 403 when p_owner_may names an owner's
-- action and the caller is a member. Null when the caller may go on.
create or replace function private.team_refusal(p_found boolean, p_role text, p_owner_may text default null) returns jsonb
language sql immutable set search_path = '' as $$
  select case
    when not p_found or p_role is null then private.refuse('not_found', 'Team not found')
    when p_owner_may is not null and p_role <> 'owner' then private.refuse('forbidden', 'Only the team''s owner may ' || p_owner_may)
  end
$$;
revoke all on function private.team_refusal(boolean, text, text) from public, anon, authenticated;

-- teams GET: {teams: Team[]}, the caller's, newest first.
create or replace function public.hangar_list_teams() returns jsonb
language sql stable security definer set search_path = '' as $$
  select private.ok(jsonb_build_object('teams',
    coalesce(jsonb_agg(private.team_json(t, tm.role) order by t.created_at desc, t.id desc), '[]')))
  from public.team_members tm
  join public.teams t on t.id = tm.team_id
  where tm.account_id = auth.uid()
$$;
revoke all on function public.hangar_list_teams() from public, anon;
grant execute on function public.hangar_list_teams() to authenticated, service_role;

-- teams/{id} GET.
create or replace function public.hangar_get_team(p_team_id uuid default null) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  t public.teams;
  my_role pg_catalog.text := private.team_role(p_team_id, auth.uid());
  refusal pg_catalog.jsonb;
begin
  select * into t from public.teams where id = p_team_id;
  refusal := private.team_refusal(found, my_role);
  if refusal is not null then
    return refusal;
  end if;
  return private.ok(private.team_json(t, my_role));
end $$;
revoke all on function public.hangar_get_team(uuid) from public, anon;
grant execute on function public.hangar_get_team(uuid) to authenticated, service_role;

-- teams POST: a team owned by the caller, who is its first member (role owner). Makes a
-- Supabase Auth caller's account first, which both rows refer to.
create or replace function public.hangar_create_team(p_name text default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  uid pg_catalog.uuid := auth.uid();
  refusal pg_catalog.jsonb := private.team_name_refusal(p_name);
  t public.teams;
begin
  if uid is null then
    return private.refuse('invalid_token', 'No caller');
  end if;
  if refusal is not null then
    return refusal;
  end if;
  perform private.ensure_account();
  if not exists (select 1 from public.accounts where id = uid) then
    return private.refuse('not_found', 'Account not found');
  end if;
  insert into public.teams (name, owner_id) values (btrim(p_name), uid) returning * into t;
  insert into public.team_members (team_id, account_id, role) values (t.id, uid, 'owner');
  return private.ok(private.team_json(t, 'owner'));
end $$;
revoke all on function public.hangar_create_team(text) from public, anon;
grant execute on function public.hangar_create_team(text) to authenticated, service_role;

-- teams/{id} PATCH {name}: the owner renames the team.
create or replace function public.hangar_update_team(p_team_id uuid default null, p_name text default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  t public.teams;
  my_role pg_catalog.text := private.team_role(p_team_id, auth.uid());
  refusal pg_catalog.jsonb;
begin
  select * into t from public.teams where id = p_team_id for update;
  refusal := coalesce(private.team_refusal(found, my_role, 'rename it'), private.team_name_refusal(p_name));
  if refusal is not null then
    return refusal;
  end if;
  update public.teams set name = btrim(p_name) where id = t.id returning * into t;
  return private.ok(private.team_json(t, my_role));
end $$;
revoke all on function public.hangar_update_team(uuid, text) from public, anon;
grant execute on function public.hangar_update_team(uuid, text) to authenticated, service_role;

-- teams/{id} DELETE: the owner deletes a team that has no live (not terminated) machines:
-- 409 `conflict` otherwise. The row lock comes first: a create-machine into the team reads
-- it FOR KEY SHARE, so one racing this either lands first (and is counted here) or waits
-- and then finds no team. Its members go with it; its projects and terminated machines
-- stay with their creators (team_id set null). Answers the Team as it was.
create or replace function public.hangar_delete_team(p_team_id uuid default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  t public.teams;
  my_role pg_catalog.text := private.team_role(p_team_id, auth.uid());
  live bigint;
  shape pg_catalog.jsonb;
  refusal pg_catalog.jsonb;
begin
  select * into t from public.teams where id = p_team_id for update;
  refusal := private.team_refusal(found, my_role, 'delete it');
  if refusal is not null then
    return refusal;
  end if;
  select count(*) into live from public.machines where team_id = t.id and status <> 'terminated';
  if live > 0 then
    return private.refuse('conflict',
      format('Team has %s machine(s) that are not terminated: delete them first', live),
      jsonb_build_object('machineCount', live));
  end if;
  shape := private.team_json(t, my_role);
  delete from public.teams where id = t.id;
  return private.ok(shape);
end $$;
revoke all on function public.hangar_delete_team(uuid) from public, anon;
grant execute on function public.hangar_delete_team(uuid) to authenticated, service_role;

-- teams/{id}/members GET: {members: Member[]}, the owner first, then by joining.
create or replace function public.hangar_list_team_members(p_team_id uuid default null) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
begin
  if private.team_role(p_team_id, auth.uid()) is null then
    return private.refuse('not_found', 'Team not found');
  end if;
  return private.ok(jsonb_build_object('members', coalesce((
    select jsonb_agg(private.member_json(tm) order by tm.role = 'owner' desc, tm.joined_at, tm.account_id)
    from public.team_members tm where tm.team_id = p_team_id), '[]')));
end $$;
revoke all on function public.hangar_list_team_members(uuid) from public, anon;
grant execute on function public.hangar_list_team_members(uuid) to authenticated, service_role;

-- teams/{id}/members POST {identifier}: the owner adds an account, named by its id or by
-- its identifier (email or wallet address, case-insensitive). No such account: 404; one
-- already in the team: 409; an identifier two accounts share: 409 (add it by id). The
-- team row is read FOR KEY SHARE, so an add racing the team's delete finds no team.
create or replace function public.hangar_add_team_member(p_team_id uuid default null, p_identifier text default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  t public.teams;
  my_role pg_catalog.text := private.team_role(p_team_id, auth.uid());
  ident pg_catalog.text := btrim(p_identifier);
  found_ids pg_catalog.uuid[];
  tm public.team_members;
  refusal pg_catalog.jsonb;
begin
  select * into t from public.teams where id = p_team_id for key share;
  refusal := private.team_refusal(found, my_role, 'add members');
  if refusal is not null then
    return refusal;
  end if;
  if ident is null or char_length(ident) not between 1 and 320 or ident ~ '[[:cntrl:]]' then
    return private.refuse('validation_error', '`identifier` must be an email, a wallet address or an account id',
      jsonb_build_object('field', 'identifier'));
  end if;
  if ident ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    select array_agg(a.id) into found_ids from public.accounts a where a.id = ident::pg_catalog.uuid;
  end if;
  if found_ids is null then
    select array_agg(x.id) into found_ids from (
      select a.id from public.accounts a where lower(a.identifier) = lower(ident) limit 2) x;
  end if;
  if found_ids is null then
    return private.refuse('not_found', 'No account has this identifier');
  end if;
  if cardinality(found_ids) > 1 then
    return private.refuse('conflict', 'More than one account has this identifier: add the member by account id');
  end if;
  insert into public.team_members (team_id, account_id, role) values (t.id, found_ids[1], 'member')
  on conflict (team_id, account_id) do nothing
  returning * into tm;
  if tm.account_id is null then
    return private.refuse('conflict', 'This account is already a member of the team');
  end if;
  return private.ok(private.member_json(tm));
end $$;
revoke all on function public.hangar_add_team_member(uuid, text) from public, anon;
grant execute on function public.hangar_add_team_member(uuid, text) to authenticated, service_role;

-- teams/{id}/members/{accountId} DELETE: the owner removes a member, or a member leaves.
-- The owner cannot leave a team they own (409: delete the team instead); a member removing
-- someone else is 403. The member's access to the team's machines ends with the row (every
-- check reads team_members); the machines they created stay in the team, theirs to pay.
-- Answers the Member as it was.
create or replace function public.hangar_remove_team_member(p_team_id uuid default null, p_account_id uuid default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  uid pg_catalog.uuid := auth.uid();
  my_role pg_catalog.text := private.team_role(p_team_id, uid);
  tm public.team_members;
  shape pg_catalog.jsonb;
begin
  if my_role is null then
    return private.refuse('not_found', 'Team not found');
  end if;
  if p_account_id is distinct from uid and my_role <> 'owner' then
    return private.refuse('forbidden', 'Only the team''s owner may remove other members');
  end if;
  select * into tm from public.team_members where team_id = p_team_id and account_id = p_account_id for update;
  if not found then
    return private.refuse('not_found', 'Member not found');
  end if;
  if tm.role = 'owner' then
    return private.refuse('conflict', 'The owner cannot leave the team: delete the team instead');
  end if;
  shape := private.member_json(tm);
  delete from public.team_members where team_id = tm.team_id and account_id = tm.account_id;
  return private.ok(shape);
end $$;
revoke all on function public.hangar_remove_team_member(uuid, uuid) from public, anon;
grant execute on function public.hangar_remove_team_member(uuid, uuid) to authenticated, service_role;
