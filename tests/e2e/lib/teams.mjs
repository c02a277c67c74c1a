// Helpers for the teams tests (API.md §7): the `teams` function by path, a team with its
// members in one call, the Team and Member shapes, people who signed in with an email or
// a wallet (their `identifier`), and a running team machine.
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

/** teams/{id}/members POST as `owner` (the response, not asserted). */
export const addMember = (owner, teamId, identifier) =>
  teams(owner, { path: `/${teamId}/members`, body: { identifier } });

/** teams/{id}/members/{accountId} DELETE as `user` (the response, not asserted). */
export const removeMember = (user, teamId, accountId) =>
  teams(user, { path: `/${teamId}/members/${accountId}`, method: 'DELETE' });

/** A team owned by `owner` with `members` added by account id; returns the Team. */
export async function teamWith(owner, ...members) {
  const team = await newTeam(owner);
  for (const m of members) assertMember(ok(await addMember(owner, team.id, m.user.id), 201));
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
