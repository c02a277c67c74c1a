// get-user-machines (API.md §3): newest first, cursor pagination, filters, bad parameters.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ok, fails, signIn } from '../lib/api.mjs';
import { createMachine, createProject, setStatus, listMachines, assertMachine, newName } from '../lib/machines.mjs';
import { stopRunner, startRunner } from '../lib/runner.mjs';

// The runner stays down: jobs wait in the outbox, as these tests assume.
before(stopRunner);
after(startRunner);

let user;
let created; // the user's 7 machines, oldest first

before(async () => {
  user = await signIn();
  created = [];
  // One at a time, so that creation order is unambiguous.
  for (let i = 0; i < 7; i++) created.push(await createMachine(user, { name: newName(`page${i}`) }));
});

async function walk(query) {
  const seen = [];
  const pages = [];
  let cursor;
  for (let i = 0; i < 20; i++) {
    const data = ok(await listMachines(user, { ...query, ...(cursor ? { cursor } : {}) }));
    assert.ok(Array.isArray(data.machines), 'machines is an array');
    assert.ok('nextCursor' in data, 'nextCursor is present');
    pages.push(data);
    seen.push(...data.machines);
    cursor = data.nextCursor;
    if (cursor === null) return { seen, pages };
    assert.equal(typeof cursor, 'string', 'nextCursor is a string or null');
  }
  assert.fail('more than 20 pages');
}

test('limit=3 pages through every machine exactly once, newest first', async () => {
  const { seen, pages } = await walk({ limit: '3' });
  assert.deepEqual(pages.map((p) => p.machines.length), [3, 3, 1]);
  seen.forEach(assertMachine);
  assert.deepEqual(seen.map((m) => m.id), [...created].reverse().map((m) => m.id), 'every machine once, newest first');
  assert.equal(pages.at(-1).nextCursor, null);
  assert.notEqual(pages[0].nextCursor, null);
});

test('the default page holds all 7 with nextCursor null', async () => {
  const data = ok(await listMachines(user));
  assert.deepEqual(data.machines.map((m) => m.id), [...created].reverse().map((m) => m.id));
  assert.equal(data.nextCursor, null);
});

test('filters: status, projectId, and terminated hidden unless includeTerminated=true', async () => {
  const u = await signIn();
  const project = await createProject(u);
  const [s1, s2, inProject, dead, plain] = await Promise.all([
    createMachine(u), createMachine(u), createMachine(u, { projectId: project.id }), createMachine(u), createMachine(u),
  ]);
  assert.equal(inProject.projectId, project.id);
  await Promise.all([setStatus(s1.id, 'stopped'), setStatus(s2.id, 'stopped'), setStatus(dead.id, 'terminated')]);
  const ids = (data) => new Set(data.machines.map((m) => m.id));

  const stopped = ok(await listMachines(u, { status: 'stopped' }));
  assert.deepEqual(ids(stopped), new Set([s1.id, s2.id]));
  assert.ok(stopped.machines.every((m) => m.status === 'stopped'));

  const inP = ok(await listMachines(u, { projectId: project.id }));
  assert.deepEqual(ids(inP), new Set([inProject.id]));

  const live = ok(await listMachines(u));
  assert.deepEqual(ids(live), new Set([s1.id, s2.id, inProject.id, plain.id]), 'terminated hidden by default');
  const everything = ok(await listMachines(u, { includeTerminated: 'true' }));
  assert.deepEqual(ids(everything), new Set([s1.id, s2.id, inProject.id, plain.id, dead.id]));
  const explicitFalse = ok(await listMachines(u, { includeTerminated: 'false' }));
  assert.deepEqual(ids(explicitFalse), ids(live));

  const combined = ok(await listMachines(u, { status: 'stopped', projectId: project.id }));
  assert.deepEqual(combined.machines, []);
});

test('bad limit, status, cursor and projectId → 400 naming the parameter', async () => {
  for (const limit of ['0', '101', 'abc', '-1', '2.5']) {
    fails(await listMachines(user, { limit }), 400, 'validation_error', 'limit');
  }
  ok(await listMachines(user, { limit: '1' }));
  ok(await listMachines(user, { limit: '100' }));
  fails(await listMachines(user, { status: 'flying' }), 400, 'validation_error', 'status');
  fails(await listMachines(user, { cursor: 'garbage!' }), 400, 'validation_error', 'cursor');
  fails(await listMachines(user, { projectId: 'not-a-uuid' }), 400, 'validation_error', 'projectId');
});
