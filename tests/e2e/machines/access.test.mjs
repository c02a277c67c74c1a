// Who may touch a machine (API.md §1, §3): another user's machine is 404 on every function,
// never 403; unknown ids are 404, malformed or missing ids 400 naming the field; no token 401.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { fn, ok, fails, signIn } from '../lib/api.mjs';
import { createMachine, setStatus, machineRow, counts, listMachines, act } from '../lib/machines.mjs';
import { stopRunner, startRunner } from '../lib/runner.mjs';

// The runner stays down: jobs wait in the outbox, as these tests assume.
before(stopRunner);
after(startRunner);

let a, b;
let running, stopped; // a's machines, in states where every action would be allowed
let aJob; // a's start job

before(async () => {
  [a, b] = await Promise.all([signIn(), signIn()]);
  [running, stopped] = await Promise.all([createMachine(a), createMachine(a)]);
  await Promise.all([setStatus(running.id, 'running'), setStatus(stopped.id, 'stopped')]);
  // A job of a's, then back to stopped so that `start` would be allowed again.
  aJob = ok(await act(a, 'start', stopped.id), 202).pendingJob;
  await setStatus(stopped.id, 'stopped');
});

/** Every per-machine call, as `user` with `id` (undefined: the id is left out). */
function calls(user, id) {
  const t = user.accessToken;
  const q = id === undefined ? {} : { machineId: id };
  const body = (extra = {}) => (id === undefined ? extra : { machineId: id, ...extra });
  return {
    'get-machine-status': () => fn('get-machine-status', { token: t, query: q }),
    'update-machine': () => fn('update-machine', { token: t, method: 'PATCH', body: body({ name: 'stolen' }) }),
    'start-machine': () => fn('start-machine', { token: t, body: body() }),
    'stop-machine': () => fn('stop-machine', { token: t, body: body() }),
    'restart-machine': () => fn('restart-machine', { token: t, body: body() }),
    'delete-machine (POST)': () => fn('delete-machine', { token: t, body: body() }),
    'delete-machine (DELETE)': () => fn('delete-machine', { token: t, method: 'DELETE', body: body() }),
    'log-machine-event': () => fn('log-machine-event', { token: t, body: body({ eventType: 'probe' }) }),
    'get-logs': () => fn('get-logs', { token: t, query: q }),
    'get-recent-logs': () => fn('get-recent-logs', { token: t, query: q }),
  };
}

/** fails(), with the call's name in the message. */
function expect(name, res, status, code, field) {
  try {
    fails(res, status, code, field);
  } catch (e) {
    e.message = `${name}: ${e.message}`;
    throw e;
  }
}

async function snapshot(m) {
  const row = await machineRow(m.id);
  return { name: row.name, status: row.status, tier: row.tier, ...(await counts(m.id)) };
}

test('another user\'s machine is 404 not_found on every function, and nothing changes', async () => {
  const beforeRunning = await snapshot(running);
  const beforeStopped = await snapshot(stopped);
  for (const [name, call] of Object.entries(calls(b, running.id))) expect(name, await call(), 404, 'not_found');
  // start on the stopped one (start would be allowed for its owner).
  fails(await fn('start-machine', { token: b.accessToken, body: { machineId: stopped.id } }), 404, 'not_found');
  for (const [method, body] of [['GET'], ['PATCH', { name: 'stolen' }], ['PUT', { name: 'stolen' }]]) {
    fails(await fn(`instances/${running.id}`, { token: b.accessToken, method, body }), 404, 'not_found');
  }
  assert.deepEqual(await snapshot(running), beforeRunning, 'running machine untouched');
  assert.deepEqual(await snapshot(stopped), beforeStopped, 'stopped machine untouched');
});

test('another user\'s job is 404 on get-job', async () => {
  fails(await fn('get-job', { token: b.accessToken, query: { jobId: aJob.id } }), 404, 'not_found');
  ok(await fn('get-job', { token: a.accessToken, query: { jobId: aJob.id } }));
});

test('another user\'s machines are not listed', async () => {
  await createMachine(b);
  const list = ok(await listMachines(b, { includeTerminated: 'true' }));
  assert.ok(list.machines.length >= 1);
  assert.ok(list.machines.every((m) => m.id !== running.id && m.id !== stopped.id), 'a\'s machines not in b\'s list');
  const inst = ok(await fn('instances', { token: b.accessToken })); // seed 000's shape: data is the list
  assert.ok(inst.every((m) => m.id !== running.id && m.id !== stopped.id));
});

test('an unknown machine id is 404 on every function', async () => {
  for (const [name, call] of Object.entries(calls(a, randomUUID()))) expect(name, await call(), 404, 'not_found');
  for (const [method, body] of [['GET'], ['PATCH', { name: 'x' }], ['PUT', { name: 'x' }]]) {
    fails(await fn(`instances/${randomUUID()}`, { token: a.accessToken, method, body }), 404, 'not_found');
  }
});

test('a malformed machine id is 400 validation_error naming machineId (id for instances/{id})', async () => {
  for (const [name, call] of Object.entries(calls(a, 'not-a-uuid'))) expect(name, await call(), 400, 'validation_error', 'machineId');
  for (const [method, body] of [['GET'], ['PATCH', { name: 'x' }], ['PUT', { name: 'x' }]]) {
    fails(await fn('instances/not-a-uuid', { token: a.accessToken, method, body }), 400, 'validation_error', 'id');
  }
  fails(await fn('get-job', { token: a.accessToken, query: { jobId: 'not-a-uuid' } }), 400, 'validation_error', 'jobId');
});

test('a missing machine id is 400 validation_error naming machineId', async () => {
  for (const [name, call] of Object.entries(calls(a, undefined))) expect(name, await call(), 400, 'validation_error', 'machineId');
  fails(await fn('get-job', { token: a.accessToken }), 400, 'validation_error', 'jobId');
});

test('every machine function refuses a call without a token (401)', async () => {
  const anon = { accessToken: undefined };
  const all = {
    ...calls(anon, running.id),
    'create-machine': () => fn('create-machine', { body: { name: 'x' } }),
    'get-user-machines': () => fn('get-user-machines'),
    'get-job': () => fn('get-job', { query: { jobId: aJob.id } }),
    'instances (GET)': () => fn('instances'),
    'instances (POST)': () => fn('instances', { body: { name: 'x' } }),
    'instances/{id}': () => fn(`instances/${running.id}`),
  };
  for (const [name, call] of Object.entries(all)) {
    expect(name, await call(), 401, 'unauthorized');
  }
  assert.equal((await machineRow(running.id)).status, 'running');
});
