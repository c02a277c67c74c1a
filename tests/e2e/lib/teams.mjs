// Helpers for the teams tests (API.md §7): the `teams` function by path, invitations and
// joining, a team with its members in one call (each invited and accepting), the Team,
// Member and Invitation shapes, people who signed in with an email or a wallet (their
// `identifier`), and a running team machine.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fn, ok, signIn, UUID_RE } from './api.mjs';
import { newAddress } from './jwt.mjs';
import { createMachine, newName, setBalance } from './machines.mjs';
import { startRunner, waitForStatus } from './runner.mjs';

/** The `teams` function as `user`: teams(user, { path: '/<id>/members', method, body, query }). */
export const teams = (user, { path = '', method, body, query } = {}) =>
  fn(`teams${path}`, { token: user?.accessToken, method, body, query });

/** POST teams as `owner`, asserting 201; returns the Team. */
export async function newTeam(owner, name = newName('team')) {
  const team = ok(await teams(owner, { body: { name } }), 201);
  assertTeam(team);
  assert.equal(team.role, 'owner', 'the creator owns the team');
  return team;
}

/** teams/{id}/members POST as `owner`: an invitation (the response, not asserted). */
export const invite = (owner, teamId, identifier) =>
  teams(owner, { path: `/${teamId}/members`, body: { identifier } });

/** teams/{id}/join POST as `user` (the response, not asserted). */
export const join = (user, teamId) => teams(user, { path: `/${teamId}/join`, method: 'POST' });

/** teams/invitations GET as `user`: the invitations of the first page (asserted 200). */
export const myInvitations = async (user, query) =>
  ok(await teams(user, { path: '/invitations', query })).invitations.map(assertInvitation);

/** teams/invitations/{id} DELETE as `user` (the response, not asserted). */
export const deleteInvitation = (user, id) => teams(user, { path: `/invitations/${id}`, method: 'DELETE' });

/** `owner` invites `member` (by account id unless `identifier`) and `member` accepts; the Member. */
export async function addMember(owner, teamId, member, identifier = member.user.id) {
  const invitation = ok(await invite(owner, teamId, identifier), 202).invitation;
  assertInvitation(invitation, { asOwner: true });
  const joined = assertMember(ok(await join(member, teamId)));
  assert.equal(joined.accountId, member.user.id, 'the one who accepted joins');
  return joined;
}

/** teams/{id}/members/{accountId} DELETE as `user` (the response, not asserted). */
export const removeMember = (user, teamId, accountId) =>
  teams(user, { path: `/${teamId}/members/${accountId}`, method: 'DELETE' });

/** A team owned by `owner` with `members`, each invited by account id and accepting; the Team. */
export async function teamWith(owner, ...members) {
  const team = await newTeam(owner);
  for (const m of members) await addMember(owner, team.id, m);
  return team;
}

/** Someone who signed in with an email (their identifier). */
export const emailUser = () => signIn({ linkedAccounts: [{ type: 'email', address: `t${randomBytes(5).toString('hex')}@example.com` }] });

/** Someone who signed in with a wallet (a mixed-case address). */
export const walletUser = () => signIn({ linkedAccounts: [{ type: 'wallet', address: newAddress(), chain_type: 'ethereum' }] });

/** A machine `creator` makes in `teamId`, once the stack's runner has it running. */
export async function runningTeamMachine(creator, teamId, body = {}) {
  await startRunner(); // a no-op when it runs; an earlier file may have left it down
  const m = await createMachine(creator, { teamId, ...body });
  assert.equal(m.teamId, teamId, 'the machine is in the team');
  return waitForStatus(creator, m.id, 'running', { timeoutMs: 30000 });
}

/** Credits enough that no test here is refused for money (money is not the subject). */
export const rich = (...users) => Promise.all(users.map((u) => setBalance(u.user.id, 100000)));

const isDate = (v) => typeof v === 'string' && !Number.isNaN(Date.parse(v));

export const TEAM_KEYS = ['id', 'name', 'role', 'memberCount', 'machineCount', 'createdAt'];
export const MEMBER_KEYS = ['accountId', 'displayName', 'identifier', 'role', 'joinedAt'];
export const INVITATION_KEYS = ['id', 'teamId', 'identifier', 'createdAt', 'expiresAt'];

/** The Team shape of API.md §7. */
export function assertTeam(t) {
  assert.deepEqual(Object.keys(t).sort(), [...TEAM_KEYS].sort(), JSON.stringify(t));
  assert.match(t.id, UUID_RE, 'id');
  assert.equal(typeof t.name, 'string', 'name');
  assert.ok(['owner', 'member'].includes(t.role), `role ${t.role}`);
  assert.ok(Number.isInteger(t.memberCount) && t.memberCount >= 1, `memberCount ${t.memberCount}`);
  assert.ok(Number.isInteger(t.machineCount) && t.machineCount >= 0, `machineCount ${t.machineCount}`);
  assert.ok(isDate(t.createdAt), 'createdAt');
  return t;
}

/** The Member shape of API.md §7. */
export function assertMember(m) {
  assert.deepEqual(Object.keys(m).sort(), [...MEMBER_KEYS].sort(), JSON.stringify(m));
  assert.match(m.accountId, UUID_RE, 'accountId');
  assert.ok(m.displayName === null || typeof m.displayName === 'string', 'displayName');
  assert.ok(m.identifier === null || typeof m.identifier === 'string', 'identifier');
  assert.ok(['owner', 'member'].includes(m.role), `role ${m.role}`);
  assert.ok(isDate(m.joinedAt), 'joinedAt');
  return m;
}

/** The Invitation of API.md §7: as its owner sees it, or (the default) in the invitee's list,
 * with the team's name and the inviter's display name. */
export function assertInvitation(i, { asOwner = false } = {}) {
  const keys = asOwner ? INVITATION_KEYS : [...INVITATION_KEYS, 'teamName', 'inviterName'];
  assert.deepEqual(Object.keys(i).sort(), [...keys].sort(), JSON.stringify(i));
  assert.match(i.id, UUID_RE, 'id');
  assert.match(i.teamId, UUID_RE, 'teamId');
  assert.equal(typeof i.identifier, 'string', 'identifier');
  assert.ok(isDate(i.createdAt) && isDate(i.expiresAt), 'createdAt, expiresAt');
  assert.equal(Date.parse(i.expiresAt) - Date.parse(i.createdAt), 7 * 24 * 3600 * 1000, 'expires after 7 days');
  if (!asOwner) assert.equal(typeof i.teamName, 'string', 'teamName');
  return i;
}
