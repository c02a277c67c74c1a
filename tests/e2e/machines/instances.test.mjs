// The `instances` REST facade (API.md §3): the same logic as the machine functions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fn, ok, fails, signIn } from '../lib/api.mjs';
import {
  createMachine, setStatus, listMachines, getStatus, machineRow, jobsOf, countMachines, assertMachine, newName,
} from '../lib/machines.mjs';
import { stopRunner, startRunner } from '../lib/runner.mjs';

// The runner stays down: jobs wait in the outbox, as these tests assume.
before(stopRunner);
after(startRunner);

let user;
let machines; // oldest first

before(async () => {
  user = await signIn();
  machines = [];
  for (let i = 0; i < 4; i++) machines.push(await createMachine(user));
});

const inst = (path = '', opts = {}) => fn(`instances${path}`, { token: user.accessToken, ...opts });
const strip = ({ recentEvents, ...m }) => m; // eslint-disable-line no-unused-vars
/** GET instances in seed 000's shape: `data` is the list, `nextCursor` beside it. */
const listed = (res) => {
  const machines = ok(res);
  assert.ok(Array.isArray(machines), 'data is the list itself');
  assert.ok('nextCursor' in res.json, 'nextCursor beside data');
  return { machines, nextCursor: res.json.nextCursor };
};

test('GET /instances lists the same machines, in the same order, as get-user-machines', async () => {
  const facade = listed(await inst());
  const direct = ok(await listMachines(user));
  facade.machines.forEach(assertMachine);
  assert.deepEqual(facade.machines.map((m) => m.id), direct.machines.map((m) => m.id));
  assert.deepEqual(facade.machines.map((m) => m.id), [...machines].reverse().map((m) => m.id));
  assert.equal(facade.nextCursor, direct.nextCursor);
});

test('GET /instances takes the same query: limit and cursor', async () => {
  const first = listed(await inst('', { query: { limit: '3' } }));
  assert.equal(first.machines.length, 3);
  assert.equal(typeof first.nextCursor, 'string');
  const second = listed(await inst('', { query: { limit: '3', cursor: first.nextCursor } }));
  assert.deepEqual(second.machines.map((m) => m.id), [machines[0].id]);
  assert.equal(second.nextCursor, null);
  fails(await inst('', { query: { limit: '0' } }), 400, 'validation_error', 'limit');
});

test('POST /instances creates a machine (201), like create-machine', async () => {
  const before = await countMachines(user.user.id);
  const name = newName('inst');
  const m = assertMachine(ok(await inst('', { method: 'POST', body: { name, tier: 'dev.medium' } }), 201));
  assert.equal(m.name, name);
  assert.equal(m.tier, 'dev.medium');
  assert.equal(m.status, 'provisioning');
  assert.equal(m.pendingJob?.action, 'create');
  assert.equal(await countMachines(user.user.id), before + 1);
  assert.equal((await jobsOf(m.id)).length, 1);
  fails(await inst('', { method: 'POST', body: { name: 'bad/name' } }), 400, 'validation_error', 'name');
  assert.equal(await countMachines(user.user.id), before + 1);
});

test('GET /instances/{id} equals get-machine-status', async () => {
  const m = machines[1];
  await setStatus(m.id, 'running');
  const facade = ok(await inst(`/${m.id}`));
  const direct = ok(await getStatus(user, m.id));
  assertMachine(facade);
  if ('recentEvents' in facade) assert.deepEqual(facade, direct);
  else assert.deepEqual(facade, strip(direct));
  // A path below a machine is no path of the API (the fuzzer found it served as the machine).
  for (const method of ['GET', 'PATCH']) {
    fails(await inst(`/${m.id}/x`, { method, body: method === 'GET' ? undefined : { name: 'n' } }), 404, 'not_found');
  }
});

test('PATCH /instances/{id} renames (200); PUT does the same', async () => {
  const m = machines[2];
  const n1 = newName('patched');
  const patched = assertMachine(ok(await inst(`/${m.id}`, { method: 'PATCH', body: { name: n1 } })));
  assert.equal(patched.name, n1);
  assert.equal((await machineRow(m.id)).name, n1);

  const n2 = newName('put');
  const put = assertMachine(ok(await inst(`/${m.id}`, { method: 'PUT', body: { name: n2 } })));
  assert.equal(put.name, n2);
  assert.equal((await machineRow(m.id)).name, n2);

  fails(await inst(`/${m.id}`, { method: 'PATCH', body: { name: '' } }), 400, 'validation_error', 'name');
  fails(await inst(`/${m.id}`, { method: 'PATCH', body: { status: 'running' } }), 400, 'validation_error', 'status');
  assert.equal((await machineRow(m.id)).name, n2);
});

test('PATCH /instances/{id}: tier only while stopped, as update-machine', async () => {
  const m = machines[3];
  await setStatus(m.id, 'running');
  fails(await inst(`/${m.id}`, { method: 'PATCH', body: { tier: 'dev.large' } }), 409, 'invalid_state_transition');
  await setStatus(m.id, 'stopped');
  const data = ok(await inst(`/${m.id}`, { method: 'PATCH', body: { tier: 'dev.large' } }));
  assert.equal(data.tier, 'dev.large');
  assert.equal(data.cpu, 2);
});
