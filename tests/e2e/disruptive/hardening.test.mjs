// The regression tests of security/hardening.test.mjs (issue 7) that disturb the whole stack:
// one request must not jam the scheduler for every tenant (a legacy row that breaks the
// machines table's CHECK, with the runner stopped for everyone), the limit of pending
// deploy/command jobs per machine (the runner stopped), and a panic inside a handler (it
// fails every request in flight on that Worker's instance, whoever sent it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env } from '../lib/env.mjs';
import { fn, ok, fails, signIn, show } from '../lib/api.mjs';
import { createMachine, sql, rows, jobsOf } from '../lib/machines.mjs';
import { tick, stopRunner, startRunner, waitFor, waitForStatus, MAX_ATTEMPTS, insertJob } from '../lib/runner.mjs';

const nested = (depth, leaf = 1) => {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

// ---- 1. one request must not jam the scheduler for every tenant -------------------------------

test('deep JSON: a job whose payload cannot be decoded fails alone; the other tenants\' jobs are delivered', { timeout: 60000 }, async () => {
  const [victim, bystander] = [await signIn(), await signIn()];
  const bad = await createMachine(victim);
  await waitForStatus(victim, bad.id, 'running');
  // A legacy row from before the CHECK: too deep for any JSON decoder with a recursion limit.
  const [{ conname }] = await rows`select conname from pg_constraint
    where conrelid = 'public.machines'::regclass and pg_get_constraintdef(oid) like '%jsonb_depth(configuration)%'`;
  await sql.begin(async (tx) => {
    await tx`alter table machines drop constraint ${sql(conname)}`;
    await tx`update machines set configuration = ${sql.json(nested(140))} where id = ${bad.id}`;
    await tx`alter table machines add constraint ${sql(conname)} check (jsonb_typeof(configuration) = 'object'
      and octet_length(configuration::text) <= 16384 and private.jsonb_depth(configuration) <= 16) not valid`;
  });
  await stopRunner();
  let badJob;
  try {
    badJob = await insertJob(bad.id, victim.user.id, 'restart');
    await sql`update jobs set next_attempt_at = now() where id = ${badJob}`;
    const good = await createMachine(bystander);
    // Due at once, once its request-time delivery has failed (that failure sets its own
    // next attempt, which would otherwise land after this update).
    await waitFor(() => jobsOf(good.id), ([j]) => j.attempts >= 1, { what: 'the failed request-time delivery' });
    await sql`update jobs set next_attempt_at = now() where machine_id = ${good.id}`;
    await startRunner();
    // Every tick answers (no 502) and keeps delivering the bystander's job.
    const report = await tick();
    assert.ok(report, 'the scheduler tick answered');
    await waitForStatus(bystander, good.id, 'running', { timeoutMs: 20000 });
    // The bad job counts an attempt per try and reaches `failed` like any other.
    const failed = await waitFor(
      async () => { await tick(); return (await rows`select status, attempts, error from jobs where id = ${badJob}`)[0]; },
      (j) => j.status === 'failed',
      { timeoutMs: 40000, intervalMs: 300, what: 'the undecodable job to fail' },
    );
    assert.equal(failed.attempts, MAX_ATTEMPTS);
  } finally {
    await startRunner().catch(() => {});
    await sql`update machines set configuration = '{}' where id = ${bad.id}`;
  }
});

// ---- 3. limits: pending jobs ------------------------------------------------------------------

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
