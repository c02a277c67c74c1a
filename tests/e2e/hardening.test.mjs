// Regression tests for the defects a review found by attacking the running stack
// (issue 7): each test failed before its fix. Deep JSON, quotas and balances, the
// search_path of SECURITY DEFINER functions, callback replay and signing contexts,
// job parameters through /rpc, chunked bodies, the agent token on redelivery, panics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env } from './lib/env.mjs';
import { fn, ok, fails, signIn, show, rest } from './lib/api.mjs';
import { createMachine, createRaw, act, setBalance, setStatus, sql, rows, lit, jobsOf, machineRow, hourlyCents, asUser } from './lib/machines.mjs';
import { callback, signature, CONTEXT, tick, stopRunner, startRunner, waitFor, waitForStatus, MAX_ATTEMPTS, insertJob } from './lib/runner.mjs';

const nested = (depth, leaf = 1) => {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

// ---- 1. one request must not jam the scheduler for every tenant -------------------------------

test('deep JSON: configuration over depth 16 and bodies over depth 32 are 400 naming the field; nothing is stored', async () => {
  const user = await signIn();
  fails(await createRaw(user, { configuration: nested(17) }), 400, 'validation_error', 'configuration');
  fails(await createRaw(user, { configuration: nested(125) }), 400, 'validation_error', 'body');
  const deepArray = JSON.parse(`${'['.repeat(40)}${']'.repeat(40)}`);
  fails(await createRaw(user, { configuration: { a: deepArray } }), 400, 'validation_error', 'body');
  assert.equal(await sql(`select count(*) from machines where owner_id = ${lit(user.user.id)}`), '0');
  // Depth 16 exactly is fine, and it is stored as given.
  const m = await createMachine(user, { configuration: nested(16) });
  assert.deepEqual(m.configuration, nested(16));
});

test('deep JSON: the database refuses what the Workers refuse (CHECK), for callers that skip them', async () => {
  const user = await signIn();
  const m = await createMachine(user);
  await assert.rejects(
    sql(`update machines set configuration = ${lit(nested(17))} where id = ${lit(m.id)}`),
    /check constraint/,
  );
  await assert.rejects(
    sql(`insert into machine_events (machine_id, owner_id, event_type, details, source)
         values (${lit(m.id)}, ${lit(user.user.id)}, 'x', ${lit(nested(33))}, 'user')`),
    /check constraint/,
  );
  const res = await asUser(user, '/rpc/hangar_create_machine', {
    method: 'POST',
    body: { p_name: 'deep', p_tier: 'dev.small', p_provider: 'aws', p_region: 'us-east-1', p_image: 'ubuntu-22.04', p_configuration: nested(20) },
  });
  assert.ok(res.status >= 400, `a too-deep configuration through /rpc must be refused: ${show(res)}`);
  assert.equal(await sql(`select count(*) from machines where owner_id = ${lit(user.user.id)} and name = 'deep'`), '0');
});

test('deep JSON: a job whose payload cannot be decoded fails alone; the other tenants\' jobs are delivered', { timeout: 60000 }, async () => {
  const [victim, bystander] = [await signIn(), await signIn()];
  const bad = await createMachine(victim);
  await waitForStatus(victim, bad.id, 'running');
  // A legacy row from before the CHECK: too deep for any JSON decoder with a recursion limit.
  const [{ conname }] = await rows(`select conname from pg_constraint
    where conrelid = 'public.machines'::regclass and pg_get_constraintdef(oid) like '%jsonb_depth(configuration)%'`);
  await sql(`begin;
    alter table machines drop constraint ${conname};
    update machines set configuration = ${lit(nested(140))} where id = ${lit(bad.id)};
    alter table machines add constraint ${conname} check (jsonb_typeof(configuration) = 'object'
      and octet_length(configuration::text) <= 16384 and private.jsonb_depth(configuration) <= 16) not valid;
    commit;`);
  await stopRunner();
  let badJob;
  try {
    badJob = await insertJob(bad.id, victim.user.id, 'restart');
    await sql(`update jobs set next_attempt_at = now() where id = ${lit(badJob)}`);
    const good = await createMachine(bystander);
    await sql(`update jobs set next_attempt_at = now() where machine_id = ${lit(good.id)}`);
    await startRunner();
    // Every tick answers (no 502) and keeps delivering the bystander's job.
    const report = await tick();
    assert.ok(report, 'the scheduler tick answered');
    await waitForStatus(bystander, good.id, 'running', { timeoutMs: 20000 });
    // The bad job counts an attempt per try and reaches `failed` like any other.
    const failed = await waitFor(
      async () => { await tick(); return (await rows(`select status, attempts, error from jobs where id = ${lit(badJob)}`))[0]; },
      (j) => j.status === 'failed',
      { timeoutMs: 40000, intervalMs: 300, what: 'the undecodable job to fail' },
    );
    assert.equal(failed.attempts, MAX_ATTEMPTS);
  } finally {
    await startRunner().catch(() => {});
    await sql(`update machines set configuration = '{}' where id = ${lit(bad.id)}`);
  }
});

// ---- 3. limits: machines per account, the balance of everything running, pending jobs -------

test('quota: the 11th machine that is not terminated is 403 quota_exceeded with limit and current', { timeout: 60000 }, async () => {
  const user = await signIn();
  await setBalance(user.user.id, 1_000_000);
  for (let i = 0; i < 10; i++) await createMachine(user);
  const err = fails(await createRaw(user), 403, 'quota_exceeded');
  assert.deepEqual(err.details, { limit: 10, current: 10 });
  assert.equal(await sql(`select count(*) from machines where owner_id = ${lit(user.user.id)}`), '10');
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

test('pending jobs: a machine takes at most 5 waiting deploy/command jobs; the 6th is 403 quota_exceeded', { timeout: 60000 }, async () => {
  const user = await signIn();
  const m = await createMachine(user);
  await waitForStatus(user, m.id, 'running');
  await stopRunner();
  try {
    for (let i = 0; i < 5; i++) {
      ok(await fn('send-command', { token: user.accessToken, body: { machineId: m.id, command: 'echo', args: [String(i)] } }), 202);
    }
    const err = fails(await fn('send-command', { token: user.accessToken, body: { machineId: m.id, command: 'echo' } }), 403, 'quota_exceeded');
    assert.deepEqual(err.details, { limit: 5, current: 5 });
    fails(await fn('deploy-protocol', { token: user.accessToken, body: { machineId: m.id, protocolConfig: { name: 'eth', version: '1' } } }), 403, 'quota_exceeded');
    const jobs = (await jobsOf(m.id)).filter((j) => j.action === 'command' || j.action === 'deploy');
    assert.equal(jobs.length, 5);
  } finally {
    await startRunner();
  }
});

// ---- 5. SECURITY DEFINER functions do not resolve names through pg_temp ----------------------

test('search_path: a temp table named like ours, created as authenticated, does not fool a definer function', async () => {
  const [owner, attacker] = [await signIn(), await signIn()];
  const m = await createMachine(owner);
  await waitForStatus(owner, m.id, 'running');
  const jobsBefore = (await jobsOf(m.id)).length;
  const claims = JSON.stringify({ sub: attacker.user.id, role: 'authenticated' });
  // The attacker's temp `machines` claims the owner's machine as the attacker's own.
  const out = await sql(`begin;
    set local role authenticated;
    select set_config('request.jwt.claims', ${lit(claims)}, true);
    create temp table machines (like public.machines);
    insert into pg_temp.machines select * from public.machines where false;
    insert into pg_temp.machines (id, owner_id, name, status, tier, provider, region, image, configuration, created_at, updated_at)
      values (${lit(m.id)}, ${lit(attacker.user.id)}, 'shadow', 'running', 'dev.small', 'aws', 'us-east-1', 'ubuntu-22.04', '{}', now(), now());
    select public.hangar_machine_action(${lit(m.id)}, 'stop')::text;
    rollback;`);
  const outcome = JSON.parse(out.split('\n').filter((l) => l.startsWith('{')).pop());
  assert.equal(outcome.ok, false, out);
  assert.equal(outcome.error, 'not_found');
  assert.equal((await machineRow(m.id)).status, 'running');
  assert.equal((await jobsOf(m.id)).length, jobsBefore);
  // Every SECURITY DEFINER function of ours pins its search_path with pg_temp last (or empty).
  const loose = await rows(`select p.proname, p.proconfig from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname in ('public', 'private') and p.prosecdef
      and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c
        where c in ('search_path=pg_catalog, public, pg_temp', 'search_path=""'))`);
  assert.deepEqual(loose, [], 'definer functions without a safe search_path');
});

// ---- 6. callbacks: canonical signatures, one t and one v1, a context per direction ------------

test('callback replay: the same (t, v1) spelled differently is still a replay; two v1 or a webhook signature are 401', async () => {
  const user = await signIn();
  const m = await createMachine(user);
  await waitForStatus(user, m.id, 'running');
  const jobId = await insertJob(m.id, user.user.id, 'restart', { status: 'dispatched' });
  const body = JSON.stringify({ jobId, status: 'running' });
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
  const other = JSON.stringify({ jobId, status: 'succeeded' });
  fails(await callback(other, { header: signature(other, t, env.RUNNER_SECRET, CONTEXT.webhook) }), 401, 'invalid_token');
  assert.equal((await rows(`select status from jobs where id = ${lit(jobId)}`))[0].status, 'running');
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
  const [job] = await rows(`select params from jobs where id = ${lit(deployed.job.id)}`);
  assert.deepEqual(job.params, { deploymentId: deployed.deploymentId, name: 'eth', version: '1.2', settings: {} });
  const sent = ok(await fn('send-command', { token: user.accessToken, body: { machineId: m.id, command: 'ls' } }), 202);
  const [cmd] = await rows(`select params from jobs where id = ${lit(sent.job.id)}`);
  assert.deepEqual(cmd.params, { command: 'ls', args: [], timeoutSec: 300 });
});

// ---- 8. a chunked body is refused once it passes 64 KiB --------------------------------------

test('chunked body: refused with 413 as soon as it passes 64 KiB, even if it never ends', { timeout: 30000 }, async () => {
  const user = await signIn();
  let sent = 0;
  const chunk = new TextEncoder().encode(`"${'x'.repeat(4094)}",`);
  const endless = new ReadableStream({
    start(c) { c.enqueue(new TextEncoder().encode('{"name":"x","configuration":{"a":[')); },
    async pull(c) {
      await new Promise((r) => setTimeout(r, 1));
      sent += chunk.length;
      c.enqueue(chunk);
    },
  });
  const res = await fetch(`${env.FUNCTIONS_URL}/functions/v1/create-machine`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${user.accessToken}` },
    body: endless,
    duplex: 'half',
    signal: AbortSignal.timeout(20000),
  });
  const text = await res.text();
  assert.equal(res.status, 413, text.slice(0, 300));
  assert.equal(JSON.parse(text).error_code, 'payload_too_large');
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
  await sql(`update jobs set status = 'dispatched', delivered_at = null, next_attempt_at = now() - interval '1 second'
    where id = ${lit(create.id)}`);
  await tick();
  await waitFor(() => rows(`select delivered_at, attempts from jobs where id = ${lit(create.id)}`),
    ([j]) => j.delivered_at !== null && j.attempts > create.attempts, { what: 'the redelivery' });
  assert.equal((await machineRow(m.id)).agent_token_hash, hash);
});

// ---- 11. a panic inside a handler still answers the envelope ----------------------------------

test('panic: a handler that panics answers the 500 envelope with CORS and a request id; the next request works', async () => {
  const origin = (env.ALLOWED_ORIGINS ?? '').split(',')[0].trim();
  const res = await fn('me', { headers: { 'x-hangar-test-panic': '1', origin } });
  assert.equal(res.status, 500, show(res));
  assert.equal(res.json?.success, false, show(res));
  assert.equal(res.json.error_code, 'internal_error');
  assert.ok(!/panic|unreachable|wasm|RuntimeError/i.test(res.text), `no internals: ${res.text}`);
  assert.equal(res.headers.get('access-control-allow-origin'), origin);
  assert.ok(res.headers.get('x-request-id'));
  const user = await signIn();
  ok(await fn('me', { token: user.accessToken }));
});
