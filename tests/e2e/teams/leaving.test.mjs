// Leaving a team (API.md §7; defects 1, 2 and 10 of issue 15): when a member is removed or
// leaves, in the same transaction, their machines in the team leave it with them (teamId
// and projectId null; still theirs and billed to them; nobody of the team acts on them),
// the projects they made in the team pass to its owner (no creator role stays inside), and
// every SSH key that may no longer reach a machine comes off it: theirs on the team's
// other machines, the team's on the machines that left, each running machine with an
// authorize_keys job whose payload lacks the key, each machine on its way to running with
// one when it arrives. Both ways (the owner removes, the member leaves) and both paths
// (the function, PostgREST's /rpc).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { fn, ok, fails, show, signIn, sleep } from '../lib/api.mjs';
import { act, asUser, getStatus, machineRow, rows, sql, value } from '../lib/machines.mjs';
import { waitForJob } from '../lib/runner.mjs';
import { newProject } from '../lib/projects.mjs';
import { meter, chargedTo } from '../lib/billing.mjs';
import { keyOf, authorizeJobs, payloadOf, machineInTransit, arrive } from '../lib/ssh-keys.mjs';
import { teamWith, removeMember, runningTeamMachine, rich } from '../lib/teams.mjs';

let owner, other;
before(async () => {
  [owner, other] = await Promise.all([signIn(), signIn()]);
  await rich(owner, other);
});

const update = (user, body) => fn('update-machine', { token: user.accessToken, method: 'PATCH', body });

/** The keys a machine has as lines, in order (what its next authorize_keys installs). */
const keyLines = async (machineId) => (await rows`select k.public_key from machine_ssh_keys mk join ssh_keys k on k.id = mk.ssh_key_id
  where mk.machine_id = ${machineId} order by mk.position`).map((r) => r.public_key);

const ways = [
  ['the owner removes the member (function)', (team, leaver) => removeMember(owner, team.id, leaver.user.id)],
  ['the member leaves (function)', (team, leaver) => removeMember(leaver, team.id, leaver.user.id)],
  ['the owner removes the member (/rpc)', (team, leaver) => asUser(owner, '/rpc/hangar_remove_team_member', { method: 'POST', body: { p_team_id: team.id, p_account_id: leaver.user.id } })],
  ['the member leaves (/rpc)', (team, leaver) => asUser(leaver, '/rpc/hangar_remove_team_member', { method: 'POST', body: { p_team_id: team.id, p_account_id: leaver.user.id } })],
];

for (const [way, leave] of ways) {
  test(`${way}: their machines leave with them, their keys leave the team's machines, no creator role stays`, { timeout: 120000 }, async () => {
    const leaver = await signIn();
    await rich(leaver);
    const team = await teamWith(owner, leaver, other);
    const project = await newProject(leaver, { teamId: team.id });
    const [kLeaver, kOwner, kOther] = [await keyOf(leaver), await keyOf(owner), await keyOf(other)];
    // The leaver's machine, in their team project; the owner's keys pinned on it.
    const mine = await runningTeamMachine(leaver, team.id, { projectId: project.id });
    // The owner's machine, with the leaver's key pinned (update-machine: a running machine
    // gets it through authorize_keys), and the other member's machine with both.
    const ownerMachine = await runningTeamMachine(owner, team.id);
    ok(await update(leaver, { machineId: ownerMachine.id, sshKeyIds: [kLeaver.id] }));
    ok(await update(owner, { machineId: mine.id, sshKeyIds: [kOwner.id] }));
    // On its way to running, with the leaver's key (its start job already carried it).
    const transit = await machineInTransit(other, 'starting', { teamId: team.id, keys: [kOther, kLeaver] });
    for (const id of [ownerMachine.id, mine.id]) {
      for (const j of await authorizeJobs(id)) await waitForJob(owner, j.id, { timeoutMs: 30000 });
    }
    const before = { mine: (await authorizeJobs(mine.id)).length, ownerMachine: (await authorizeJobs(ownerMachine.id)).length };

    const res = await leave(team, leaver);
    assert.equal(res.status, 200, show(res));
    if (way.endsWith('(function)')) {
      assert.deepEqual([res.json.data.accountId, res.json.data.role], [leaver.user.id, 'member'], 'the Member as it was');
    } else {
      assert.equal(res.json.ok, true, show(res));
    }

    // Their machine left the team with them: still theirs, out of the team's project.
    const row = await machineRow(mine.id);
    assert.deepEqual([row.owner_id, row.team_id, row.project_id, row.status], [leaver.user.id, null, null, 'running']);
    for (const u of [owner, other]) {
      fails(await getStatus(u, mine.id), 404, 'not_found');
      fails(await act(u, 'stop', mine.id), 404, 'not_found');
      fails(await update(u, { machineId: mine.id, tier: 'dev.xlarge' }), 404, 'not_found');
      const listed = await asUser(u, `/machines?id=eq.${mine.id}`);
      assert.deepEqual(listed.json, [], `PostgREST: ${show(listed)}`);
    }
    assert.equal(ok(await getStatus(leaver, mine.id)).teamId, null, 'the leaver still has it');
    // Still billed to them (defect 10: the owner cannot run up their bill; nobody else can start it).
    await meter(new Date(Date.now() + 5 * 3600_000), leaver.user.id); // dev.small: 600/730 cents an hour
    assert.ok(await chargedTo(mine.id) > 0, 'charged');
    assert.equal(Number(await value`select count(*) from billing_records where machine_id = ${mine.id} and account_id <> ${leaver.user.id}`), 0);

    // The owner's key came off the leaver's machine, the leaver's off the owner's: each
    // running one has a new authorize_keys job without it, which the runner ran.
    assert.deepEqual(await keyLines(mine.id), []);
    assert.deepEqual(await keyLines(ownerMachine.id), []);
    for (const [id, was, reader] of [[mine.id, before.mine, leaver], [ownerMachine.id, before.ownerMachine, owner]]) {
      const jobs = await authorizeJobs(id);
      assert.equal(jobs.length, was + 1, `one new authorize_keys job on ${id}`);
      const newest = jobs.at(-1);
      const payload = await payloadOf(newest.id);
      for (const gone of [kLeaver, kOwner]) assert.ok(!payload.machine.sshAuthorizedKeys.includes(gone.line), 'the payload lacks the key');
      if (way.endsWith('(function)')) {
        // Handed over by the function: the stack's runner installed what is left.
        assert.deepEqual((await waitForJob(reader, newest.id, { timeoutMs: 30000 })).result.sshAuthorizedKeys, []);
      }
    }
    // The machine on its way: the leaver's key is off its choice; it gets its job on arrival.
    assert.deepEqual(await keyLines(transit.id), [kOther.line]);
    assert.deepEqual(await authorizeJobs(transit.id), []);
    await arrive(transit.jobId);
    const [onArrival] = await authorizeJobs(transit.id);
    assert.ok(onArrival, 'an authorize_keys job on arrival');
    assert.deepEqual((await payloadOf(onArrival.id)).machine.sshAuthorizedKeys, [kOther.line]);
    assert.deepEqual((await waitForJob(other, onArrival.id, { timeoutMs: 30000 })).result.sshAuthorizedKeys, [kOther.fingerprint]);

    // The team project the leaver made is the owner's now; the leaver has no role on it.
    assert.equal((await rows`select owner_id from projects where id = ${project.id}`)[0].owner_id, owner.user.id);
    fails(await fn(`projects/${project.id}`, { token: leaver.accessToken }), 404, 'not_found');
    fails(await fn(`projects/${project.id}`, { token: leaver.accessToken, method: 'PATCH', body: { name: 'mine' } }), 404, 'not_found');
    // The leaver pins no key on the team's machines any more (404), and their machine takes
    // no key of the team's.
    fails(await update(leaver, { machineId: ownerMachine.id, sshKeyIds: [kLeaver.id] }), 404, 'not_found');
    fails(await update(owner, { machineId: mine.id, sshKeyIds: [kOwner.id] }), 404, 'not_found');

    await sql`update machines set status = 'terminated' where id = ${transit.id}`;
    for (const [u, id] of [[leaver, mine.id], [owner, ownerMachine.id]]) ok(await act(u, 'delete', id), 202);
  });
}

test('a member removed while their update-machine waits for the machine\'s lock pins no key on it', { timeout: 60000 }, async () => {
  const leaver = await signIn();
  const team = await teamWith(owner, leaver);
  const k = await keyOf(leaver);
  const m = await runningTeamMachine(owner, team.id);
  // Hold the machine's row lock while the update and the removal queue behind it.
  let release, locked;
  const released = new Promise((r) => { release = r; });
  const isLocked = new Promise((r) => { locked = r; });
  const holder = sql.begin(async (tx) => {
    await tx`select 1 from machines where id = ${m.id} for update`;
    locked();
    await released;
  });
  await isLocked;
  const pinning = update(leaver, { machineId: m.id, sshKeyIds: [k.id] });
  await sleep(300);
  const removing = removeMember(owner, team.id, leaver.user.id);
  await sleep(300);
  release();
  await holder;
  const [pinned, removed] = await Promise.all([pinning, removing]);
  ok(removed);
  assert.ok([200, 404].includes(pinned.status), show(pinned));
  assert.deepEqual(await keyLines(m.id), [], 'whatever order they ran in, the leaver\'s key is not on the machine');
  ok(await act(owner, 'delete', m.id), 202);
});
