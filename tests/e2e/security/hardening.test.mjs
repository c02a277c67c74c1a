// Regression tests for the defects a review found by attacking the running stack
// (issue 7): each test failed before its fix. Deep JSON, quotas and balances, the
// search_path of SECURITY DEFINER functions, callback replay and signing contexts,
// job parameters through /rpc, chunked bodies, the agent token on redelivery, panics.
// (Three disturb the whole stack: disruptive/hardening.test.mjs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { env } from '../lib/env.mjs';
import { fn, ok, fails, signIn, show, rest, recordResponse } from '../lib/api.mjs';
import { createMachine, createRaw, act, setBalance, setStatus, sql, value, rows, jobsOf, machineRow, hourlyCents, asUser } from '../lib/machines.mjs';
import { callback, claim, signature, CONTEXT, tick, waitFor, waitForStatus, insertJob } from '../lib/runner.mjs';

const nested = (depth, leaf = 1) => {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

// ---- 1. one request must not jam the scheduler for every tenant -------------------------------
// (the undecodable job: disruptive/hardening.test.mjs, it stops the runner)

test('deep JSON: configuration over depth 16 and bodies over depth 32 are 400 naming the field; nothing is stored', async () => {
  const user = await signIn();
  fails(await createRaw(user, { configuration: nested(17) }), 400, 'validation_error', 'configuration');
  fails(await createRaw(user, { configuration: nested(125) }), 400, 'validation_error', 'body');
  const deepArray = JSON.parse(`${'['.repeat(40)}${']'.repeat(40)}`);
  fails(await createRaw(user, { configuration: { a: deepArray } }), 400, 'validation_error', 'body');
  assert.equal(Number(await value`select count(*) from machines where owner_id = ${user.user.id}`), 0);
  // Depth 16 exactly is fine, and it is stored as given.
  const m = await createMachine(user, { configuration: nested(16) });
  assert.deepEqual(m.configuration, nested(16));
});

test('numbers: a configuration holding the largest double is stored and read back (no 502 after the commit)', async () => {
  // Postgres keeps it as an exact decimal; reading it back must give the same double,
  // not "number out of range" after the machine was created (the fuzzer found it).
  const user = await signIn();
  const m = await createMachine(user, { configuration: { big: 1.7976931348623157e308, small: 5e-324 } });
  assert.equal(m.configuration.big, 1.7976931348623157e308);
  const list = ok(await fn('get-user-machines', { token: user.accessToken }));
  assert.equal(list.machines[0].configuration.big, 1.7976931348623157e308);
});

test('deep JSON: the database refuses what the Workers refuse (CHECK), for callers that skip them', async () => {
  const user = await signIn();
  const m = await createMachine(user);
  await assert.rejects(
    sql`update machines set configuration = ${sql.json(nested(17))} where id = ${m.id}`,
    /check constraint/,
  );
  await assert.rejects(
    sql`insert into machine_events (machine_id, owner_id, event_type, details, source)
         values (${m.id}, ${user.user.id}, 'x', ${sql.json(nested(33))}, 'user')`,
    /check constraint/,
  );
  const res = await asUser(user, '/rpc/hangar_create_machine', {
    method: 'POST',
    body: { p_name: 'deep', p_tier: 'dev.small', p_provider: 'aws', p_region: 'us-east-1', p_image: 'ubuntu-22.04', p_configuration: nested(20) },
  });
  // Refused by the SQL function itself, naming the field (issue 15, defect 11), before the CHECK.
  assert.equal(res.status, 200, show(res));
  assert.deepEqual([res.json?.ok, res.json?.error, res.json?.details?.field], [false, 'validation_error', 'configuration'], show(res));
  assert.equal(Number(await value`select count(*) from machines where owner_id = ${user.user.id} and name = 'deep'`), 0);
});

// ---- 3. limits: machines per account, the balance of everything running -----------------------
// (pending jobs: disruptive/hardening.test.mjs, it needs the runner down)

test('quota: the 11th machine that is not terminated is 403 quota_exceeded with limit and current', { timeout: 60000 }, async () => {
  const user = await signIn();
  await setBalance(user.user.id, 1_000_000);
  for (let i = 0; i < 10; i++) await createMachine(user);
  const err = fails(await createRaw(user), 403, 'quota_exceeded');
  assert.deepEqual(err.details, { limit: 10, current: 10 });
  assert.equal(Number(await value`select count(*) from machines where owner_id = ${user.user.id}`), 10);
});

test('balance: create and start need one hour of every machine the account would then have running', { timeout: 60000 }, async () => {
  const user = await signIn();
  const hourly = hourlyCents('dev.xlarge');
  await setBalance(user.user.id, 2 * hourly + 1);
  const a = await createMachine(user, { tier: 'dev.xlarge' });
  const b = await createMachine(user, { tier: 'dev.xlarge' });
  const err = fails(await createRaw(user, { tier: 'dev.xlarge' }), 402, 'insufficient_credits');
  assert.deepEqual(err.details, { balanceCents: 2 * hourly + 1, requiredCents: 3 * hourly });
  // A small machine still fits? No: 2 xlarge + 1 small > balance unless small ≤ 1 cent.
  await waitForStatus(user, a.id, 'running');
  await waitForStatus(user, b.id, 'running');
  await setStatus(b.id, 'stopped');
  await setBalance(user.user.id, 2 * hourly - 1);
  fails(await act(user, 'start', b.id), 402, 'insufficient_credits');
  assert.equal((await machineRow(b.id)).status, 'stopped');
  await setStatus(a.id, 'stopped');
  ok(await act(user, 'start', b.id), 202);
});

// ---- 5. SECURITY DEFINER functions do not resolve names through pg_temp ----------------------

test('search_path: a temp table named like ours, created as authenticated, does not fool a definer function', async () => {
  const [owner, attacker] = [await signIn(), await signIn()];
  const m = await createMachine(owner);
  await waitForStatus(owner, m.id, 'running');
  const jobsBefore = (await jobsOf(m.id)).length;
  const claims = JSON.stringify({ sub: attacker.user.id, role: 'authenticated' });
  // The attacker's temp `machines` claims the owner's machine as the attacker's own.
  // In a transaction that is rolled back (the temp table with it).
  const rolledBack = new Error('rollback');
  await sql.begin(async (tx) => {
    await tx`set local role authenticated`;
    await tx`select set_config('request.jwt.claims', ${claims}, true)`;
    await tx`create temp table machines (like public.machines including defaults)`;
    await tx`insert into pg_temp.machines select * from public.machines where false`;
    await tx`insert into pg_temp.machines (id, owner_id, name, status, tier, provider, region, image, configuration, created_at, updated_at)
      values (${m.id}, ${attacker.user.id}, 'shadow', 'running', 'dev.small', 'aws', 'us-east-1', 'ubuntu-22.04', '{}', now(), now())`;
    [{ out: rolledBack.out }] = await tx`select public.hangar_machine_action(${m.id}, 'stop')::text as out`;
    throw rolledBack;
  }).catch((e) => {
    if (e !== rolledBack) throw e;
  });
  const out = rolledBack.out;
  const outcome = JSON.parse(out);
  assert.equal(outcome.ok, false, out);
  assert.equal(outcome.error, 'not_found');
  assert.equal((await machineRow(m.id)).status, 'running');
  assert.equal((await jobsOf(m.id)).length, jobsBefore);
  // Every SECURITY DEFINER function of ours pins its search_path with pg_temp last (or empty).
  const loose = await rows`select p.proname, p.proconfig from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname in ('public', 'private') and p.prosecdef
      and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c
        where c in ('search_path=pg_catalog, public, pg_temp', 'search_path=""'))`;
  assert.deepEqual(loose, [], 'definer functions without a safe search_path');
});

// ---- 6. callbacks: canonical signatures, one t and one v1, a context per direction ------------

test('callback replay: the same (t, v1) spelled differently is still a replay; two v1 or a webhook signature are 401', async () => {
  const user = await signIn();
  const m = await createMachine(user);
  await waitForStatus(user, m.id, 'running');
  const jobId = await insertJob(m.id, user.user.id, 'restart', { status: 'dispatched' });
  const { fence } = await claim(jobId);
  const body = JSON.stringify({ jobId, status: 'running', fence });
  const t = Math.floor(Date.now() / 1000);
  const header = signature(body, t);
  const first = ok(await callback(body, { header }));
  assert.equal(first.applied, true);
  const v1 = header.split('v1=')[1];
  for (const respelled of [`v1=${v1},t=${t}`, `t=${t},v1=${v1.toUpperCase()}`, ` t=${t} , v1=${v1} `]) {
    const again = ok(await callback(body, { header: respelled }));
    assert.equal(again.applied, false, `replay with header ${respelled}`);
    assert.equal(again.reason, 'replayed');
  }
  fails(await callback(body, { header: `t=${t},v1=${'0'.repeat(64)},v1=${v1}` }), 401, 'invalid_token');
  fails(await callback(body, { header: `t=${t},t=${t},v1=${v1}` }), 401, 'invalid_token');
  // A webhook body signed by the Workers for the runner is not a callback.
  const other = JSON.stringify({ jobId, status: 'succeeded', fence });
  fails(await callback(other, { header: signature(other, t, env.RUNNER_SECRET, CONTEXT.webhook) }), 401, 'invalid_token');
  assert.equal((await rows`select status from jobs where id = ${jobId}`)[0].status, 'running');
});

// ---- 7. job parameters: /rpc refuses what the Worker refuses -----------------------------------

test('job params through /rpc: unknown keys, a forged deploymentId, mistyped fields are refused; stored params are exact', async () => {
  const user = await signIn();
  const m = await createMachine(user);
  await waitForStatus(user, m.id, 'running');
  const rpc = (p_action, p_params) => asUser(user, '/rpc/hangar_machine_job', { method: 'POST', body: { p_machine_id: m.id, p_action, p_params } });
  const refused = async (res, field) => {
    assert.equal(res.status, 200, show(res));
    assert.equal(res.json.ok, false, show(res));
    assert.equal(res.json.error, 'validation_error', show(res));
    assert.equal(res.json.details.field, field, show(res));
  };
  await refused(await rpc('deploy', { name: 'eth', version: '1', deploymentId: '6e603a27-0dc1-484d-a15e-5a13e402ded0' }), 'protocolConfig.deploymentId');
  await refused(await rpc('deploy', { name: 'eth', version: '1', protocolConfig: { name: 'evil' } }), 'protocolConfig.protocolConfig');
  await refused(await rpc('deploy', { name: 'eth', version: 1 }), 'protocolConfig.version');
  await refused(await rpc('command', { command: 'ls', timeoutSec: '300' }), 'timeoutSec');
  await refused(await rpc('command', { command: 'ls', args: ['a', 5] }), 'args');
  await refused(await rpc('command', { command: 'ls', simulateFailure: true }), 'simulateFailure');
  const before = (await jobsOf(m.id)).length;
  assert.equal((await jobsOf(m.id)).length, before);
  const deployed = ok(await fn('deploy-protocol', { token: user.accessToken, body: { machineId: m.id, protocolConfig: { name: 'eth', version: '1.2' } } }), 202);
  const [job] = await rows`select params from jobs where id = ${deployed.job.id}`;
  assert.deepEqual(job.params, { deploymentId: deployed.deploymentId, name: 'eth', version: '1.2', settings: {} });
  const sent = ok(await fn('send-command', { token: user.accessToken, body: { machineId: m.id, command: 'ls' } }), 202);
  const [cmd] = await rows`select params from jobs where id = ${sent.job.id}`;
  assert.deepEqual(cmd.params, { command: 'ls', args: [], timeoutSec: 300 });
});

// ---- 8. a chunked body is refused once it passes 64 KiB --------------------------------------

test('chunked body: refused with 413 as soon as it passes 64 KiB, even if it never ends', { timeout: 30000 }, async () => {
  const user = await signIn();
  const url = new URL(`${env.FUNCTIONS_URL}/functions/v1/create-machine`);
  const chunk = Buffer.from(`"${'x'.repeat(4094)}",`);
  let sent = 0;
  // node:http, not fetch: the Worker answers while the upload goes on and then drops the
  // connection, and fetch may report that reset ("terminated") instead of the answer it
  // already has. The answer counts; the reset of the rest of the upload does not.
  const res = await new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request({
      host: url.hostname, port: url.port, path: url.pathname, method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${user.accessToken}`, 'transfer-encoding': 'chunked' },
    }, (r) => {
      answered = true;
      const body = [];
      r.on('data', (c) => body.push(c));
      r.on('end', () => {
        resolve({ status: r.statusCode, headers: r.headers, text: Buffer.concat(body).toString('utf8') });
        req.destroy(); // the upload never ends by itself
      });
      r.on('error', reject);
    });
    req.setTimeout(20000, () => req.destroy(new Error('no answer within 20 s')));
    req.on('error', (e) => { if (!answered) reject(e); });
    req.write('{"name":"x","configuration":{"a":[');
    // Endless: 4 KiB a millisecond, until the answer (or the connection) ends it.
    const pump = () => {
      if (answered || req.destroyed) return;
      sent += chunk.length;
      req.write(chunk, () => setTimeout(pump, 1));
    };
    pump();
  });
  recordResponse({ method: 'POST', url, status: res.status, headers: res.headers, body: res.text });
  assert.equal(res.status, 413, res.text.slice(0, 300));
  assert.equal(JSON.parse(res.text).error_code, 'payload_too_large');
  assert.ok(sent < 4 * 1024 * 1024, `the Worker stopped reading early (${sent} bytes were produced)`);
});

// ---- 10. a redelivered create keeps the agent token the machine already holds ----------------

test('agent token: a redelivered create does not replace the stored hash', { timeout: 30000 }, async () => {
  const user = await signIn();
  const m = await createMachine(user);
  await waitForStatus(user, m.id, 'running');
  const hash = (await machineRow(m.id)).agent_token_hash;
  assert.ok(hash, 'the first delivery stored a hash');
  const [create] = (await jobsOf(m.id)).filter((j) => j.action === 'create');
  // As if the Worker had died before recording the delivery: the scheduler hands it over again.
  await sql`update jobs set status = 'dispatched', delivered_at = null, next_attempt_at = now() - interval '1 second'
    where id = ${create.id}`;
  await tick();
  await waitFor(() => rows`select delivered_at, attempts from jobs where id = ${create.id}`,
    ([j]) => j.delivered_at !== null && j.attempts > create.attempts, { what: 'the redelivery' });
  assert.equal((await machineRow(m.id)).agent_token_hash, hash);
});
// (11. a panic inside a handler: disruptive/hardening.test.mjs, it fails every request in
// flight on that Worker's instance, other tests' too)
