// A user's session token straight at PostgREST against the machine tables (API.md §4: statuses,
// jobs, balances change only through the functions). Every attack is refused (4xx) or affects
// zero rows, checked by re-reading the database as the superuser. Allowed directly: renaming
// one's own machine, moving it into one's own project, creating one's own projects.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ok, show, signIn, signupCredits, refused } from '../lib/api.mjs';
import { newPrivyDid } from '../lib/jwt.mjs';
import {
  asUser, createMachine, createProject, setStatus, machineRow, rows, sql, value, counts, getStatus, newName, countMachines, sshPublicKey,
} from '../lib/machines.mjs';
import { stopRunner, startRunner } from '../lib/runner.mjs';

// The runner stays down: jobs wait in the outbox, as these tests assume.
before(stopRunner);
after(startRunner);

let a, b;
let ma, mb; // a's and b's machines (running, provisioned)
let aJob; // a's create job
let pa, pb; // a's and b's projects

before(async () => {
  [a, b] = await Promise.all([signIn(), signIn()]);
  [ma, mb] = await Promise.all([
    createMachine(a, {}, { 'idempotency-key': randomUUID() }), // leaves an idempotency_keys row for a
    createMachine(b),
  ]);
  aJob = ma.pendingJob;
  await Promise.all([setStatus(ma.id, 'running'), setStatus(mb.id, 'running')]);
  [pa, pb] = await Promise.all([createProject(a), createProject(b)]);
});

const refusedOrEmpty = (res, what) =>
  assert.ok(
    refused(res) || res.status === 204 || (Array.isArray(res.json) && res.json.length === 0),
    `${what}: should be refused or affect no row: ${show(res)}`,
  );
const repr = { prefer: 'return=representation' };
const patch = (user, path, body) => asUser(user, path, { method: 'PATCH', body, headers: repr });

test('a user cannot change protected columns of their own machine', async () => {
  const before = await machineRow(ma.id);
  const attacks = [
    { status: 'stopped' },
    { ip_address: '1.2.3.4' },
    { owner_id: b.user.id },
    { tier: 'dev.xlarge' },
    { provider_instance_id: 'i-evil' },
    { agent_token_hash: 'deadbeef' },
    { configuration: { evil: true } },
    { ssh_public_key: 'ssh-ed25519 AAAA evil' },
    { provider: 'gcp' },
    { region: 'eu-west-1' },
    { image: 'evil' },
    { last_started: '2000-01-01T00:00:00Z' },
    { created_at: '2000-01-01T00:00:00Z' },
    { id: randomUUID() },
  ];
  for (const body of attacks) refusedOrEmpty(await patch(a, `/machines?id=eq.${ma.id}`, body), `PATCH ${JSON.stringify(body)}`);
  assert.deepEqual(await machineRow(ma.id), before, 'the row is unchanged');
});

test('PATCH own machine {"status":"running"} from stopped does not start it', async () => {
  const m = await createMachine(a);
  await setStatus(m.id, 'stopped');
  const before = await counts(m.id);
  refusedOrEmpty(await patch(a, `/machines?id=eq.${m.id}`, { status: 'running' }), 'PATCH status');
  assert.equal((await machineRow(m.id)).status, 'stopped');
  assert.deepEqual(await counts(m.id), before);
});

test('a user cannot change, or delete, another user\'s machine', async () => {
  const before = await machineRow(mb.id);
  refusedOrEmpty(await patch(a, `/machines?id=eq.${mb.id}`, { name: 'x' }), 'PATCH b\'s name');
  refusedOrEmpty(await patch(a, `/machines?id=eq.${mb.id}`, { owner_id: a.user.id }), 'PATCH b\'s owner');
  await patch(a, '/machines', { name: 'x' }); // no filter: RLS must narrow it to a's own machines
  refusedOrEmpty(await asUser(a, `/machines?id=eq.${mb.id}`, { method: 'DELETE', headers: repr }), 'DELETE b\'s');
  assert.deepEqual(await machineRow(mb.id), before);
});

test('a user cannot delete their own machine row', async () => {
  const before = await machineRow(ma.id);
  refusedOrEmpty(await asUser(a, `/machines?id=eq.${ma.id}`, { method: 'DELETE', headers: repr }), 'DELETE own');
  assert.deepEqual(await machineRow(ma.id), before);
});

test('a user cannot insert machines past create-machine', async () => {
  const count = async () => Number(await value`select count(*) from machines where owner_id in (${a.user.id}, ${b.user.id})`);
  const before = await count();
  for (const body of [
    { name: newName(), status: 'running', owner_id: a.user.id },
    { name: newName(), owner_id: b.user.id },
  ]) {
    const res = await asUser(a, '/machines', { method: 'POST', body, headers: repr });
    assert.ok(refused(res), `POST /machines ${JSON.stringify(body)}: ${show(res)}`);
  }
  assert.equal(await count(), before);
});

test('a user cannot write jobs', async () => {
  const jobsBefore = await rows`select * from jobs where machine_id = ${ma.id} order by id`;
  const res = await asUser(a, '/jobs', {
    method: 'POST', headers: repr,
    body: { machine_id: ma.id, owner_id: a.user.id, action: 'start', status: 'queued' },
  });
  assert.ok(refused(res), `POST /jobs: ${show(res)}`);
  refusedOrEmpty(await patch(a, `/jobs?id=eq.${aJob.id}`, { status: 'succeeded' }), 'PATCH own job');
  refusedOrEmpty(await patch(a, `/jobs?id=eq.${aJob.id}`, { params: { evil: true }, attempts: 99 }), 'PATCH own job params');
  refusedOrEmpty(await asUser(a, `/jobs?id=eq.${aJob.id}`, { method: 'DELETE', headers: repr }), 'DELETE own job');
  assert.deepEqual(await rows`select * from jobs where machine_id = ${ma.id} order by id`, jobsBefore);
});

test('a user cannot write machine events directly, for their machine or another\'s', async () => {
  const [ca, cb] = await Promise.all([counts(ma.id), counts(mb.id)]);
  for (const m of [ma, mb]) {
    const res = await asUser(a, '/machine_events', {
      method: 'POST', headers: repr,
      body: { machine_id: m.id, owner_id: a.user.id, event_type: 'forged', details: {}, level: 'error', source: 'system' },
    });
    assert.ok(refused(res), `POST /machine_events for ${m === ma ? 'own' : 'b\'s'} machine: ${show(res)}`);
  }
  const [anEvent] = await rows`select id from machine_events where machine_id = ${ma.id} limit 1`;
  if (anEvent) {
    refusedOrEmpty(await patch(a, `/machine_events?id=eq.${anEvent.id}`, { level: 'error', source: 'system' }), 'PATCH own event');
    refusedOrEmpty(await asUser(a, `/machine_events?id=eq.${anEvent.id}`, { method: 'DELETE', headers: repr }), 'DELETE own event');
  }
  assert.deepEqual(await Promise.all([counts(ma.id), counts(mb.id)]), [ca, cb]);
});

test('reads through PostgREST show only the user\'s own machines, events and jobs', async () => {
  const ownIds = async (table) =>
    new Set((await rows`select id from ${sql(table)} where owner_id = ${a.user.id}`).map((r) => r.id));
  const othersIds = async (table) =>
    new Set((await rows`select id from ${sql(table)} where owner_id = ${b.user.id}`).map((r) => r.id));

  const machines = await asUser(a, '/machines?select=*');
  assert.equal(machines.status, 200, show(machines));
  assert.ok(machines.json.some((r) => r.id === ma.id), 'own machine is readable');

  for (const [table, res] of [
    ['machines', machines],
    ['machine_events', await asUser(a, '/machine_events?select=*')],
    ['jobs', await asUser(a, '/jobs?select=*')],
  ]) {
    const others = await othersIds(table);
    assert.ok(others.size > 0, `${table}: b has rows, so the check means something`);
    if (refused(res)) continue; // not readable at all is fine
    assert.equal(res.status, 200, show(res));
    const own = await ownIds(table);
    for (const r of res.json) {
      assert.ok(!others.has(r.id), `${table}: b's row ${r.id} is visible to a`);
      assert.ok(own.has(r.id), `${table}: row ${r.id} is not a's`);
    }
  }
  // Asking for b's rows by id gives nothing.
  for (const path of [`/machines?id=eq.${mb.id}`, `/jobs?machine_id=eq.${mb.id}`, `/machine_events?machine_id=eq.${mb.id}`]) {
    refusedOrEmpty(await asUser(a, path), `GET ${path}`);
  }
});

test('idempotency keys are not readable by users', async () => {
  const n = Number(await value`select count(*) from idempotency_keys`);
  assert.ok(n > 0, 'idempotency_keys has rows (a created a machine with a key)');
  refusedOrEmpty(await asUser(a, '/idempotency_keys?select=*'), 'GET /idempotency_keys');
});

test('a user cannot raise their balance', async () => {
  refusedOrEmpty(await patch(a, `/accounts?id=eq.${a.user.id}`, { credit_balance_cents: 999999 }), 'PATCH balance');
  const [row] = await rows`select credit_balance_cents from accounts where id = ${a.user.id}`;
  assert.notEqual(Number(row.credit_balance_cents), 999999);
  assert.ok(Number(row.credit_balance_cents) <= signupCredits, 'balance not raised');
});

test('a user cannot call hangar_exchange', async () => {
  const did = newPrivyDid();
  const res = await asUser(a, '/rpc/hangar_exchange', {
    method: 'POST',
    body: {
      p_privy_did: did, p_provider: 'email', p_identifier: 'x@example.com',
      p_refresh_hash: 'x'.repeat(64), p_refresh_ttl_days: 30,
    },
  });
  assert.ok(refused(res), `rpc/hangar_exchange: ${show(res)}`);
  assert.equal(Number(await value`select count(*) from accounts where privy_did = ${did}`), 0);
});

test('allowed: a user renames their own machine through PostgREST', async () => {
  const res = await patch(a, `/machines?id=eq.${ma.id}`, { name: 'new-name' });
  assert.ok(res.status >= 200 && res.status < 300, show(res));
  assert.equal((await machineRow(ma.id)).name, 'new-name');
  assert.equal(ok(await getStatus(a, ma.id)).name, 'new-name');
});

test('a rename through PostgREST still obeys the name rules', async () => {
  const before = (await machineRow(ma.id)).name;
  for (const name of ['bad/name', '', 'x'.repeat(64)]) {
    refusedOrEmpty(await patch(a, `/machines?id=eq.${ma.id}`, { name }), `PATCH name ${JSON.stringify(name)}`);
  }
  assert.equal((await machineRow(ma.id)).name, before);
});

test('allowed: own project on own machine; another user\'s project refused', async () => {
  const res = await patch(a, `/machines?id=eq.${ma.id}`, { project_id: pa.id });
  assert.ok(res.status >= 200 && res.status < 300, show(res));
  assert.equal((await machineRow(ma.id)).project_id, pa.id);

  refusedOrEmpty(await patch(a, `/machines?id=eq.${ma.id}`, { project_id: pb.id }), 'PATCH project_id to b\'s project');
  assert.equal((await machineRow(ma.id)).project_id, pa.id, 'project unchanged');
});

test('projects: owner_id defaults to the caller; a project cannot be created for someone else', async () => {
  assert.equal(pa.owner_id, a.user.id);
  const res = await asUser(a, '/projects', { method: 'POST', body: { name: newName('p'), owner_id: b.user.id }, headers: repr });
  assert.ok(refused(res), `POST /projects for b: ${show(res)}`);
  refusedOrEmpty(await patch(a, `/projects?id=eq.${pb.id}`, { name: 'stolen' }), 'PATCH b\'s project');
  const [row] = await rows`select name from projects where id = ${pb.id}`;
  assert.notEqual(row.name, 'stolen');
});

// The SQL functions behind the machine functions are reachable at /rpc with a user's token
// (they are granted to `authenticated`). Whatever the functions check before calling them must
// not be skippable that way: the rules of API.md §3 hold for rows however they were written.
/**
 * The control call with valid values: true when it worked (so refusals below mean the rules held),
 * false when users may not call the function at all (401/403). A 404 means the test no longer
 * matches the SQL function's signature and would pass for the wrong reason: fail.
 */
async function reachable(control) {
  if (control.status === 401 || control.status === 403) return false;
  assert.ok(control.status === 200 && control.json?.ok === true, `control call (update this test if the signature changed): ${show(control)}`);
  return true;
}

const rpcCreate = (user, overrides) => asUser(user, '/rpc/hangar_create_machine', {
  method: 'POST',
  body: {
    p_name: newName('rpc'), p_tier: 'dev.small', p_provider: 'aws', p_region: 'us-east-1', p_image: 'ubuntu-22.04',
    // No nulls: postrust passes a JSON null argument as '' (PostgREST passes NULL), which would
    // make the call fail on the uuid cast and the test pass for the wrong reason.
    p_project_id: pa.id, p_configuration: {}, p_ssh_public_key: sshPublicKey(), p_idempotency_key: randomUUID(),
    ...overrides,
  },
});

test('/rpc cannot create a machine that create-machine would refuse', async () => {
  if (!(await reachable(await rpcCreate(a, {})))) return; // not exposed to users at all: nothing to bypass
  const before = await countMachines(a.user.id);
  for (const bad of [
    { p_region: 'US East!' },
    { p_ssh_public_key: 'hello' },
    { p_configuration: { blob: 'x'.repeat(17 * 1024) } },
  ]) {
    const res = await rpcCreate(a, bad);
    assert.equal(await countMachines(a.user.id), before, `/rpc/hangar_create_machine ${JSON.stringify(bad).slice(0, 80)} created a machine: ${show(res)}`);
  }
});

test('/rpc cannot log events that log-machine-event would refuse', async () => {
  const rpcLog = (type) => asUser(a, '/rpc/hangar_log_event', {
    method: 'POST', body: { p_machine_id: ma.id, p_event_type: type, p_details: {}, p_level: 'info' },
  });
  if (!(await reachable(await rpcLog('rpc.control')))) return;
  const before = await counts(ma.id);
  for (const type of ['', 'e'.repeat(1000)]) {
    const res = await rpcLog(type);
    assert.deepEqual(await counts(ma.id), before, `event_type of ${type.length} chars stored: ${show(res)}`);
  }
});
