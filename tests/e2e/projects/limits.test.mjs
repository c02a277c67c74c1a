// Projects per account and pages of projects (API.md §7, defect 5 of issue 15): an account
// has at most 100 projects (403 quota_exceeded with {limit, current}), whether it asks the
// function, /rpc/hangar_create_project or inserts into the table through PostgREST, also
// under a race; `GET projects` pages with limit and cursor, newest first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ok, fails, pageIds, show, signIn } from '../lib/api.mjs';
import { asUser, sql, value } from '../lib/machines.mjs';
import { projects, newProject, assertProject } from '../lib/projects.mjs';

const count = (user) => value`select count(*)::int from projects where owner_id = ${user.user.id}`;

test('at most 100 projects per account: the function, /rpc and a PostgREST insert are refused past it, also under a race', { timeout: 60000 }, async () => {
  const u = await signIn();
  // 95 made as the superuser (the limit is not about how they were made), then a race for the last 5.
  await sql`insert into projects (owner_id, name) select ${u.user.id}, 'seed ' || g from generate_series(1, 95) g`;
  const raced = await Promise.all(Array.from({ length: 8 }, (_, i) => projects(u, { body: { name: `race ${i}` } })));
  assert.equal(raced.filter((r) => r.status === 201).length, 5, raced.map((r) => r.status).join(','));
  for (const r of raced.filter((x) => x.status !== 201)) {
    fails(r, 403, 'quota_exceeded');
    assert.deepEqual(r.json.details, { limit: 100, current: 100 });
  }
  assert.equal(await count(u), 100);
  const rpc = await asUser(u, '/rpc/hangar_create_project', { method: 'POST', body: { p_name: 'via rpc' } });
  assert.equal(rpc.status, 200, show(rpc));
  assert.deepEqual([rpc.json.ok, rpc.json.error, rpc.json.details], [false, 'quota_exceeded', { limit: 100, current: 100 }]);
  const direct = await asUser(u, '/projects', { method: 'POST', body: { name: 'direct' }, headers: { prefer: 'return=representation' } });
  assert.ok(direct.status >= 400 && direct.status < 500, `a direct insert is refused: ${show(direct)}`);
  assert.ok(!direct.text.includes('PL/pgSQL'), 'no database internals in the answer');
  assert.equal(await count(u), 100, 'nothing was made');
  // Deleting one makes room for one.
  const [first] = ok(await projects(u, { query: { limit: '1' } })).projects;
  ok(await projects(u, { id: first.id, method: 'DELETE' }));
  assertProject(await newProject(u));
});

test('GET projects pages with limit and cursor, newest first, own and team projects alike; bad ones are 400', async () => {
  const u = await signIn();
  const made = [];
  for (let i = 0; i < 5; i++) made.push((await newProject(u)).id);
  const pages = await pageIds((query) => projects(u, { query }), 'projects', 2, assertProject);
  assert.deepEqual(pages, [[made[4], made[3]], [made[2], made[1]], [made[0]]]);
  const all = ok(await projects(u));
  assert.deepEqual([all.projects.map((p) => p.id), all.nextCursor], [[...made].reverse(), null], 'default: up to 50 on one page');
  for (const [query, field] of [[{ limit: '0' }, 'limit'], [{ limit: '101' }, 'limit'], [{ limit: 'two' }, 'limit'], [{ cursor: 'nope' }, 'cursor']]) {
    fails(await projects(u, { query }), 400, 'validation_error', field);
  }
  // Through /rpc the same pages.
  const r = await asUser(u, '/rpc/hangar_list_projects', { method: 'POST', body: { p_limit: 2 } });
  assert.deepEqual(r.json.data.projects.map((p) => p.id), [made[4], made[3]], show(r));
  assert.ok(r.json.data.next, 'and where the next one starts');
});
