// Concurrency (API.md §3): concurrent requests for one machine produce exactly one job;
// create-machine with an Idempotency-Key creates one machine per key and caller.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ok, fails, show, signIn } from '../lib/api.mjs';
import {
  createMachine, createRaw, createProject, act, setStatus, setBalance, machineRow, jobsOf, countMachines, newName, rows,
} from '../lib/machines.mjs';
import { stopRunner, startRunner } from '../lib/runner.mjs';

// The runner stays down: jobs wait in the outbox, as these tests assume.
before(stopRunner);
after(startRunner);

let a, b;
before(async () => { [a, b] = await Promise.all([signIn(), signIn()]); });

async function storm(user, action, machineId, n) {
  const jobsBefore = (await jobsOf(machineId)).length;
  const responses = await Promise.all(Array.from({ length: n }, () => act(user, action, machineId)));
  const jobsAfter = await jobsOf(machineId);
  return { responses, newJobs: jobsAfter.slice(jobsBefore), jobsAfter, jobsBefore };
}

function exactlyOneMove(responses, status) {
  for (const r of responses) assert.ok([200, 202].includes(r.status), `every response 200 or 202: ${show(r)}`);
  const moved = responses.filter((r) => r.status === 202);
  assert.equal(moved.length, 1, `exactly one 202, got ${moved.length} (statuses ${responses.map((r) => r.status).join(',')})`);
  for (const r of responses) assert.equal(ok(r, r.status).status, status, 'every response shows the new status');
  return moved[0].json.data;
}

test('50 concurrent start-machine on one stopped machine → exactly one start job', async () => {
  const m = await createMachine(a);
  await setStatus(m.id, 'stopped');
  const { responses, newJobs, jobsBefore, jobsAfter } = await storm(a, 'start', m.id, 50);
  assert.equal(jobsAfter.length - jobsBefore, 1, `exactly one new job: ${JSON.stringify(newJobs)}`);
  assert.equal(newJobs[0].action, 'start');
  const moved = exactlyOneMove(responses, 'starting');
  assert.equal(moved.pendingJob.id, newJobs[0].id, 'the 202 carries the one job');
  assert.equal((await machineRow(m.id)).status, 'starting');
  const starts = await rows`select id from jobs where machine_id = ${m.id} and action = 'start'`;
  assert.equal(starts.length, 1);
});

test('30 concurrent delete-machine on one running machine → exactly one terminate job', async () => {
  const m = await createMachine(a);
  await setStatus(m.id, 'running');
  const { responses, newJobs } = await storm(a, 'delete', m.id, 30);
  assert.equal(newJobs.length, 1, `exactly one new job: ${JSON.stringify(newJobs)}`);
  assert.equal(newJobs[0].action, 'terminate');
  exactlyOneMove(responses, 'terminating');
  assert.equal((await machineRow(m.id)).status, 'terminating');
});

test('20 concurrent create-machine with one Idempotency-Key → one machine, the same 201 for all', async () => {
  const key = randomUUID();
  const body = { name: newName('idem'), tier: 'dev.medium' };
  const before = await countMachines(a.user.id);
  const responses = await Promise.all(Array.from({ length: 20 }, () => createRaw(a, body, { 'idempotency-key': key })));
  for (const r of responses) assert.equal(r.status, 201, show(r));
  const ids = new Set(responses.map((r) => ok(r, 201).id));
  assert.equal(ids.size, 1, `one machine id for all: ${[...ids].join(', ')}`);
  assert.equal(await countMachines(a.user.id), before + 1, 'exactly one machine created');
  const [id] = ids;
  assert.equal((await jobsOf(id)).length, 1, 'exactly one create job');

  // A later retry with the same key and body: the first response again.
  const replay = ok(await createRaw(a, body, { 'idempotency-key': key }), 201);
  assert.equal(replay.id, id);
  assert.equal(await countMachines(a.user.id), before + 1);
});

test('the same Idempotency-Key with a different body → 409 conflict, nothing created', async () => {
  const key = randomUUID();
  const first = ok(await createRaw(a, { name: newName('idem') }, { 'idempotency-key': key }), 201);
  const before = await countMachines(a.user.id);
  fails(await createRaw(a, { name: newName('other') }, { 'idempotency-key': key }), 409, 'conflict');
  fails(await createRaw(a, { name: first.name, tier: 'dev.large' }, { 'idempotency-key': key }), 409, 'conflict');
  assert.equal(await countMachines(a.user.id), before);
});

test('the same Idempotency-Key from another user → a separate machine', async () => {
  const key = randomUUID();
  const body = { name: newName('shared-key') };
  const ma = ok(await createRaw(a, body, { 'idempotency-key': key }), 201);
  const beforeB = await countMachines(b.user.id);
  const mb = ok(await createRaw(b, body, { 'idempotency-key': key }), 201);
  assert.notEqual(mb.id, ma.id, 'another user gets their own machine');
  assert.equal((await machineRow(mb.id)).owner_id, b.user.id);
  assert.equal((await machineRow(ma.id)).owner_id, a.user.id);
  assert.equal(await countMachines(b.user.id), beforeB + 1);
});

test('a refused create (400) does not burn its Idempotency-Key: the same request again gets the same 400', async () => {
  const key = randomUUID();
  const otherProject = await createProject(b);
  const body = { name: newName('idem'), projectId: otherProject.id };
  const before = await countMachines(a.user.id);
  fails(await createRaw(a, body, { 'idempotency-key': key }), 400, 'validation_error', 'projectId');
  // "same key + same caller within 24 h → the first response": the first response was a 400.
  fails(await createRaw(a, body, { 'idempotency-key': key }), 400, 'validation_error', 'projectId');
  assert.equal(await countMachines(a.user.id), before);
});

test('a create refused for credits (402) with an Idempotency-Key: a retry after topping up is not stuck', async () => {
  const u = await signIn();
  const key = randomUUID();
  const body = { name: newName('idem') };
  await setBalance(u.user.id, 0);
  fails(await createRaw(u, body, { 'idempotency-key': key }), 402, 'insufficient_credits');
  await setBalance(u.user.id, 1000);
  const res = await createRaw(u, body, { 'idempotency-key': key });
  // Either the first response again (402) or a fresh attempt (201); never 409 "in use".
  assert.ok([201, 402].includes(res.status), show(res));
  assert.equal(await countMachines(u.user.id), res.status === 201 ? 1 : 0);
});
