// Delivery retries (API.md §5): a runner that answers 500 gets RUNNER_MAX_ATTEMPTS signed
// webhooks, spaced by the exponential back-off; then the job fails, the machine is error,
// and the events say so (job.delivery_failed warnings, then one job.failed error).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';
import { env } from '../lib/env.mjs';
import { signIn, sleep } from '../lib/api.mjs';
import { createMachine, rows } from '../lib/machines.mjs';
import {
  stopRunner, startRunner, tick, waitFor, jobRow, machineStatus, MAX_ATTEMPTS, RETRY_BASE_MS,
} from '../lib/runner.mjs';

let user, server;
const requests = []; // { at, jobId, attempt, signed, path }

function validSignature(header, raw) {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  return createHmac('sha256', env.RUNNER_SECRET).update(`hangar-webhook.${m[1]}.${raw}`).digest('hex') === m[2];
}

before(async () => {
  user = await signIn();
  await stopRunner();
  server = createServer((req, res) => {
    const at = Date.now();
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body = {};
      try { body = JSON.parse(raw); } catch { /* recorded as is */ }
      requests.push({ at, jobId: body.jobId, attempt: body.attempt, signed: validSignature(req.headers['hangar-signature'], raw), path: req.url, method: req.method });
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"success":false,"error_code":"internal_error","message":"broken on purpose"}');
    });
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(Number(env.RUNNER_PORT), '127.0.0.1', resolve));
});

after(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  await startRunner();
});

test(`a runner answering 500: ${MAX_ATTEMPTS} deliveries with growing gaps, then the job fails and the machine is error`, { timeout: 60000 }, async () => {
  const m = await createMachine(user);
  const jobId = m.pendingJob.id;
  const mine = () => requests.filter((r) => r.jobId === jobId);

  // The request-time delivery (attempt 1) fails.
  await waitFor(() => jobRow(jobId), (j) => j.attempts >= 1, { timeoutMs: 15000, what: 'the request-time delivery to be recorded' });
  assert.equal(mine().length, 1, 'the request-time delivery reached our server');

  // The scheduler until the job has failed: a tick as soon as the job is due, at most
  // 250 ms apart; bounded.
  let ticks = 0;
  const deadline = Date.now() + 25000;
  let job = await jobRow(jobId);
  while (job.status !== 'failed') {
    assert.ok(Date.now() < deadline, `after ${ticks} ticks (25 s) the job is still ${job.status} with ${job.attempts} attempts; requests: ${JSON.stringify(mine())}`);
    assert.equal(job.status, 'queued', `between attempts the job waits in the outbox: ${JSON.stringify(job)}`);
    const due = Date.parse(job.next_attempt_at) - Date.now();
    await sleep(Math.min(250, Math.max(20, due + 5)));
    await tick();
    ticks += 1;
    job = await jobRow(jobId);
  }
  // A few more ticks: nothing more is sent for a failed job.
  for (let i = 0; i < 3; i++) {
    await tick();
    await sleep(150);
  }

  const got = mine();
  const gaps = got.slice(1).map((r, i) => r.at - got[i].at);
  const backoff = gaps.map((_, i) => RETRY_BASE_MS * 2 ** i);
  console.log(`figure: retries for a runner answering 500: ${got.length} deliveries, gaps ${gaps.map((g) => `${g}ms`).join(' ')} ` +
    `(back-off ${backoff.map((b) => `${b}ms`).join(' ')}), ${ticks} scheduler ticks`);

  assert.equal(got.length, MAX_ATTEMPTS, `exactly RUNNER_MAX_ATTEMPTS (${MAX_ATTEMPTS}) webhooks: ${JSON.stringify(got)}`);
  assert.deepEqual(got.map((r) => r.attempt), Array.from({ length: MAX_ATTEMPTS }, (_, i) => i + 1), 'attempt numbers 1..N in the bodies');
  assert.ok(got.every((r) => r.signed), 'every webhook is signed with RUNNER_SECRET');
  assert.ok(got.every((r) => r.method === 'POST'), 'POST');
  gaps.forEach((g, i) => {
    // next_attempt_at is set after our 500 went out, so the gap is at least the back-off;
    // 15 ms of slack for the clocks' rounding.
    assert.ok(g >= backoff[i] - 15, `gap ${i + 1} is ${g} ms, less than the back-off of ${backoff[i]} ms (gaps ${gaps})`);
    assert.ok(g <= backoff[i] + 3000, `gap ${i + 1} is ${g} ms, far beyond the back-off of ${backoff[i]} ms`);
    if (i > 0) assert.ok(g > gaps[i - 1], `the gaps grow: ${gaps}`);
  });

  job = await jobRow(jobId);
  assert.equal(job.status, 'failed');
  assert.equal(job.attempts, MAX_ATTEMPTS, 'jobs.attempts');
  assert.match(job.error ?? '', new RegExp(`after ${MAX_ATTEMPTS} attempts`), `job.error: ${job.error}`);
  assert.match(job.error, /500/, 'the last refusal is named');

  const machine = await machineStatus(user, m.id);
  assert.equal(machine.status, 'error');
  assert.equal(machine.pendingJob, null);

  const events = await rows`select event_type, level, source, details from machine_events
    where machine_id = ${m.id} and event_type in ('job.delivery_failed', 'job.failed') order by created_at, id`;
  assert.deepEqual(events.map((e) => [e.event_type, e.level]), [
    ...Array.from({ length: MAX_ATTEMPTS - 1 }, () => ['job.delivery_failed', 'warn']),
    ['job.failed', 'error'],
  ], `events: ${JSON.stringify(events)}`);
  events.slice(0, -1).forEach((e, i) => {
    assert.equal(e.details.jobId, jobId);
    assert.equal(e.details.attempt, i + 1, 'delivery_failed names its attempt');
    assert.match(e.details.error ?? '', /500/);
    assert.ok(!Number.isNaN(Date.parse(e.details.nextAttemptAt)), 'nextAttemptAt');
  });
  const last = events.at(-1);
  assert.equal(last.details.jobId, jobId);
  assert.equal(last.details.action, 'create');
  assert.equal(last.details.error, job.error);
});
