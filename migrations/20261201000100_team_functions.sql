-- The `teams` function (API.md §7): a caller's teams, creating, renaming and deleting one,
-- its members (list, remove or leave), and invitations (invite by email / wallet / account
-- id, list mine, join, decline or withdraw): nobody becomes a member without accepting.
-- One SQL function per request. All are SECURITY DEFINER and check the caller's role
-- themselves (private.team_role): teams, team_members and team_invitations are written
-- nowhere else, and a Member shows other accounts' display names and identifiers, which
-- accounts' RLS hides. A team that is not the caller's is 404 (never 403); a member asking
-- for an owner's action is 403 `forbidden`.

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

-- teams GET: {teams: Team[], next}, the caller's, newest first, in keyset pages
-- (private.keyset_page) after the cursor.
create or replace function public.hangar_list_teams(p_limit int default null, p_cursor_ts timestamptz default null, p_cursor_id uuid default null)
returns jsonb
language sql stable security definer set search_path = '' as $$
  select private.ok(private.keyset_page('teams', array(
    select row(private.team_json(t, tm.role), t.created_at, t.id)::private.page_item
    from public.team_members tm
    join public.teams t on t.id = tm.team_id
    where tm.account_id = auth.uid()
      and (p_cursor_ts is null or (t.created_at, t.id) < (p_cursor_ts, p_cursor_id))
    order by t.created_at desc, t.id desc
    limit private.page_size(p_limit) + 1), private.page_size(p_limit)))
$$;
revoke all on function public.hangar_list_teams(int, timestamptz, uuid) from public, anon;
grant execute on function public.hangar_list_teams(int, timestamptz, uuid) to authenticated, service_role;

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

-- teams POST: a team owned by the caller, who is its first member (role owner), at most
-- max_teams_owned_per_account of them (403 quota_exceeded). Makes a Supabase Auth caller's
-- account first, which both rows refer to; its row lock makes the count exact.
create or replace function public.hangar_create_team(p_name text default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  uid pg_catalog.uuid := auth.uid();
  refusal pg_catalog.jsonb := private.team_name_refusal(p_name);
  t public.teams;
  limit_count bigint := private.setting('max_teams_owned_per_account');
  current_count bigint;
begin
  if uid is null then
    return private.refuse('invalid_token', 'No caller');
  end if;
  if refusal is not null then
    return refusal;
  end if;
  perform private.ensure_account();
  perform 1 from public.accounts where id = uid for update;
  if not found then
    return private.refuse('not_found', 'Account not found');
  end if;
  select count(*) into current_count from public.teams where owner_id = uid;
  if current_count >= limit_count then
    return private.refuse('quota_exceeded', format('An account may own at most %s teams', limit_count),
      jsonb_build_object('limit', limit_count, 'current', current_count));
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

-- The identifiers an invitation to p_uid may name, lowercased: the account's id and the
-- email or wallet address it signs in with (accounts.identifier).
create or replace function private.my_identifiers(p_uid uuid) returns text[]
language sql stable set search_path = '' as $$
  select array_remove(array[lower(p_uid::pg_catalog.text), (select lower(a.identifier) from public.accounts a where a.id = p_uid)], null)
$$;
revoke all on function private.my_identifiers(uuid) from public, anon, authenticated;

-- An invitation as its team's owner sees it: {id, teamId, identifier (as typed), createdAt,
-- expiresAt}. Nothing of the account it may name.
create or replace function private.invitation_json(i public.team_invitations) returns jsonb
language sql stable set search_path = '' as $$
  select jsonb_build_object('id', i.id, 'teamId', i.team_id, 'identifier', i.identifier,
    'createdAt', private.ts(i.created_at), 'expiresAt', private.ts(i.expires_at))
$$;
revoke all on function private.invitation_json(public.team_invitations) from public, anon, authenticated;

-- teams/{id}/members POST {identifier}: the owner invites an account id, an email or a
-- wallet address. The answer is the same whether the identifier names an account, several
-- or none (API.md §7: no oracle of who has an account): the invitation, a new one or the
-- one already pending for that identifier (case-insensitive). At most
-- max_pending_invitations_per_team pending (403 quota_exceeded); expired ones are dropped
-- first. The team row is locked FOR NO KEY UPDATE: invitations to one team are counted one
-- at a time, and an invitation racing the team's delete finds no team.
create or replace function public.hangar_invite_team_member(p_team_id uuid default null, p_identifier text default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  t public.teams;
  my_role pg_catalog.text := private.team_role(p_team_id, auth.uid());
  ident pg_catalog.text := btrim(p_identifier);
  i public.team_invitations;
  limit_count bigint := private.setting('max_pending_invitations_per_team');
  current_count bigint;
  refusal pg_catalog.jsonb;
begin
  select * into t from public.teams where id = p_team_id for no key update;
  refusal := private.team_refusal(found, my_role, 'invite members');
  if refusal is not null then
    return refusal;
  end if;
  if ident is null or char_length(ident) not between 1 and 320 or ident ~ '[[:space:][:cntrl:]]' then
    return private.refuse('validation_error', '`identifier` must be an email, a wallet address or an account id',
      jsonb_build_object('field', 'identifier'));
  end if;
  delete from public.team_invitations where team_id = t.id and expires_at <= now();
  select * into i from public.team_invitations where team_id = t.id and lower(identifier) = lower(ident);
  if not found then
    select count(*) into current_count from public.team_invitations where team_id = t.id;
    if current_count >= limit_count then
      return private.refuse('quota_exceeded', format('A team may have at most %s pending invitations', limit_count),
        jsonb_build_object('limit', limit_count, 'current', current_count));
    end if;
    insert into public.team_invitations (team_id, identifier, invited_by) values (t.id, ident, auth.uid())
    returning * into i;
  end if;
  return private.ok(jsonb_build_object('invitation', private.invitation_json(i)));
end $$;
revoke all on function public.hangar_invite_team_member(uuid, text) from public, anon;
grant execute on function public.hangar_invite_team_member(uuid, text) to authenticated, service_role;

-- teams/invitations GET: {invitations, next}, the caller's pending invitations (not
-- expired, to teams they are not in), newest first, in keyset pages like hangar_list_teams;
-- each with the team's name and the inviter's display name. Makes a Supabase Auth
-- caller's account first, whose identifier (their email) invitations may name.
create or replace function public.hangar_list_team_invitations(p_limit int default null, p_cursor_ts timestamptz default null, p_cursor_id uuid default null)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  uid pg_catalog.uuid := auth.uid();
  mine pg_catalog.text[];
begin
  if uid is null then
    return private.refuse('invalid_token', 'No caller');
  end if;
  perform private.ensure_account();
  mine := private.my_identifiers(uid);
  return private.ok(private.keyset_page('invitations', array(
    select row(private.invitation_json(i) || jsonb_build_object('teamName', t.name, 'inviterName', a.display_name),
      i.created_at, i.id)::private.page_item
    from public.team_invitations i
    join public.teams t on t.id = i.team_id
    left join public.accounts a on a.id = i.invited_by
    where lower(i.identifier) = any (mine) and i.expires_at > now()
      and not exists (select 1 from public.team_members tm where tm.team_id = i.team_id and tm.account_id = uid)
      and (p_cursor_ts is null or (i.created_at, i.id) < (p_cursor_ts, p_cursor_id))
    order by i.created_at desc, i.id desc
    limit private.page_size(p_limit) + 1), private.page_size(p_limit)));
end $$;
revoke all on function public.hangar_list_team_invitations(int, timestamptz, uuid) from public, anon;
grant execute on function public.hangar_list_team_invitations(int, timestamptz, uuid) to authenticated, service_role;

-- teams/{id}/join POST: the caller accepts their pending invitation to the team and joins
-- it as a member; every invitation of theirs to it is spent. None (or only expired ones):
-- 404, as for a team that does not exist. One who is already a member gets their Member.
-- The team row is read FOR KEY SHARE, so a join racing the team's delete finds no team.
create or replace function public.hangar_join_team(p_team_id uuid default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  uid pg_catalog.uuid := auth.uid();
  mine pg_catalog.text[];
  spent int;
  tm public.team_members;
begin
  if uid is null then
    return private.refuse('invalid_token', 'No caller');
  end if;
  perform private.ensure_account();
  mine := private.my_identifiers(uid);
  perform 1 from public.teams where id = p_team_id for key share;
  delete from public.team_invitations
    where team_id = p_team_id and lower(identifier) = any (mine) and expires_at > now();
  get diagnostics spent = row_count;
  if spent = 0 then
    return private.refuse('not_found', 'No pending invitation to this team');
  end if;
  insert into public.team_members (team_id, account_id, role) values (p_team_id, uid, 'member')
  on conflict (team_id, account_id) do nothing;
  select * into tm from public.team_members where team_id = p_team_id and account_id = uid;
  return private.ok(private.member_json(tm));
end $$;
revoke all on function public.hangar_join_team(uuid) from public, anon;
grant execute on function public.hangar_join_team(uuid) to authenticated, service_role;

-- teams/invitations/{id} DELETE: the invitee declines, or the team's owner withdraws it.
-- Anyone else: 404. Answers the invitation as it was.
create or replace function public.hangar_delete_team_invitation(p_invitation_id uuid default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  uid pg_catalog.uuid := auth.uid();
  i public.team_invitations;
begin
  select * into i from public.team_invitations where id = p_invitation_id for update;
  if not found or not (lower(i.identifier) = any (private.my_identifiers(uid))
      or coalesce(private.team_role(i.team_id, uid) = 'owner', false)) then
    return private.refuse('not_found', 'Invitation not found');
  end if;
  delete from public.team_invitations where id = i.id;
  return private.ok(private.invitation_json(i));
end $$;
revoke all on function public.hangar_delete_team_invitation(uuid) from public, anon;
grant execute on function public.hangar_delete_team_invitation(uuid) to authenticated, service_role;

-- What leaving a team takes away (API.md §7), in the transaction that removes p_account's
-- member row from p_team (locked FOR UPDATE by the caller, which waits for the creates
-- into the team under way): their machines in the team leave it with them (team_id and
-- project_id null: still theirs and billed to them, nobody else's to act on), the
-- projects they made in the team pass to its owner (no creator role stays inside), and
-- every key that may no longer reach a machine comes off it: theirs on the team's
-- machines, the others' on the machines that left (private.prune_machine_ssh_keys, with
-- authorize_keys jobs). Team secrets stop reaching the machines that left with team_id.
-- The machines are locked in id order, as every transition locks them, after the
-- projects. Answers the authorize_keys jobs to hand over.
create or replace function private.leave_team(p_team uuid, p_account uuid) returns jsonb
language plpgsql set search_path = '' as $$
declare
  affected pg_catalog.uuid[];
  team_owner pg_catalog.uuid := (select owner_id from public.teams where id = p_team);
begin
  -- Projects before machines: the order hangar_delete_project locks them in.
  update public.projects set owner_id = team_owner where team_id = p_team and owner_id = p_account;
  select coalesce(array_agg(l.id order by l.id), '{}') into affected from (
    select m.id from public.machines m where m.team_id = p_team and m.status <> 'terminated'
    order by m.id for update) l;
  insert into public.machine_events (machine_id, owner_id, event_type, details, source)
  select m.id, m.owner_id, 'machine.left_team', jsonb_build_object('teamId', p_team), 'system'
  from public.machines m where m.team_id = p_team and m.owner_id = p_account and m.status <> 'terminated';
  update public.machines set team_id = null, project_id = null where team_id = p_team and owner_id = p_account;
  return private.prune_machine_ssh_keys(affected);
end $$;
revoke all on function private.leave_team(uuid, uuid) from public, anon, authenticated;

-- teams/{id}/members/{accountId} DELETE: the owner removes a member, or a member leaves.
-- The owner cannot leave a team they own (409: delete the team instead); a member removing
-- someone else is 403. Access ends with the row and private.leave_team, in one
-- transaction. Answers {member, deliveries}: the Member as it was, and the authorize_keys
-- jobs for the Worker to hand to the runner.
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
  -- The team row first (FOR UPDATE waits for the creates into it that hold FOR KEY SHARE).
  perform 1 from public.teams where id = p_team_id for update;
  select * into tm from public.team_members where team_id = p_team_id and account_id = p_account_id for update;
  if not found then
    return private.refuse('not_found', 'Member not found');
  end if;
  if tm.role = 'owner' then
    return private.refuse('conflict', 'The owner cannot leave the team: delete the team instead');
  end if;
  shape := private.member_json(tm);
  delete from public.team_members where team_id = tm.team_id and account_id = tm.account_id;
  return private.ok(jsonb_build_object('member', shape, 'deliveries', private.leave_team(tm.team_id, tm.account_id)));
end $$;
revoke all on function public.hangar_remove_team_member(uuid, uuid) from public, anon;
grant execute on function public.hangar_remove_team_member(uuid, uuid) to authenticated, service_role;
