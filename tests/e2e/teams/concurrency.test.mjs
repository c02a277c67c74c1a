// Concurrency in a team (API.md §3, §7): members acting on one team machine at once still
// produce exactly one job per transition (the machine's row lock, whoever asks); inviting
// the same account at once makes one invitation, and accepting it at once joins once; a
// team's delete racing creates into it either
// counts the new machine (409) or leaves the create a 400 on `teamId`, never a team
// deleted under a live machine.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { ok, show, signIn } from '../lib/api.mjs';
import { act, createRaw, rows, setMachineLimit, value } from '../lib/machines.mjs';
import { waitForStatus } from '../lib/runner.mjs';
import { teams, teamWith, newTeam, invite, join, runningTeamMachine, rich } from '../lib/teams.mjs';

let owner, m1, m2, m3;
before(async () => {
  [owner, m1, m2, m3] = await Promise.all([signIn(), signIn(), signIn(), signIn()]);
  await rich(owner, m1, m2, m3);
  await setMachineLimit(m1.user.id, 100); // the race below makes up to 15 machines (not the subject)
});

/** `n` concurrent `action`s on one machine, spread over `users`; the new jobs and the answers. */
async function storm(users, action, machineId, n) {
  const since = await value`select clock_timestamp()`;
  const responses = await Promise.all(Array.from({ length: n }, (_, i) => act(users[i % users.length], action, machineId)));
  const jobs = await rows`select id, action from jobs where machine_id = ${machineId} and created_at >= ${since}`;
  return { responses, jobs };
}

test('20 concurrent stops, then 20 concurrent starts, from four members of the team: one job per transition', { timeout: 120000 }, async () => {
  const team = await teamWith(owner, m1, m2, m3);
  const m = await runningTeamMachine(m1, team.id);
  const users = [owner, m1, m2, m3];
  for (const [action, job, settled] of [['stop', 'stop', 'stopped'], ['start', 'start', 'running']]) {
    const { responses, jobs } = await storm(users, action, m.id, 20);
    for (const r of responses) assert.ok([200, 202].includes(r.status), `${action}: every answer 200 or 202: ${show(r)}`);
    assert.equal(responses.filter((r) => r.status === 202).length, 1, `${action}: exactly one 202 (${responses.map((r) => r.status).join(',')})`);
    assert.deepEqual(jobs.map((j) => j.action), [job], `${action}: exactly one new job`);
    await waitForStatus(m2, m.id, settled, { timeoutMs: 30000 });
  }
});

test('a member\'s 403s in the storm change nothing: 10 deletes by members and 10 stops leave one stop job', { timeout: 60000 }, async () => {
  const team = await teamWith(owner, m1, m2);
  const m = await runningTeamMachine(m1, team.id);
  const since = await value`select clock_timestamp()`;
  const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => act(m2, i % 2 ? 'stop' : 'delete', m.id)));
  const deletes = responses.filter((_, i) => !(i % 2));
  for (const r of deletes) assert.equal(r.status, 403, show(r));
  assert.equal(responses.filter((r) => r.status === 202).length, 1, responses.map((r) => r.status).join(','));
  const jobs = await rows`select action from jobs where machine_id = ${m.id} and created_at >= ${since}`;
  assert.deepEqual(jobs.map((j) => j.action), ['stop']);
});

test('10 concurrent invitations of one account make one invitation; 10 concurrent joins: one 200, the rest 404', async () => {
  const team = await newTeam(owner);
  const joiner = await signIn();
  const invited = await Promise.all(Array.from({ length: 10 }, () => invite(owner, team.id, joiner.user.id)));
  assert.deepEqual(invited.map((r) => r.status), Array(10).fill(202), invited.map(show).join('\n'));
  assert.equal(new Set(invited.map((r) => r.json.data.invitation.id)).size, 1, 'the same invitation each time');
  assert.equal(await value`select count(*)::int from team_invitations where team_id = ${team.id}`, 1);
  const joins = await Promise.all(Array.from({ length: 10 }, () => join(joiner, team.id)));
  assert.deepEqual(joins.map((r) => r.status).sort(), [200, ...Array(9).fill(404)], joins.map(show).join('\n'));
  assert.equal((await rows`select 1 from team_members where team_id = ${team.id} and account_id = ${joiner.user.id}`).length, 1);
  assert.equal(await value`select count(*)::int from team_invitations where team_id = ${team.id}`, 0, 'the invitation is spent');
});

test('a team\'s delete racing creates into it: a team is never deleted under a live machine', { timeout: 60000 }, async () => {
  for (let round = 0; round < 5; round++) {
    const team = await teamWith(owner, m1);
    const [del, ...creates] = await Promise.all([
      teams(owner, { path: `/${team.id}`, method: 'DELETE' }),
      ...Array.from({ length: 3 }, () => createRaw(m1, { teamId: team.id })),
    ]);
    const made = creates.filter((r) => r.status === 201).map((r) => r.json.data.id);
    for (const r of creates) {
      assert.ok(r.status === 201 || (r.status === 400 && r.json.details?.field === 'teamId'), `create: ${show(r)}`);
    }
    if (del.status === 200) {
      assert.deepEqual(made, [], 'the team was deleted, so no create landed in it');
    } else {
      assert.equal(del.status, 409, show(del));
      assert.ok(made.length >= 1, 'the delete saw a live machine');
      const kept = await rows`select team_id from machines where id = any(${made}::uuid[])`;
      assert.deepEqual(kept.map((r) => r.team_id), made.map(() => team.id), 'the machines are still in the team');
    }
    const orphans = await rows`select m.id from machines m where m.owner_id = ${m1.user.id} and m.team_id is null and m.status <> 'terminated'
      and exists (select 1 from jobs j where j.machine_id = m.id)`;
    assert.deepEqual(orphans, [], 'no live machine lost its team');
    // Leave nothing running for the next round.
    await Promise.all(made.map((id) => act(m1, 'delete', id)));
  }
});
