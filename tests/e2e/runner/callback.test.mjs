// runner-callback (API.md §5) driven by hand: signatures (wrong, missing, stale), unknown
// jobs and fields, replays, finished jobs, out-of-order reports that must never move a
// machine backwards. Jobs are written into the database with next_attempt_at an hour away,
// so no delivery ever sends them to the stack's runner. Also: who may run the scheduler.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { env } from '../lib/env.mjs';
import { fn, ok, fails, signIn } from '../lib/api.mjs';
import { machineRow, counts, rows, sql, assertMachine } from '../lib/machines.mjs';
import { callback, signature, nowSecs, insertMachine, insertJob, jobRow, machineStatus, getJob } from '../lib/runner.mjs';

let user, machineId, createJob;

before(async () => {
  user = await signIn();
  machineId = await insertMachine(user.user.id);
  createJob = await insertJob(machineId, user.user.id, 'create');
});

/** What a refused callback must leave alone. */
async function snapshot(jobId, mid = machineId) {
  const j = await jobRow(jobId);
  const m = await machineRow(mid);
  return { job: [j.status, j.updated_at, j.result, j.error], machine: [m.status, m.updated_at, m.ip_address], counts: await counts(mid) };
}

const ts = (offsetMs = 0) => new Date(Date.now() + offsetMs).toISOString();
const runnerLogs = (mid, jobId) =>
  rows`select level, source, details, created_at from machine_events where machine_id = ${mid}
        and event_type = 'runner.log' and details ->> 'jobId' = ${jobId} order by created_at, id`;

test('a wrong, tampered, malformed, missing, stale or future signature → 401 invalid_token, nothing changes', async () => {
  const before = await snapshot(createJob);
  const body = { jobId: createJob, status: 'running', logs: [{ level: 'info', message: 'should not land', ts: ts() }] };
  const raw = JSON.stringify(body);
  const cases = {
    'wrong secret': { header: signature(raw, nowSecs(), 'not-the-runner-secret') },
    'signature of another body': { header: signature(JSON.stringify({ ...body, status: 'succeeded' })) },
    'malformed header': { header: 't=abc,v1=zz' },
    'no v1': { header: `t=${nowSecs()}` },
    'missing header': { header: null },
    'stale (t = now - 400)': { t: nowSecs() - 400 },
    'from the future (t = now + 400)': { t: nowSecs() + 400 },
  };
  for (const [label, opts] of Object.entries(cases)) {
    const res = await callback(raw, opts);
    assert.equal(res.status, 401, `${label}: ${res.status} ${res.text}`);
    fails(res, 401, 'invalid_token');
  }
  assert.deepEqual(await snapshot(createJob), before, 'nothing changed');
  // A signature 290 s old is still fresh.
  const fresh = await callback({ jobId: createJob, status: 'running' }, { t: nowSecs() - 290 });
  assert.equal(ok(fresh).applied, true, 'a 290 s old signature is accepted');
  assert.equal((await jobRow(createJob)).status, 'running');
});

test('an unknown job → 404 not_found; a malformed jobId, an unknown status or field → 400 naming it; nothing changes', async () => {
  const before = await snapshot(createJob);
  fails(await callback({ jobId: randomUUID(), status: 'running' }), 404, 'not_found');
  fails(await callback({ jobId: 'nope', status: 'running' }), 400, 'validation_error', 'jobId');
  fails(await callback({ jobId: createJob, status: 'done' }), 400, 'validation_error', 'status');
  fails(await callback({ jobId: createJob, status: 'running', extra: 1 }), 400, 'validation_error', 'extra');
  fails(await callback({ status: 'running' }), 400, 'validation_error', 'jobId');
  fails(await callback({ jobId: createJob, status: 'succeeded', outputs: { ipAddress: '203.0.113.9', region: 'x' } }), 400, 'validation_error');
  fails(await callback({ jobId: createJob, status: 'running', logs: [{ message: 'm', colour: 'red' }] }), 400, 'validation_error');
  fails(await callback({ jobId: createJob, status: 'succeeded', result: 'not an object' }), 400, 'validation_error', 'result');
  fails(await callback('{"jobId":', {}), 400, 'invalid_json');
  assert.deepEqual(await snapshot(createJob), before, 'nothing changed');
});

let running; // { raw, header } of the applied running report

test('running with logs → 200 applied, the lines become runner.log events; the identical request again → applied:false, no new events', async () => {
  const t1 = ts(-2000);
  const t2 = ts(-1000);
  const res = await callback({
    jobId: createJob, status: 'running',
    logs: [{ level: 'info', message: 'aws_instance.this: Creating...', ts: t1 }, { level: 'warn', message: 'Warning: slow API', ts: t2 }],
  });
  const data = ok(res);
  assert.equal(data.applied, true, JSON.stringify(data));
  running = res;
  assert.equal((await jobRow(createJob)).status, 'running');
  assert.equal((await machineRow(machineId)).status, 'provisioning', 'running does not move the machine');

  const logs = await runnerLogs(machineId, createJob);
  assert.deepEqual(logs.map((l) => [l.level, l.source, l.details.message]), [
    ['info', 'runner', 'aws_instance.this: Creating...'],
    ['warn', 'runner', 'Warning: slow API'],
  ]);
  assert.equal(Date.parse(logs[0].created_at), Date.parse(t1), 'an event is dated by its line\'s ts');

  const before = await snapshot(createJob);
  const replay = await callback(running.raw, { header: running.header });
  const again = ok(replay);
  assert.equal(again.applied, false, `a replay is not applied: ${JSON.stringify(again)}`);
  assert.deepEqual(await snapshot(createJob), before, 'a replay changes nothing');
  assert.equal((await runnerLogs(machineId, createJob)).length, 2, 'no second set of events');
});

test('succeeded with outputs → the machine is running with them; a late running or failed → applied:false, machine unchanged', async () => {
  const res = ok(await callback({
    jobId: createJob, status: 'succeeded', outputs: { ipAddress: '203.0.113.7', providerInstanceId: 'i-0abc123' },
    logs: [{ level: 'info', message: 'Apply complete!', ts: ts() }], result: { note: 'created' },
  }));
  assert.equal(res.applied, true, JSON.stringify(res));
  const m = assertMachine(await machineStatus(user, machineId));
  assert.equal(m.status, 'running');
  assert.equal(m.ipAddress, '203.0.113.7');
  assert.equal(m.providerInstanceId, 'i-0abc123');
  assert.ok(m.lastStarted, 'lastStarted is set');
  assert.equal(m.pendingJob, null);
  const job = await getJob(user, createJob);
  assert.equal(job.status, 'succeeded');
  assert.deepEqual(job.result, { note: 'created' });

  const before = await snapshot(createJob);
  const late = ok(await callback({ jobId: createJob, status: 'running', logs: [{ level: 'info', message: 'late line', ts: ts() }] }));
  assert.equal(late.applied, false, `a late running is not applied: ${JSON.stringify(late)}`);
  const lateFail = ok(await callback({ jobId: createJob, status: 'failed', error: 'too late' }));
  assert.equal(lateFail.applied, false, `a failed after succeeded is not applied: ${JSON.stringify(lateFail)}`);
  assert.deepEqual(await snapshot(createJob), before, 'machine, job and events unchanged');
  const again = await machineStatus(user, machineId);
  assert.equal(again.status, 'running');
  assert.equal(again.lastStarted, m.lastStarted);
});

test('succeeded for a stop job of a machine that is meanwhile terminating → it stays terminating (never backwards)', async () => {
  const stopJob = await insertJob(machineId, user.user.id, 'stop');
  await sql`update machines set status = 'stopping' where id = ${machineId}`;
  assert.equal(ok(await callback({ jobId: stopJob, status: 'running' })).applied, true);
  await sql`update machines set status = 'terminating' where id = ${machineId}`;
  const before = await machineRow(machineId);
  const res = ok(await callback({ jobId: stopJob, status: 'succeeded' }));
  assert.equal(res.applied, true, 'the job itself is finished');
  assert.equal((await jobRow(stopJob)).status, 'succeeded');
  const after = await machineRow(machineId);
  assert.equal(after.status, 'terminating', 'the machine stays terminating');
  assert.equal(after.last_stopped, before.last_stopped, 'lastStopped untouched');

  // The terminate job that the machine is waiting on moves it; a start reported later does not.
  const terminateJob = await insertJob(machineId, user.user.id, 'terminate');
  ok(await callback({ jobId: terminateJob, status: 'succeeded' }));
  const gone = await machineRow(machineId);
  assert.equal(gone.status, 'terminated');
  assert.ok(gone.last_stopped, 'terminate sets lastStopped');
  const startJob = await insertJob(machineId, user.user.id, 'start');
  ok(await callback({ jobId: startJob, status: 'succeeded', outputs: { ipAddress: '198.51.100.1', providerInstanceId: 'i-other' } }));
  const still = await machineRow(machineId);
  assert.equal(still.status, 'terminated', 'a late start never revives a terminated machine');
  assert.equal(still.ip_address, '203.0.113.7', 'outputs are not written to a terminated machine');
  assert.equal(still.last_started, gone.last_started);
});

test('failed → the job fails, the machine is error, a job.failed event (error, runner) with the error text', async () => {
  const mid = await insertMachine(user.user.id);
  const jobId = await insertJob(mid, user.user.id, 'create');
  const res = ok(await callback({
    jobId, status: 'failed', error: 'terraform apply failed (exit 1): quota exceeded',
    logs: [{ level: 'error', message: 'Error: quota exceeded', ts: ts() }],
  }));
  assert.equal(res.applied, true);
  const job = await jobRow(jobId);
  assert.equal(job.status, 'failed');
  assert.equal(job.error, 'terraform apply failed (exit 1): quota exceeded');
  assert.equal((await machineRow(mid)).status, 'error');
  const [failed, ...more] = await rows`select level, source, details from machine_events where machine_id = ${mid} and event_type = 'job.failed'`;
  assert.equal(more.length, 0, 'one job.failed event');
  assert.equal(failed.level, 'error');
  assert.equal(failed.source, 'runner');
  assert.equal(failed.details.jobId, jobId);
  assert.equal(failed.details.error, job.error);
  const logs = await runnerLogs(mid, jobId);
  assert.deepEqual(logs.map((l) => [l.level, l.details.message]), [['error', 'Error: quota exceeded']]);
});

test('scheduler over HTTP: a user token → 403 forbidden, no token → 401, the service key → 200 with the tick\'s counts', async () => {
  fails(await fn('scheduler', { method: 'POST', token: user.accessToken }), 403, 'forbidden');
  fails(await fn('scheduler', { method: 'POST', token: env.SUPABASE_ANON_KEY }), 403, 'forbidden');
  fails(await fn('scheduler', { method: 'POST' }), 401, 'unauthorized');
  const res = await fn('scheduler', { method: 'GET', token: env.SUPABASE_SERVICE_ROLE_KEY });
  fails(res, 405, 'method_not_allowed');
  const data = ok(await fn('scheduler', { method: 'POST', token: env.SUPABASE_SERVICE_ROLE_KEY }));
  for (const k of ['claimed', 'delivered', 'refused']) assert.ok(Number.isInteger(data[k]) && data[k] >= 0, `${k}: ${JSON.stringify(data)}`);
  assert.equal(data.claimed, data.delivered + data.refused, JSON.stringify(data));
});
