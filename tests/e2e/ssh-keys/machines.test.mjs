// SSH keys on machines (API.md §7), end to end with the stack's simulate runner: the keys
// chosen at create (`sshKeyIds`) reach the runner's payload (`machine.sshAuthorizedKeys`,
// with the legacy sshPublicKey) and the runner reports installing exactly them (their
// fingerprints, as ssh-keygen prints them); update-machine on a running machine queues an
// authorize_keys job that succeeds; on a stopped one the keys wait for its start; a deleted
// key leaves every machine that had it: the running ones get an authorize_keys job at once,
// the ones on their way to running (whose job already carried the key: defect 4 of issue
// 15) and the stopped ones get one when they arrive, through the functions and through
// /rpc; get-machine-status shows the ssh command.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { signIn, fn, ok, fails } from '../lib/api.mjs';
import { createRaw, createMachine, act, getStatus, countMachines, sql, value, rows, assertMachine, asUser } from '../lib/machines.mjs';
import { waitForStatus, waitForJob, getJob, logsOf, insertMachine, waitFor } from '../lib/runner.mjs';
import { sshKeys, addKey, keygen, keyOf, authorizeJobs, payloadOf, machineInTransit, arrive } from '../lib/ssh-keys.mjs';

let alice, bob;
before(async () => {
  [alice, bob] = await Promise.all([signIn(), signIn()]);
});

const update = (user, machineId, patch) => fn('update-machine', { token: user.accessToken, method: 'PATCH', body: { machineId, ...patch } });

test('keys chosen at create reach the runner, which installs exactly them; sshCommand once running', { timeout: 30000 }, async () => {
  const [k1, k2] = [await keyOf(alice), await keyOf(alice, 'rsa', 2048)];
  const legacy = keygen('ecdsa', 384);
  const m = assertMachine(await createMachine(alice, { sshKeyIds: [k2.id, k1.id], sshPublicKey: legacy.line }));
  assert.deepEqual(m.sshKeyIds, [k2.id, k1.id], 'the Machine lists its keys in the order chosen');
  const createJob = m.pendingJob.id;

  // What the Workers sign and send: the chosen keys' lines, then the legacy key.
  const body = await payloadOf(createJob);
  assert.deepEqual(body.machine.sshAuthorizedKeys, [k2.line, k1.line, legacy.line]);

  const running = await waitForStatus(alice, m.id, 'running');
  assert.equal(running.sshCommand, `ssh hangar@${running.ipAddress}`);
  assert.match(running.ipAddress, /^192\.0\.2\.\d+$/);
  // The simulate runner reports the fingerprints of what it installed: ssh-keygen's.
  const job = await waitForJob(alice, createJob);
  assert.equal(job.status, 'succeeded');
  assert.deepEqual(job.result.sshAuthorizedKeys, [k2.fingerprint, k1.fingerprint, legacy.fingerprint]);
  const logs = await logsOf(alice, m.id);
  assert.ok(logs.some((e) => e.eventType === 'runner.log' && e.details.message.includes(`3 key(s): ${k2.fingerprint}`)),
    'the runner log says which keys');

  // The same key as sshPublicKey and in sshKeyIds is installed once.
  const twice = await createMachine(alice, { sshKeyIds: [k1.id], sshPublicKey: k1.line.replace(/ [^ ]+$/, ' other') });
  assert.deepEqual((await payloadOf(twice.pendingJob.id)).machine.sshAuthorizedKeys, [k1.line]);
  // Without keys: an empty list.
  const none = await createMachine(alice, {});
  assert.deepEqual(none.sshKeyIds, []);
  assert.deepEqual((await payloadOf(none.pendingJob.id)).machine.sshAuthorizedKeys, []);
  const up = await waitForStatus(alice, none.id, 'running');
  assert.equal(up.sshCommand, `ssh hangar@${up.ipAddress}`, 'the ssh command does not depend on the keys');
  for (const id of [twice.id, none.id]) ok(await act(alice, 'delete', id), 202);
});

test('sshPublicKey on create is read as ssh-keys reads a key: weak or malformed is 400 sshPublicKey, also through /rpc', async () => {
  const before = await countMachines(bob.user.id);
  const rsa1024 = keygen('rsa', 1024).line;
  const ed = keygen('ed25519').line;
  const [kind, blob] = ed.split(' ');
  const cases = [
    [rsa1024, /at least 2048 bits; this one has 1024/],
    [`ssh-rsa ${blob}`, /not a ssh-rsa key/], // an ed25519 blob under another type
    [`${kind} ${blob.slice(0, -8)}`, /malformed|base64/],
  ];
  for (const [line, why] of cases) {
    const err = fails(await createRaw(bob, { sshPublicKey: line }), 400, 'validation_error', 'sshPublicKey');
    assert.match(err.message, why, line);
    const rpc = await asUser(bob, '/rpc/hangar_create_machine', { method: 'POST', body: { p_name: `k${randomUUID().slice(0, 8)}`, p_tier: 'dev.small', p_ssh_public_key: line } });
    assert.equal(rpc.json?.ok, false, `/rpc with ${line.slice(0, 30)}…: ${rpc.text}`);
    assert.equal(rpc.json.error, 'validation_error');
    assert.equal(rpc.json.details?.field, 'sshPublicKey');
  }
  assert.equal(await countMachines(bob.user.id), before, 'no machine was made');
  // A good key line, extra spaces and all, is stored as the key's single-spaced line.
  const m = assertMachine(ok(await createRaw(bob, { sshPublicKey: `  ${ed.replace(' ', '   ')}  ` }), 201));
  assert.equal(await value`select ssh_public_key from machines where id = ${m.id}`, ed);
  ok(await act(bob, 'delete', m.id), 202);
});

test('sshKeyIds on create: only the caller\'s own keys, at most 10, each once (400 sshKeyIds)', async () => {
  const mine = await keyOf(bob);
  const alices = await keyOf(alice);
  const before = await countMachines(bob.user.id);
  const cases = [
    [alices.id],
    [randomUUID()],
    [mine.id, mine.id],
    Array.from({ length: 11 }, () => randomUUID()),
    ['not-a-uuid'],
    'x',
    [5],
  ];
  for (const sshKeyIds of cases) {
    fails(await createRaw(bob, { sshKeyIds }), 400, 'validation_error', 'sshKeyIds');
  }
  assert.equal(await countMachines(bob.user.id), before, 'no machine was made');
  // /rpc gets no more than the Worker: SQL checks whose keys they are.
  const direct = await asUser(bob, '/rpc/hangar_create_machine', { method: 'POST', body: {
    p_name: 'direct', p_tier: 'dev.small', p_provider: 'aws', p_region: 'us-east-1', p_image: 'ubuntu-22.04',
    p_ssh_key_ids: [alices.id] } });
  assert.equal(direct.json?.ok, false, direct.text);
  assert.equal(direct.json.details.field, 'sshKeyIds');
  for (const bad of [[mine.id, mine.id], 'x', Array.from({ length: 11 }, () => mine.id)]) {
    const r = await asUser(bob, '/rpc/hangar_create_machine', { method: 'POST', body: {
      p_name: 'direct', p_tier: 'dev.small', p_provider: 'aws', p_region: 'us-east-1', p_image: 'ubuntu-22.04', p_ssh_key_ids: bad } });
    assert.equal(r.json?.details?.field, 'sshKeyIds', `${JSON.stringify(bad)}: ${r.text.slice(0, 200)}`);
  }
});

test('update-machine on a running machine queues authorize_keys, which succeeds with the new keys', { timeout: 30000 }, async () => {
  const [k1, k2, k3] = [await keyOf(alice), await keyOf(alice, 'ecdsa', 256), await keyOf(alice, 'rsa', 3072)];
  const m = await createMachine(alice, { sshKeyIds: [k1.id] });
  await waitForStatus(alice, m.id, 'running');
  await waitFor(() => getStatus(alice, m.id).then((r) => r.json.data), (x) => x.pendingJob === null, { what: 'the create to finish' });

  const updated = assertMachine(ok(await update(alice, m.id, { sshKeyIds: [k3.id, k2.id] })));
  assert.deepEqual(updated.sshKeyIds, [k3.id, k2.id]);
  assert.equal(updated.status, 'running', 'no status change');
  const [job] = await authorizeJobs(m.id);
  assert.ok(job, 'an authorize_keys job');
  assert.deepEqual((await payloadOf(job.id)).params, {}, 'authorize_keys takes no params');
  const done = await waitForJob(alice, job.id);
  assert.equal(done.status, 'succeeded', JSON.stringify(done));
  assert.equal(done.action, 'authorize_keys');
  assert.deepEqual(done.result.sshAuthorizedKeys, [k3.fingerprint, k2.fingerprint]);
  const events = (await logsOf(alice, m.id)).map((e) => e.eventType);
  assert.ok(events.includes('machine.authorize_keys_requested'));
  assert.ok(events.includes('machine.updated'));
  assert.equal((await waitForStatus(alice, m.id, 'running')).status, 'running');

  // The same keys again change nothing: no job.
  ok(await update(alice, m.id, { sshKeyIds: [k3.id, k2.id], name: 'renamed' }));
  assert.equal((await authorizeJobs(m.id)).length, 1);
  // PATCH instances/{id} takes them too; [] removes every key.
  ok(await fn(`instances/${m.id}`, { token: alice.accessToken, method: 'PATCH', body: { sshKeyIds: [] } }));
  const jobs = await authorizeJobs(m.id);
  assert.equal(jobs.length, 2);
  assert.deepEqual((await waitForJob(alice, jobs[1].id)).result.sshAuthorizedKeys, []);
  fails(await update(alice, m.id, { sshKeyIds: null }), 400, 'validation_error', 'sshKeyIds');
  ok(await act(alice, 'delete', m.id), 202);
});

test('keys chosen while stopped apply at start; while on the way to a status they are refused', { timeout: 30000 }, async () => {
  const [k1, k2] = [await keyOf(bob), await keyOf(bob)];
  const m = await createMachine(bob, { sshKeyIds: [k1.id] });
  await waitForStatus(bob, m.id, 'running');
  await waitFor(() => getStatus(bob, m.id).then((r) => r.json.data), (x) => x.pendingJob === null, { what: 'the create to finish' });
  ok(await act(bob, 'stop', m.id), 202);
  const stopped = await waitForStatus(bob, m.id, 'stopped');
  assert.equal(stopped.sshCommand, null, 'no ssh command for a stopped machine');

  ok(await update(bob, m.id, { sshKeyIds: [k2.id] }));
  assert.equal((await authorizeJobs(m.id)).length, 0, 'a stopped machine gets no job');
  const started = ok(await act(bob, 'start', m.id), 202);
  const startJob = started.pendingJob.id;
  assert.deepEqual((await payloadOf(startJob)).machine.sshAuthorizedKeys, [k2.line]);
  assert.deepEqual((await waitForJob(bob, startJob)).result.sshAuthorizedKeys, [k2.fingerprint]);

  // A machine on its way somewhere (its job's payload is already built): 409.
  const moving = await insertMachine(bob.user.id, { status: 'provisioning' });
  const res = await update(bob, moving, { sshKeyIds: [k1.id] });
  fails(res, 409, 'invalid_state_transition');
  assert.equal(res.json.details.status, 'provisioning');
  assert.equal(Number(await value`select count(*) from machine_ssh_keys where machine_id = ${moving}`), 0);
  await sql`update machines set status = 'terminated' where id = ${moving}`;
  ok(await act(bob, 'delete', m.id), 202);
});

test('a deleted key leaves the running machines that had it (an authorize_keys job without it)', { timeout: 30000 }, async () => {
  const carol = await signIn();
  const [k1, k2] = [await keyOf(carol), await keyOf(carol)];
  const m = await createMachine(carol, { sshKeyIds: [k1.id, k2.id] });
  await waitForStatus(carol, m.id, 'running');
  await waitFor(() => getStatus(carol, m.id).then((r) => r.json.data), (x) => x.pendingJob === null, { what: 'the create to finish' });

  const res = await sshKeys(carol, { id: k1.id, method: 'DELETE' });
  assert.match(ok(res).fingerprint, /^SHA256:/);
  assert.match(res.json.message, /removed from 1 machine/);
  assert.deepEqual(ok(await getStatus(carol, m.id)).sshKeyIds, [k2.id]);
  const [job] = await authorizeJobs(m.id);
  assert.deepEqual((await waitForJob(carol, job.id)).result.sshAuthorizedKeys, [k2.fingerprint]);
  ok(await act(carol, 'delete', m.id), 202);
});

for (const via of ['ssh-keys DELETE', '/rpc/hangar_delete_ssh_key']) {
  test(`a key deleted (${via}) while machines are on their way to running comes off each when it arrives`, { timeout: 60000 }, async () => {
    const dave = await signIn();
    const [gone, kept] = [await keyOf(dave), await keyOf(dave)];
    const machines = {};
    for (const status of ['provisioning', 'starting', 'restarting']) machines[status] = await machineInTransit(dave, status, { keys: [gone, kept] });
    const res = via === 'ssh-keys DELETE'
      ? await sshKeys(dave, { id: gone.id, method: 'DELETE' })
      : await asUser(dave, '/rpc/hangar_delete_ssh_key', { method: 'POST', body: { p_ssh_key_id: gone.id } });
    assert.equal(res.status, 200, `${via}: ${res.status} ${res.text.slice(0, 300)}`);
    if (via === 'ssh-keys DELETE') assert.match(res.json.message, /removed from 3 machine/);
    else assert.deepEqual(res.json.data.deliveries, [], 'no job yet: none of them is running');
    for (const [status, m] of Object.entries(machines)) {
      assert.deepEqual(await value`select private.machine_ssh_key_ids(${m.id})`, [kept.id], `${status}: the key left the machine's choice`);
      assert.deepEqual(await authorizeJobs(m.id), [], `${status}: no authorize_keys job while on its way`);
      // The job on its way may carry the key: its arrival brings the machine an authorize_keys job.
      await arrive(m.jobId);
      assert.equal(await value`select status from machines where id = ${m.id}`, 'running', status);
      const jobs = await authorizeJobs(m.id);
      assert.equal(jobs.length, 1, `${status}: one authorize_keys job on arrival`);
      assert.deepEqual((await payloadOf(jobs[0].id)).machine.sshAuthorizedKeys, [kept.line], `${status}: its payload has the key no more`);
      // The runner-callback Worker handed it over; the stack's runner installs exactly the kept key.
      assert.deepEqual((await waitForJob(dave, jobs[0].id, { timeoutMs: 30000 })).result.sshAuthorizedKeys, [kept.fingerprint]);
      assert.equal(Number(await value`select count(*) from private.ssh_key_resyncs where machine_id = ${m.id}`), 0, 'owed once, paid once');
    }
    // A later arrival owes nothing more: a second report of the same job changes nothing.
    await arrive(machines.starting.jobId);
    assert.equal((await authorizeJobs(machines.starting.id)).length, 1);
    for (const m of Object.values(machines)) await sql`update machines set status = 'terminated' where id = ${m.id}`;
  });
}

test('a key deleted while a machine is stopped: the start carries the keys left, and its arrival re-syncs them', { timeout: 60000 }, async () => {
  const erin = await signIn();
  const [gone, kept] = [await keyOf(erin), await keyOf(erin)];
  const m = await createMachine(erin, { sshKeyIds: [gone.id, kept.id] });
  await waitForStatus(erin, m.id, 'running');
  await waitFor(() => getStatus(erin, m.id).then((r) => r.json.data), (x) => x.pendingJob === null, { what: 'the create to finish' });
  ok(await act(erin, 'stop', m.id), 202);
  await waitForStatus(erin, m.id, 'stopped');
  ok(await sshKeys(erin, { id: gone.id, method: 'DELETE' }));
  assert.deepEqual(await authorizeJobs(m.id), [], 'a stopped machine gets no job now');
  const startJob = ok(await act(erin, 'start', m.id), 202).pendingJob.id;
  assert.deepEqual((await payloadOf(startJob)).machine.sshAuthorizedKeys, [kept.line], 'the start carries only the kept key');
  await waitForStatus(erin, m.id, 'running');
  const [job] = await authorizeJobs(m.id);
  assert.ok(job, 'an authorize_keys job on arrival');
  assert.deepEqual((await waitForJob(erin, job.id, { timeoutMs: 30000 })).result.sshAuthorizedKeys, [kept.fingerprint]);
  ok(await act(erin, 'delete', m.id), 202);
});

test("strangers: another user's machine is 404, their keys are not the caller's", async () => {
  const k = await keyOf(alice);
  const m = await createMachine(alice, { sshKeyIds: [k.id] });
  fails(await update(bob, m.id, { sshKeyIds: [] }), 404, 'not_found');
  const bobs = await createMachine(bob, {});
  fails(await update(bob, bobs.id, { sshKeyIds: [k.id] }), 400, 'validation_error', 'sshKeyIds');
  // Through PostgREST: the choices of a machine are seen only by who sees the machine.
  assert.equal((await asUser(alice, `/machine_ssh_keys?machine_id=eq.${m.id}`)).json.length, 1);
  assert.deepEqual((await asUser(bob, `/machine_ssh_keys?machine_id=eq.${m.id}`)).json, []);
  const write = await asUser(bob, '/machine_ssh_keys', { method: 'POST', body: { machine_id: bobs.id, ssh_key_id: k.id, position: 0 } });
  assert.ok([401, 403].includes(write.status), `no direct writes: ${write.status}`);
  for (const [user, id] of [[alice, m.id], [bob, bobs.id]]) ok(await act(user, 'delete', id), 202);
});
