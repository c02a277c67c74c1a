// cancel-job (API.md §5, "Cancelling"): a deploy or command job no runner holds fails at
// once; one a runner is running is marked, the answer to the runner's next report says
// `cancel`, and the runner interrupts it and reports it failed; a finished or lifecycle job
// is 409; another user's is 404; also straight through /rpc.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fn, ok, fails, signIn, rest } from '../lib/api.mjs';
import { rows } from '../lib/machines.mjs';
import {
  callback, claim, insertMachine, insertJob, jobRow, deliveryBody, sendWebhook, spawnRunner, waitFor,
} from '../lib/runner.mjs';

let user, other, tmp, runner;
before(async () => {
  [user, other] = await Promise.all([signIn(), signIn()]);
  tmp = mkdtempSync(join(tmpdir(), 'hangar-e2e-cancel-'));
  // A runner of our own whose command takes 10 minutes (simulated): only a cancel ends it.
  runner = await spawnRunner({ RUNNER_MODE: 'simulate', RUNNER_WORKDIR: tmp, RUNNER_SIM_DELAY_MS: '600000' });
});
after(async () => {
  await runner?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const cancel = (u, jobId) => fn('cancel-job', { token: u.accessToken, body: { jobId } });
const commandParams = { command: 'sleep', args: ['600'], timeoutSec: 900 };

test('a queued command fails at once, cancelled; again, or a lifecycle job → 409; another user → 404', async () => {
  const mid = await insertMachine(user.user.id, { status: 'running' });
  const jobId = await insertJob(mid, user.user.id, 'command', { params: commandParams });
  fails(await cancel(other, jobId), 404, 'not_found');
  assert.equal((await jobRow(jobId)).status, 'queued', 'another user changed nothing');
  const job = ok(await cancel(user, jobId));
  assert.deepEqual([job.id, job.status, job.error], [jobId, 'failed', 'cancelled']);
  const [ev] = await rows`select details, source from machine_events where machine_id = ${mid} and event_type = 'job.cancelled'`;
  assert.deepEqual([ev.details.jobId, ev.source], [jobId, 'user']);
  fails(await cancel(user, jobId), 409, 'conflict');
  const lifecycle = await insertJob(mid, user.user.id, 'restart');
  fails(await cancel(user, lifecycle), 409, 'conflict');
  fails(await fn('cancel-job', { token: user.accessToken, body: { jobId: 'nope' } }), 400, 'validation_error', 'jobId');
  // A claim of it now: finished, never run.
  assert.equal((await claim(jobId)).reason, 'finished');
  // /rpc holds the same rule (the caller's own token, straight to PostgREST).
  const rpc = await rest('/rpc/hangar_cancel_job', { token: other.accessToken, method: 'POST', body: { p_job_id: lifecycle } });
  assert.equal(rpc.status, 200);
  assert.equal(rpc.json.ok, false);
  assert.equal(rpc.json.error, 'not_found');
});

test('a running command: marked, the runner is told in its next report\'s answer, interrupts it and reports failed', { timeout: 60000 }, async () => {
  const mid = await insertMachine(user.user.id, { status: 'running', ipAddress: '192.0.2.44' });
  const jobId = await insertJob(mid, user.user.id, 'command', { params: commandParams });
  const res = await sendWebhook(runner.url, await deliveryBody(jobId));
  assert.equal(res.status, 202, res.text);
  await waitFor(() => jobRow(jobId), (j) => j.status === 'running' && j.claimed_by, { what: 'our runner to claim the command' });
  const marked = ok(await cancel(user, jobId));
  assert.equal(marked.status, 'running', 'still running until its runner stops it');
  assert.ok((await jobRow(jobId)).cancel_requested_at);
  // The runner's heartbeat comes within a third of the lease (20 s) and is answered cancel.
  const done = await waitFor(() => jobRow(jobId), (j) => j.status === 'failed', { timeoutMs: 45000, intervalMs: 250, what: 'the runner to interrupt the command' });
  assert.match(done.error, /cancelled/);
  assert.ok(runner.lines.some((l) => l.event === 'job_interrupted' && l.jobId === jobId), 'the runner interrupted it');
  const [ev] = await rows`select details from machine_events where machine_id = ${mid} and event_type = 'job.cancel_requested'`;
  assert.equal(ev.details.jobId, jobId);
});

test('a report\'s answer says cancel once cancel-job marked its job', async () => {
  const mid = await insertMachine(user.user.id, { status: 'running' });
  const jobId = await insertJob(mid, user.user.id, 'deploy', {
    params: { deploymentId: '6e603a27-0dc1-484d-a15e-5a13e402ded0', name: 'eth', version: '1', settings: {} },
  });
  const { fence } = await claim(jobId);
  assert.equal(ok(await callback({ jobId, status: 'running', fence })).cancel, false);
  ok(await cancel(user, jobId));
  assert.equal(ok(await callback({ jobId, status: 'running', fence })).cancel, true);
});
