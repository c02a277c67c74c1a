// The `teams` function (API.md §7): a team's life (create, list with my role, read,
// rename, delete), its members (invited by email, wallet or account id and accepting;
// removed by the owner; leaving), the owner-only rules (403 for a member, 404 for anyone
// else), and the bodies, paths and methods it refuses. Invitations themselves (consent,
// expiry, limits, no oracle) are in invitations.test.mjs. Every user and team here is the
// test's own.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ok, fails, signIn } from '../lib/api.mjs';
import { rows, value } from '../lib/machines.mjs';
import {
  teams, newTeam, addMember, invite, removeMember, teamWith, emailUser, walletUser, assertTeam, assertMember,
} from '../lib/teams.mjs';

let owner, ann, bob;
before(async () => { [owner, ann, bob] = await Promise.all([signIn(), signIn(), signIn()]); });

const members = async (user, teamId) => ok(await teams(user, { path: `/${teamId}/members` })).members.map(assertMember);
const mine = async (user) => ok(await teams(user)).teams.map(assertTeam);

test('POST creates a team (trimmed name) owned by the caller, who is its one member; GET lists it with the role', async () => {
  const team = ok(await teams(owner, { body: { name: '  Core ops  ' } }), 201);
  assertTeam(team);
  assert.deepEqual({ name: team.name, role: team.role, memberCount: team.memberCount, machineCount: team.machineCount },
    { name: 'Core ops', role: 'owner', memberCount: 1, machineCount: 0 });
  const [row] = await rows`select * from teams where id = ${team.id}`;
  assert.equal(row.owner_id, owner.user.id, 'owner_id is the caller');
  assert.deepEqual(await rows`select account_id, role from team_members where team_id = ${team.id}`,
    [{ account_id: owner.user.id, role: 'owner' }], 'the owner has a member row with role owner');

  const listed = (await mine(owner)).find((t) => t.id === team.id);
  assert.deepEqual(listed, team, 'GET teams lists it as POST answered it');
  assert.deepEqual(ok(await teams(owner, { path: `/${team.id}` })), team, 'GET teams/{id}');
  const list = await members(owner, team.id);
  assert.equal(list.length, 1, JSON.stringify(list));
  const { joinedAt, ...me } = list[0];
  assert.deepEqual(me, { accountId: owner.user.id, displayName: owner.user.displayName, identifier: owner.user.identifier, role: 'owner' });
  assert.ok(Date.parse(joinedAt) >= Date.parse(team.createdAt), 'joinedAt is when the team was made');
});

test('members are invited by account id, by email and by wallet (any case) and join; each sees the team with role member', async () => {
  const [byEmail, byWallet] = await Promise.all([emailUser(), walletUser()]);
  const team = await newTeam(owner);
  const added = [
    await addMember(owner, team.id, ann),
    await addMember(owner, team.id, byEmail, ` ${byEmail.user.identifier.toUpperCase()} `),
    await addMember(owner, team.id, byWallet, byWallet.user.identifier.toLowerCase()),
  ];
  assert.deepEqual(added.map((m) => [m.accountId, m.role, m.identifier]), [
    [ann.user.id, 'member', ann.user.identifier],
    [byEmail.user.id, 'member', byEmail.user.identifier],
    [byWallet.user.id, 'member', byWallet.user.identifier],
  ]);
  const list = await members(byWallet, team.id);
  assert.deepEqual(list.map((m) => [m.accountId, m.role]),
    [[owner.user.id, 'owner'], ...added.map((m) => [m.accountId, 'member'])], 'the owner first, then by joining');
  for (const u of [ann, byEmail, byWallet]) {
    const t = (await mine(u)).find((x) => x.id === team.id);
    assert.ok(t, 'the member lists the team');
    assert.equal(t.role, 'member');
    assert.equal(t.memberCount, 4);
  }
});

test('inviting: bad bodies are 400 naming the field and change nothing', async () => {
  const team = await teamWith(owner, ann);
  const count = () => value`select count(*)::int from team_members where team_id = ${team.id}`;
  const invitations = () => value`select count(*)::int from team_invitations where team_id = ${team.id}`;
  for (const identifier of ['a b@example.com', 'x'.repeat(321), ' ']) {
    fails(await invite(owner, team.id, identifier), 400, 'validation_error', 'identifier');
  }
  fails(await teams(owner, { path: `/${team.id}/members`, body: {} }), 400, 'validation_error', 'identifier');
  fails(await teams(owner, { path: `/${team.id}/members`, body: { identifier: '' } }), 400, 'validation_error', 'identifier');
  fails(await teams(owner, { path: `/${team.id}/members`, body: { identifier: 5 } }), 400, 'validation_error', 'identifier');
  fails(await teams(owner, { path: `/${team.id}/members`, body: { identifier: bob.user.id, role: 'owner' } }), 400, 'validation_error', 'role');
  assert.equal(await count(), 2);
  assert.equal(await invitations(), 0);
});

test('owner-only: a member cannot rename, delete, add or remove others (403); a stranger gets 404 for all of it', async () => {
  const team = await teamWith(owner, ann, bob);
  const stranger = await signIn();
  const attempts = (u) => [
    ['rename', teams(u, { path: `/${team.id}`, method: 'PATCH', body: { name: 'taken over' } })],
    ['delete', teams(u, { path: `/${team.id}`, method: 'DELETE' })],
    ['invite', invite(u, team.id, stranger.user.id)],
    ['remove another', removeMember(u, team.id, bob.user.id)],
    ['remove the owner', removeMember(u, team.id, owner.user.id)],
  ];
  for (const [, p] of attempts(ann)) fails(await p, 403, 'forbidden');
  for (const [, p] of attempts(stranger)) fails(await p, 404, 'not_found');
  fails(await teams(stranger, { path: `/${team.id}` }), 404, 'not_found');
  fails(await teams(stranger, { path: `/${team.id}/members` }), 404, 'not_found');
  fails(await removeMember(stranger, team.id, stranger.user.id), 404, 'not_found');
  assert.ok(!(await mine(stranger)).some((t) => t.id === team.id), 'not in the stranger\'s list');
  const [row] = await rows`select name from teams where id = ${team.id}`;
  assert.equal(row.name, team.name, 'the name is unchanged');
  assert.equal(await value`select count(*)::int from team_members where team_id = ${team.id}`, 3, 'the members are unchanged');
  assert.equal(await value`select count(*)::int from team_invitations where team_id = ${team.id}`, 0, 'nobody was invited');
});

test('the owner renames (PATCH) and removes members; a member leaves; the owner cannot leave (409)', async () => {
  const team = await teamWith(owner, ann, bob);
  const renamed = ok(await teams(owner, { path: `/${team.id}`, method: 'PATCH', body: { name: ' Renamed ' } }));
  assert.equal(renamed.name, 'Renamed');
  fails(await teams(owner, { path: `/${team.id}`, method: 'PATCH', body: { name: '' } }), 400, 'validation_error', 'name');
  fails(await teams(owner, { path: `/${team.id}`, method: 'PATCH', body: {} }), 400, 'validation_error', 'name');

  const removed = assertMember(ok(await removeMember(owner, team.id, ann.user.id)));
  assert.equal(removed.accountId, ann.user.id);
  fails(await teams(ann, { path: `/${team.id}` }), 404, 'not_found');
  fails(await removeMember(owner, team.id, ann.user.id), 404, 'not_found');

  assert.equal(assertMember(ok(await removeMember(bob, team.id, bob.user.id))).accountId, bob.user.id, 'bob leaves');
  assert.ok(!(await mine(bob)).some((t) => t.id === team.id), 'bob no longer lists it');

  fails(await removeMember(owner, team.id, owner.user.id), 409, 'conflict');
  assert.deepEqual((await members(owner, team.id)).map((m) => m.accountId), [owner.user.id]);
});

test('DELETE by the owner: 200 with the team as it was, then 404 everywhere; its members go with it', async () => {
  const team = await teamWith(owner, ann);
  const gone = ok(await teams(owner, { path: `/${team.id}`, method: 'DELETE' }));
  assertTeam(gone);
  assert.equal(gone.id, team.id);
  for (const u of [owner, ann]) {
    fails(await teams(u, { path: `/${team.id}` }), 404, 'not_found');
    fails(await teams(u, { path: `/${team.id}/members` }), 404, 'not_found');
  }
  fails(await teams(owner, { path: `/${team.id}`, method: 'DELETE' }), 404, 'not_found');
  assert.equal(await value`select count(*)::int from team_members where team_id = ${team.id}`, 0);
});

test('bodies, paths and methods the function refuses (400 naming the field, 404, 405)', async () => {
  const team = await newTeam(owner);
  for (const [body, field] of [[{}, 'name'], [{ name: '' }, 'name'], [{ name: '   ' }, 'name'], [{ name: 'a\nb' }, 'name'],
    [{ name: 'x'.repeat(65) }, 'name'], [{ name: 7 }, 'name'], [{ name: 'a', ownerId: owner.user.id }, 'ownerId']]) {
    fails(await teams(owner, { body }), 400, 'validation_error', field);
  }
  assert.equal(ok(await teams(owner, { body: { name: 'é'.repeat(64) } }), 201).name, 'é'.repeat(64), '64 characters of any script');
  fails(await teams(owner, { path: '/not-a-uuid' }), 400, 'validation_error', 'id');
  fails(await teams(owner, { path: `/${team.id}/members/not-a-uuid`, method: 'DELETE' }), 400, 'validation_error', 'accountId');
  fails(await teams(owner, { path: `/${randomUUID()}` }), 404, 'not_found');
  fails(await teams(owner, { path: `/${team.id}/machines` }), 404, 'not_found');
  const wrong = [['PUT', ''], ['DELETE', ''], ['PATCH', ''], ['POST', `/${team.id}`], ['PATCH', `/${team.id}/members`],
    ['GET', `/${team.id}/members/${owner.user.id}`], ['GET', `/${team.id}/join`], ['POST', '/invitations'],
    ['GET', `/invitations/${randomUUID()}`]];
  for (const [method, path] of wrong) {
    const res = await teams(owner, { path, method, body: method === 'GET' ? undefined : { name: 'x' } });
    fails(res, 405, 'method_not_allowed');
    assert.ok(res.headers.get('allow'), `Allow header for ${method} teams${path}`);
  }
  fails(await teams(null), 401, 'unauthorized');
});
