// The `projects` function (API.md §4): create, list with machine counts, read with its
// machines, rename and describe, delete; the 409 for a project with live machines; the
// request shapes it refuses. Cascade delete is in cascade.test.mjs, other users in
// access.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { fn, ok, fails, signIn } from '../lib/api.mjs';
import { createMachine, act, jobsOf, machineRow, newName, rows } from '../lib/machines.mjs';
import { waitForStatus } from '../lib/runner.mjs';
import { projects, newProject, assertProject } from '../lib/projects.mjs';

const listOf = async (user) => ok(await projects(user)).projects;

test('POST creates a project (trimmed name, description); GET lists it; GET projects/{id} reads it', async () => {
  const u = await signIn();
  const res = await projects(u, { body: { name: '  Web shop  ', description: 'Storefront\nand its workers' } });
  const p = ok(res, 201);
  assertProject(p);
  assert.equal(p.name, 'Web shop');
  assert.equal(p.description, 'Storefront\nand its workers');
  assert.equal(p.machineCount, 0);
  const [row] = await rows`select owner_id, name, description from projects where id = ${p.id}`;
  assert.deepEqual(row, { owner_id: u.user.id, name: 'Web shop', description: 'Storefront\nand its workers' });

  const other = await newProject(u, { name: 'Équipe données' });
  assert.equal(other.description, null);
  const list = await listOf(u);
  assert.deepEqual(list.map((x) => x.id), [other.id, p.id], 'newest first, only the caller\'s');
  list.forEach((x) => assertProject(x));

  const one = ok(await projects(u, { id: p.id }));
  assertProject(one, { withMachines: true });
  assert.deepEqual(one.machines, []);
  assert.equal(ok(await fn('me', { token: u.accessToken })).projectCount, 2);
});

test('machineCount and the machines of a project count machines that are not terminated', async () => {
  const u = await signIn();
  const p = await newProject(u);
  const [m1, m2, gone] = await Promise.all([
    createMachine(u, { projectId: p.id }), createMachine(u, { projectId: p.id }), createMachine(u, { projectId: p.id }),
  ]);
  const outside = await createMachine(u);
  ok(await act(u, 'delete', gone.id), 202);
  await waitForStatus(u, gone.id, 'terminated');

  const [listed] = (await listOf(u)).filter((x) => x.id === p.id);
  assert.equal(listed.machineCount, 2);
  const one = ok(await projects(u, { id: p.id }));
  assert.equal(one.machineCount, 2);
  assert.deepEqual(one.machines.map((m) => m.id).sort(), [m1.id, m2.id].sort());
  for (const m of one.machines) assert.equal(m.projectId, p.id);
  assert.ok(!one.machines.some((m) => m.id === outside.id));
});

test('PATCH renames and describes; null or "" clears the description; {} changes nothing', async () => {
  const u = await signIn();
  const p = await newProject(u, { description: 'first' });
  const renamed = ok(await projects(u, { id: p.id, method: 'PATCH', body: { name: ' Renamed ' } }));
  assertProject(renamed);
  assert.equal(renamed.name, 'Renamed');
  assert.equal(renamed.description, 'first', 'description left alone');
  assert.ok(Date.parse(renamed.updatedAt) >= Date.parse(p.updatedAt));

  const described = ok(await projects(u, { id: p.id, method: 'PATCH', body: { description: 'second' } }));
  assert.deepEqual([described.name, described.description], ['Renamed', 'second']);
  assert.equal(ok(await projects(u, { id: p.id, method: 'PATCH', body: { description: null } })).description, null);
  ok(await projects(u, { id: p.id, method: 'PATCH', body: { description: 'third' } }));
  assert.equal(ok(await projects(u, { id: p.id, method: 'PATCH', body: { description: '  ' } })).description, null);

  const before = ok(await projects(u, { id: p.id }));
  const same = ok(await projects(u, { id: p.id, method: 'PATCH', body: {} }));
  assert.equal(same.updatedAt, before.updatedAt, 'an empty patch does not touch the project');
  assert.equal(same.name, 'Renamed');
});

test('bodies, ids and methods the function refuses (400 naming the field, 405)', async () => {
  const u = await signIn();
  const p = await newProject(u);
  const post = (body) => projects(u, { body });
  fails(await post({}), 400, 'validation_error', 'name');
  fails(await post({ name: '   ' }), 400, 'validation_error', 'name');
  fails(await post({ name: 'x'.repeat(64) }), 400, 'validation_error', 'name');
  fails(await post({ name: 'a\u0007b' }), 400, 'validation_error', 'name');
  fails(await post({ name: 42 }), 400, 'validation_error', 'name');
  fails(await post({ name: 'ok', description: 'x'.repeat(1001) }), 400, 'validation_error', 'description');
  fails(await post({ name: 'ok', ownerId: randomUUID() }), 400, 'validation_error', 'ownerId');
  fails(await projects(u, { method: 'POST' }), 400, 'validation_error', 'name');

  const patch = (body) => projects(u, { id: p.id, method: 'PATCH', body });
  fails(await patch({ name: null }), 400, 'validation_error', 'name');
  fails(await patch({ name: '' }), 400, 'validation_error', 'name');
  fails(await patch({ description: 7 }), 400, 'validation_error', 'description');
  fails(await patch({ machineCount: 5 }), 400, 'validation_error', 'machineCount');

  fails(await projects(u, { id: 'not-a-uuid' }), 400, 'validation_error', 'id');
  fails(await projects(u, { method: 'PATCH', body: { name: 'x' } }), 400, 'validation_error', 'id');
  fails(await projects(u, { method: 'DELETE' }), 400, 'validation_error', 'id');
  fails(await projects(u, { id: p.id, method: 'DELETE', query: { cascade: 'yes' } }), 400, 'validation_error', 'cascade');
  fails(await projects(u, { id: `${p.id}/machines` }), 404, 'not_found');
  const put = await projects(u, { id: p.id, method: 'PUT', body: { name: 'x' } });
  fails(put, 405, 'method_not_allowed');
  assert.match(put.headers.get('allow'), /GET, POST, PATCH, DELETE/);
  fails(await projects(u, { id: p.id, body: { name: 'x' } }), 405, 'method_not_allowed');
  fails(await fn('projects'), 401, 'unauthorized');
  assert.equal(ok(await projects(u, { id: p.id })).name, p.name, 'nothing changed');
});

test('DELETE an empty project: 200, then 404 everywhere; a random id is 404', async () => {
  const u = await signIn();
  const p = await newProject(u);
  const res = ok(await projects(u, { id: p.id, method: 'DELETE' }));
  assertProject(res.project);
  assert.equal(res.project.id, p.id);
  assert.deepEqual(res.machines, []);
  fails(await projects(u, { id: p.id }), 404, 'not_found');
  fails(await projects(u, { id: p.id, method: 'DELETE' }), 404, 'not_found');
  fails(await projects(u, { id: p.id, method: 'PATCH', body: { name: 'back' } }), 404, 'not_found');
  assert.ok(!(await listOf(u)).some((x) => x.id === p.id));
  assert.deepEqual(await rows`select id from projects where id = ${p.id}`, []);
  fails(await projects(u, { id: randomUUID() }), 404, 'not_found');
});

test('DELETE of a project with live machines is 409 project_not_empty (also ?cascade=false); nothing changes', async () => {
  const u = await signIn();
  const p = await newProject(u);
  const [m1, m2] = await Promise.all([createMachine(u, { projectId: p.id }), createMachine(u, { projectId: p.id })]);
  await waitForStatus(u, m1.id, 'running');
  const jobsBefore = (await jobsOf(m1.id)).length + (await jobsOf(m2.id)).length;
  for (const query of [undefined, { cascade: 'false' }]) {
    const err = fails(await projects(u, { id: p.id, method: 'DELETE', query }), 409, 'project_not_empty');
    assert.equal(err.details.machineCount, 2);
  }
  assert.equal(ok(await projects(u, { id: p.id })).machineCount, 2, 'the project is still there');
  assert.equal((await machineRow(m1.id)).project_id, p.id);
  assert.notEqual((await machineRow(m1.id)).status, 'terminating');
  assert.equal((await jobsOf(m1.id)).length + (await jobsOf(m2.id)).length, jobsBefore, 'no job was queued');
});

test('a project whose machines are all terminated is deleted without cascade; the machines lose their projectId', async () => {
  const u = await signIn();
  const p = await newProject(u);
  const m = await createMachine(u, { projectId: p.id, name: newName('t') });
  ok(await act(u, 'delete', m.id), 202);
  await waitForStatus(u, m.id, 'terminated');
  const res = ok(await projects(u, { id: p.id, method: 'DELETE' }));
  assert.deepEqual(res.machines, []);
  assert.equal((await machineRow(m.id)).project_id, null);
  assert.equal((await machineRow(m.id)).status, 'terminated');
});
