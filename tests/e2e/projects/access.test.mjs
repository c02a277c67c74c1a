// Another user's project is 404 everywhere (API.md §1: never 403), through the function
// and straight at PostgREST (tables and /rpc); a project is deleted only through
// hangar_delete_project, so a user's own DELETE through PostgREST cannot skip the
// project_not_empty rule. Afterwards the owner's project and machines are exactly as they were.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { env } from '../lib/env.mjs';
import { fn, ok, fails, rest, show, signIn, refused } from '../lib/api.mjs';
import { asUser, createMachine, jobsOf, machineRow, rows } from '../lib/machines.mjs';
import { projects, newProject } from '../lib/projects.mjs';

let a, b, pa, ma;
before(async () => {
  [a, b] = await Promise.all([signIn(), signIn()]);
  pa = await newProject(a, { description: 'a\'s' });
  ma = await createMachine(a, { projectId: pa.id });
});

const snapshot = async () => ({
  project: await rows`select * from projects where id = ${pa.id}`,
  machine: await machineRow(ma.id).then((m) => ({ id: m.id, project_id: m.project_id, name: m.name })),
  terminates: (await jobsOf(ma.id)).filter((j) => j.action === 'terminate').length,
});

test('the projects function: A\'s project is 404 for B (GET, PATCH, DELETE, cascade) and not in B\'s list', async () => {
  const before = await snapshot();
  fails(await projects(b, { id: pa.id }), 404, 'not_found');
  fails(await projects(b, { id: pa.id, method: 'PATCH', body: { name: 'pwned' } }), 404, 'not_found');
  fails(await projects(b, { id: pa.id, method: 'PATCH', body: {} }), 404, 'not_found');
  fails(await projects(b, { id: pa.id, method: 'DELETE' }), 404, 'not_found');
  fails(await projects(b, { id: pa.id, method: 'DELETE', query: { cascade: 'true' } }), 404, 'not_found');
  assert.ok(!ok(await projects(b)).projects.some((p) => p.id === pa.id));
  // A's machine id in the project path is no project of B's either.
  fails(await projects(b, { id: ma.id }), 404, 'not_found');
  // B's machine cannot join A's project.
  fails(await fn('create-machine', { token: b.accessToken, body: { name: 'x', projectId: pa.id } }), 400, 'validation_error', 'projectId');
  assert.deepEqual(await snapshot(), before);
  assert.equal(ok(await projects(a, { id: pa.id })).machineCount, 1, 'A still sees it');
});

test('PostgREST: B reads nothing of A\'s project, and can neither change nor delete it', async () => {
  const before = await snapshot();
  const repr = { prefer: 'return=representation' };
  const read = await asUser(b, `/projects?id=eq.${pa.id}`);
  assert.equal(read.status, 200, show(read));
  assert.deepEqual(read.json, []);
  const patched = await asUser(b, `/projects?id=eq.${pa.id}`, { method: 'PATCH', body: { name: 'pwned' }, headers: repr });
  assert.ok(refused(patched) || (Array.isArray(patched.json) && patched.json.length === 0), show(patched));
  const deleted = await asUser(b, `/projects?id=eq.${pa.id}`, { method: 'DELETE', headers: repr });
  assert.ok(refused(deleted), `DELETE is not granted: ${show(deleted)}`);
  for (const [fnName, body] of [
    ['hangar_get_project', { p_project_id: pa.id }],
    ['hangar_update_project', { p_project_id: pa.id, p_name: { set: true, value: 'pwned' } }],
    ['hangar_delete_project', { p_project_id: pa.id, p_cascade: true }],
  ]) {
    const r = await asUser(b, `/rpc/${fnName}`, { method: 'POST', body });
    assert.equal(r.status, 200, show(r));
    assert.deepEqual([r.json.ok, r.json.error], [false, 'not_found'], `${fnName}: ${show(r)}`);
  }
  const list = await asUser(b, '/rpc/hangar_list_projects', { method: 'POST', body: {} });
  assert.ok(!list.json.data.projects.some((p) => p.id === pa.id));
  // anon: no project function at all.
  for (const fnName of ['hangar_list_projects', 'hangar_get_project', 'hangar_delete_project', 'hangar_create_project']) {
    const r = await rest(`/rpc/${fnName}`, { method: 'POST', body: fnName === 'hangar_list_projects' ? {} : { p_project_id: pa.id } });
    assert.ok(refused(r), `anon ${fnName}: ${show(r)}`);
  }
  assert.deepEqual(await snapshot(), before);
});

test('PostgREST: the owner cannot DELETE a project directly (the project_not_empty rule lives in the function)', async () => {
  const before = await snapshot();
  const res = await asUser(a, `/projects?id=eq.${pa.id}`, { method: 'DELETE', headers: { prefer: 'return=representation' } });
  assert.ok(refused(res), show(res));
  assert.deepEqual(await snapshot(), before);
  // Through /rpc it is the function's own answer.
  const r = await asUser(a, '/rpc/hangar_delete_project', { method: 'POST', body: { p_project_id: pa.id } });
  assert.deepEqual([r.json.ok, r.json.error, r.json.details?.machineCount], [false, 'project_not_empty', 1], show(r));
  assert.deepEqual(await snapshot(), before);
});

test('the anon and service-role keys are no user of the projects function: 401', async () => {
  fails(await fn('projects', { token: env.SUPABASE_SERVICE_ROLE_KEY }), 401, 'invalid_token');
  fails(await fn('projects', { token: env.SUPABASE_ANON_KEY }), 401, 'invalid_token');
});
