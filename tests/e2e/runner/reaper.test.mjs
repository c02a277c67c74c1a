// The reaper, at the start of each scheduler tick (API.md §5, "The reaper"): a job whose
// runner went quiet (its lease ran out, or it was delivered and never claimed) is
// re-queued and another runner (the stack's) takes it; a lifecycle job past its action's
// timeout fails, its machine goes to error with a job.timed_out event saying what may be
// left behind, and its runner's late reports change nothing. Only this file's own jobs are
// moved in time (their lease or their age), never the settings.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { ok, fails, signIn } from '../lib/api.mjs';
import { sql, value, rows, machineRow } from '../lib/machines.mjs';
import { callback, claim, tick, startRunner, insertMachine, insertJob, jobRow, waitFor, waitForStatus } from '../lib/runner.mjs';

let user;
before(async () => {
  await startRunner(); // a no-op when it runs
  user = await signIn();
});

const eventsOf = (machineId, type) =>
  rows`select level, source, details from machine_events where machine_id = ${machineId} and event_type = ${type} order by created_at`;

/** Ticks until `done(job row)` (another file's tick may be the one that reaps it). */
async function tickUntil(jobId, done, what) {
  return waitFor(async () => { await tick(); return jobRow(jobId); }, done, { timeoutMs: 20000, intervalMs: 200, what });
}

test('a claimed job whose lease ran out is re-queued and run by another runner; the vanished runner is fenced off', async () => {
  const mid = await insertMachine(user.user.id);
  const jobId = await insertJob(mid, user.user.id, 'create');
  const ghost = await claim(jobId, { runnerId: 'ghost-runner' });
  assert.equal(ghost.claimed, true);
  ok(await callback({ jobId, status: 'running', fence: ghost.fence, logs: [{ level: 'info', message: 'applying', ts: new Date().toISOString() }] }));
  // The ghost dies: no heartbeat comes, and the lease runs out.
  await sql`update jobs set lease_expires_at = now() - interval '1 second' where id = ${jobId}`;

  await tickUntil(jobId, (j) => j.status === 'succeeded', 'the re-queued create to succeed');
  await waitForStatus(user, mid, 'running', { timeoutMs: 15000 });

  const job = await jobRow(jobId);
  assert.equal(job.status, 'succeeded');
  assert.equal(Number(job.fence), ghost.fence + 1, 'claimed once more, by the stack\'s runner');
  assert.match(job.claimed_by, /^test-runner/, `claimed by ${job.claimed_by}`);
  const [requeued, ...more] = await eventsOf(mid, 'job.requeued');
  assert.equal(more.length, 0, 'one job.requeued event');
  assert.deepEqual([requeued.level, requeued.source], ['warn', 'system']);
  assert.deepEqual([requeued.details.jobId, requeued.details.runnerId, requeued.details.action], [jobId, 'ghost-runner', 'create']);
  assert.match(requeued.details.reason, /lease ran out/);
  const m = await machineRow(mid);
  assert.match(m.ip_address, /^192\.0\.2\./, 'the simulate runner\'s outputs');

  // The ghost comes back: its reports are 409 and change nothing.
  const before = [await jobRow(jobId), await machineRow(mid), Number(await value`select count(*) from machine_events where machine_id = ${mid}`)];
  fails(await callback({ jobId, status: 'failed', fence: ghost.fence, error: 'ghost' }), 409, 'conflict');
  fails(await callback({ jobId, status: 'running', fence: ghost.fence }), 409, 'conflict');
  const after = [await jobRow(jobId), await machineRow(mid), Number(await value`select count(*) from machine_events where machine_id = ${mid}`)];
  assert.deepEqual(after, before);
});

test('a job delivered but never claimed within the lease is re-queued', async () => {
  const mid = await insertMachine(user.user.id, { status: 'stopping', providerInstanceId: 'sim-x' });
  const jobId = await insertJob(mid, user.user.id, 'stop');
  // A runner answered 202 and died before it claimed.
  await sql`update jobs set status = 'dispatched', delivered_at = now() - interval '10 minutes' where id = ${jobId}`;
  await tickUntil(jobId, (j) => j.status === 'succeeded', 'the re-queued stop to succeed');
  await waitForStatus(user, mid, 'stopped', { timeoutMs: 15000 });
  const [requeued] = await eventsOf(mid, 'job.requeued');
  assert.match(requeued.details.reason, /never claimed/);
  assert.equal(requeued.details.runnerId, null);
});

test('a lifecycle job past its timeout fails: machine error, a job.timed_out event saying what is left, late reports 409', async () => {
  const timeout = Number(await value`select value from private.settings where name = 'job_timeout_create_seconds'`);
  assert.equal(timeout, 1800, 'create: 30 min');
  assert.equal(Number(await value`select value from private.settings where name = 'job_timeout_seconds'`), 900, 'the others: 15 min');
  const mid = await insertMachine(user.user.id, { providerInstanceId: 'i-0half' });
  const jobId = await insertJob(mid, user.user.id, 'create');
  const c = await claim(jobId, { runnerId: 'stuck-runner' });
  // Stuck in an apply, heartbeating, for longer than a create may take.
  await sql`update jobs set created_at = now() - make_interval(secs => ${timeout + 60}) where id = ${jobId}`;
  ok(await callback({ jobId, status: 'running', fence: c.fence }));
  const failed = await tickUntil(jobId, (j) => j.status === 'failed', 'the create to time out');
  assert.equal(failed.error, `timed out after ${timeout} s`);
  assert.equal((await machineRow(mid)).status, 'error');
  const [ev, ...more] = await eventsOf(mid, 'job.timed_out');
  assert.equal(more.length, 0);
  assert.deepEqual([ev.level, ev.source], ['error', 'system']);
  assert.deepEqual([ev.details.jobId, ev.details.action, ev.details.timeoutSeconds, ev.details.runnerId], [jobId, 'create', timeout, 'stuck-runner']);
  assert.ok(ev.details.leftBehind.includes(`workspace ${mid}`) && ev.details.leftBehind.includes('i-0half'), ev.details.leftBehind);
  // The stuck runner finishes after all: fenced off, the machine stays in error.
  fails(await callback({ jobId, status: 'succeeded', fence: c.fence, outputs: { ipAddress: '203.0.113.1', providerInstanceId: 'i-late' } }), 409, 'conflict');
  const m = await machineRow(mid);
  assert.deepEqual([m.status, m.provider_instance_id], ['error', 'i-0half']);

  // A deploy has no lifecycle timeout (its command has its own).
  const running = await insertMachine(user.user.id, { status: 'running' });
  const deployJob = await insertJob(running, user.user.id, 'command', { params: { command: 'true', args: [], timeoutSec: 30 } });
  await sql`update jobs set created_at = now() - interval '2 hours' where id = ${deployJob}`;
  await tick();
  assert.equal((await jobRow(deployJob)).status, 'queued');
});
