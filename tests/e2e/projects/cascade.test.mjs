// DELETE projects/{id}?cascade=true (API.md §4): each live machine of the project gets
// delete-machine's own transition (terminating with a terminate job, or terminated at once
// when its create was never handed to the runner; one already terminating is left alone),
// then the project is removed, in one transaction. Races with creates into the project and
// with a second cascade leave no machine behind and queue one terminate per machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ok, fails, signIn, sleep } from '../lib/api.mjs';
import { createMachine, createRaw, act, jobsOf, eventsOf, machineRow, rows, sql, setMachineLimit } from '../lib/machines.mjs';
import { waitForStatus, insertMachine, insertJob } from '../lib/runner.mjs';
import { projects, newProject, assertProject } from '../lib/projects.mjs';

const cascade = (user, id) => projects(user, { id, method: 'DELETE', query: { cascade: 'true' } });
const terminateJobs = async (id) => (await jobsOf(id)).filter((j) => j.action === 'terminate');

test('cascade: running, stopped and new machines are deleted as delete-machine does, then the project is gone', { timeout: 60000 }, async () => {
  const u = await signIn();
  const p = await newProject(u);
  const [running, stopped, outside] = await Promise.all([
    createMachine(u, { projectId: p.id }), createMachine(u, { projectId: p.id }), createMachine(u),
  ]);
  await Promise.all([waitForStatus(u, running.id, 'running'), waitForStatus(u, stopped.id, 'running'), waitForStatus(u, outside.id, 'running')]);
  ok(await act(u, 'stop', stopped.id), 202);
  await waitForStatus(u, stopped.id, 'stopped');
  const fresh = await createMachine(u, { projectId: p.id });
  const mine = [running.id, stopped.id, fresh.id].sort();

  const res = cascade(u, p.id);
  const out = ok(await res);
  assertProject(out.project);
  assert.equal(out.project.id, p.id);
  assert.equal(out.project.machineCount, 3);
  assert.deepEqual(out.machines.map((m) => m.id).sort(), mine);
  for (const m of out.machines) {
    assert.ok(['terminating', 'terminated'].includes(m.status), `${m.id} is ${m.status}`);
    assert.equal(m.projectId, null, 'the project is gone from the machine');
  }

  fails(await projects(u, { id: p.id }), 404, 'not_found');
  assert.deepEqual(await rows`select id from projects where id = ${p.id}`, []);
  for (const id of mine) {
    const terminates = await terminateJobs(id);
    const events = (await eventsOf(id)).filter((e) => e.event_type === 'machine.delete_requested');
    // Each create was handed to the runner: a terminate job each (the hand-off rule).
    assert.equal(terminates.length, 1, `one terminate job for ${id}`);
    assert.equal(events.length, 1, `one delete event for ${id}`);
  }
  // The runner (simulate mode) takes them down.
  await Promise.all(mine.map((id) => waitForStatus(u, id, 'terminated', { timeoutMs: 30000 })));
  // A machine outside the project is untouched.
  assert.equal((await machineRow(outside.id)).status, 'running');
  assert.deepEqual(await terminateJobs(outside.id), []);
});

test('cascade: a create never handed to the runner ends terminated at once; a machine already terminating is left alone', async () => {
  const u = await signIn();
  const p = await newProject(u);
  const neverSent = await insertMachine(u.user.id);
  const createJob = await insertJob(neverSent, u.user.id, 'create', { status: 'queued' });
  const ending = await insertMachine(u.user.id, { status: 'terminating', providerInstanceId: 'i-ending' });
  await sql`update machines set project_id = ${p.id} where id in ${sql([neverSent, ending])}`;

  const out = ok(await cascade(u, p.id));
  const byId = Object.fromEntries(out.machines.map((m) => [m.id, m]));
  assert.equal(byId[neverSent]?.status, 'terminated');
  assert.equal(byId[ending]?.status, 'terminating');
  const [job] = await rows`select status, cancelled_at from jobs where id = ${createJob}`;
  assert.equal(job.status, 'failed');
  assert.ok(job.cancelled_at, 'the queued create is cancelled');
  assert.deepEqual(await terminateJobs(neverSent), [], 'nothing was built: no terminate');
  assert.deepEqual(await jobsOf(ending), [], 'a machine already terminating gets no second terminate');
  fails(await projects(u, { id: p.id }), 404, 'not_found');
});

test('cascade racing creates into the project: every machine created ends deleted, the others are 400 projectId', { timeout: 60000 }, async () => {
  const u = await signIn();
  await setMachineLimit(u.user.id, 20);
  const p = await newProject(u);
  const first = await createMachine(u, { projectId: p.id });
  // Creates spread over ~40 ms, the delete in the middle: some land before it, some after.
  const later = (ms, f) => sleep(ms).then(f);
  const [del, ...creates] = await Promise.all([
    later(18, () => cascade(u, p.id)),
    ...Array.from({ length: 8 }, (_, i) => later(i * 5, () => createRaw(u, { projectId: p.id }))),
  ]);
  const out = ok(del);
  const created = [];
  for (const r of creates) {
    if (r.status === 201) created.push(r.json.data.id);
    else fails(r, 400, 'validation_error', 'projectId');
  }
  const deleted = new Set(out.machines.map((m) => m.id));
  assert.ok(deleted.has(first.id));
  for (const id of created) assert.ok(deleted.has(id), `machine ${id} was created in the project but not deleted with it`);
  const live = await rows`select id, status from machines where owner_id = ${u.user.id} and status not in ('terminating', 'terminated')`;
  assert.deepEqual(live, [], 'no machine of the project is left running');
  console.log(`figure: cascade vs 8 creates: ${created.length} created before the delete (and deleted with it), ${8 - created.length} refused after`);
});

test('two cascades at once: one deletes (200), the other finds nothing (404); one terminate per machine', { timeout: 60000 }, async () => {
  const u = await signIn();
  const p = await newProject(u);
  const ms = await Promise.all([createMachine(u, { projectId: p.id }), createMachine(u, { projectId: p.id })]);
  await Promise.all(ms.map((m) => waitForStatus(u, m.id, 'running')));
  const results = await Promise.all([cascade(u, p.id), cascade(u, p.id)]);
  assert.deepEqual(results.map((r) => r.status).sort(), [200, 404]);
  for (const m of ms) assert.equal((await terminateJobs(m.id)).length, 1, `one terminate job for ${m.id}`);
});
