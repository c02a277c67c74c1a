// The seeds' own clients (API.md §3, §4 "The seeds' clients"): seed 000's frontend calls
// `/instances` and `/insights` in shapes of its own:
//   GET instances            → data: Machine[], the page's cursor beside it as nextCursor;
//   POST instances           { name, cpu, memory, disk, region } → the smallest tier that has
//                            at least that much of each (400 naming the field when none does);
//   PUT instances/{id}       a partial Machine (the fields update-machine takes; others 400);
//   GET insights (no machineId) → data: [{ machineId, name, status, summary }].
// The same sizes through /rpc (hangar_create_machine's p_cpu, p_memory_mb, p_disk_gb) pick the
// same tier, and refuse as data.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fn, fails, ok, rest, show, signIn } from '../lib/api.mjs';
import { assertMachine, createMachine, setStatus, sql } from '../lib/machines.mjs';
import { stopRunner, startRunner } from '../lib/runner.mjs';

before(stopRunner);
after(startRunner);

const instances = (user, { method = 'GET', id, body, query } = {}) =>
  fn(id ? `instances/${id}` : 'instances', { method, token: user.accessToken, body, query });

test('GET instances: data is the list of Machines, the cursor beside it', async () => {
  const u = await signIn();
  const made = [];
  for (let i = 0; i < 3; i++) made.push(await createMachine(u));
  const first = await instances(u, { query: { limit: '2' } });
  assert.equal(first.status, 200, show(first));
  assert.ok(Array.isArray(first.json.data), 'data is the array itself');
  assert.equal(first.json.data.length, 2);
  first.json.data.forEach(assertMachine);
  assert.equal(typeof first.json.nextCursor, 'string', 'nextCursor beside data');
  const second = await instances(u, { query: { limit: '2', cursor: first.json.nextCursor } });
  assert.equal(second.json.data.length, 1);
  assert.equal(second.json.nextCursor, null, 'the last page says so');
  assert.deepEqual(new Set([...first.json.data, ...second.json.data].map((m) => m.id)), new Set(made.map((m) => m.id)));
  // get-user-machines keeps its own shape.
  const list = ok(await fn('get-user-machines', { token: u.accessToken }));
  assert.equal(list.machines.length, 3);
});

test('POST instances with seed 000\'s sizes: the smallest tier that fits; none fits → 400 naming the field', async () => {
  const u = await signIn();
  const cases = [
    [{ cpu: 1, memory: 1024, disk: 10 }, 'dev.medium'],
    [{ cpu: '0.5', memory: 512, disk: 5 }, 'dev.small'],
    [{ cpu: '2', memory: 2048, disk: 20 }, 'dev.large'],
    [{ cpu: 1, memory: 4096, disk: 10 }, 'dev.large'],
    [{ cpu: 0.5, memory: 1024, disk: 80 }, 'dev.xlarge'],
    [{ cpu: 3 }, 'dev.xlarge'],
  ];
  for (const [sizes, tier] of cases) {
    const m = assertMachine(ok(await instances(u, { method: 'POST', body: { name: `seed-${tier.replace('.', '-')}`, region: 'us-east-1', ...sizes } }), 201));
    assert.equal(m.tier, tier, JSON.stringify(sizes));
    assert.ok(m.cpu >= Number(sizes.cpu ?? 0) && m.memoryMb >= (sizes.memory ?? 0) && m.diskGb >= (sizes.disk ?? 0));
    await sql`update machines set status = 'terminated' where id = ${m.id}`; // room under the quota
  }
  for (const [sizes, field] of [
    [{ cpu: 8, memory: 1024, disk: 10 }, 'cpu'], [{ cpu: 1, memory: 16384 }, 'memory'], [{ cpu: 1, disk: 500 }, 'disk'],
    [{ cpu: 0 }, 'cpu'], [{ cpu: 'two' }, 'cpu'], [{ cpu: 1, memory: -1 }, 'memory'], [{ cpu: 1, disk: 1.5 }, 'disk'],
    [{ cpu: 1, tier: 'dev.small' }, 'tier'],
  ]) {
    fails(await instances(u, { method: 'POST', body: { name: 'seed-none', ...sizes } }), 400, 'validation_error', field);
  }
  // The same rule for a caller of /rpc.
  const rpc = (body) => rest('/rpc/hangar_create_machine', { method: 'POST', token: u.accessToken, body: { p_name: 'seed-rpc', ...body } });
  const picked = await rpc({ p_cpu: 2, p_memory_mb: 100, p_disk_gb: 1 });
  assert.equal(picked.json?.ok, true, show(picked));
  assert.equal(picked.json.data.machine.tier, 'dev.large');
  const none = await rpc({ p_cpu: 64 });
  assert.deepEqual([none.json?.ok, none.json?.error, none.json?.details?.field], [false, 'validation_error', 'cpu'], show(none));
});

test('PUT instances/{id}: a partial Machine; a field update-machine does not take is 400 naming it', async () => {
  const u = await signIn();
  const m = await createMachine(u);
  await setStatus(m.id, 'stopped');
  const renamed = assertMachine(ok(await instances(u, { method: 'PUT', id: m.id, body: { name: 'seed-renamed', tier: 'dev.medium' } })));
  assert.deepEqual([renamed.name, renamed.tier], ['seed-renamed', 'dev.medium']);
  for (const field of ['status', 'cpu', 'ipAddress', 'id']) {
    fails(await instances(u, { method: 'PUT', id: m.id, body: { [field]: 'x' } }), 400, 'validation_error', field);
  }
});

test('GET insights without machineId: one summary per machine the caller sees', async () => {
  const [u, other] = [await signIn(), await signIn()];
  const [a, b] = [await createMachine(u), await createMachine(u)];
  await createMachine(other);
  const done = await createMachine(u);
  await sql`update machines set status = 'terminated' where id = ${done.id}`;
  await sql`insert into machine_metrics (machine_id, owner_id, recorded_at, cpu, memory, disk, net_in, net_out)
    select ${a.id}, ${u.user.id}, now() - make_interval(mins => g), 10 * g, 50, 5, 100, 200 from generate_series(1, 4) g`;
  const res = ok(await fn('insights', { token: u.accessToken }));
  assert.ok(Array.isArray(res), 'data is the list');
  assert.deepEqual(res.map((r) => r.machineId).sort(), [a.id, b.id].sort(), 'the caller\'s live machines only');
  const ra = res.find((r) => r.machineId === a.id);
  assert.equal(ra.name, a.name);
  assert.equal(typeof ra.status, 'string');
  assert.equal(ra.summary.samples, 4);
  assert.deepEqual(ra.summary.cpu, { avg: 25, max: 40 });
  const rb = res.find((r) => r.machineId === b.id);
  assert.equal(rb.summary.samples, 0);
  // The same summary as insights of that one machine, and the period applies.
  const one = ok(await fn('insights', { token: u.accessToken, query: { machineId: a.id } }));
  assert.deepEqual(ra.summary, one.summary);
  const week = ok(await fn('insights', { token: u.accessToken, query: { period: '7d' } }));
  assert.equal(week.find((r) => r.machineId === a.id).summary.samples, 4);
  fails(await fn('insights', { token: u.accessToken, query: { period: '1y' } }), 400, 'validation_error', 'period');
});
