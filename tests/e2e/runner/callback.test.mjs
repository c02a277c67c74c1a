// runner-callback (API.md §5) driven by hand: signatures (wrong, missing, stale), unknown
// jobs and fields, claims and their fencing, replays, finished jobs, out-of-order reports
// that must never move a machine backwards. Jobs are written into the database with next_attempt_at an hour away,
// so no delivery ever sends them to the stack's runner. Also: who may run the scheduler.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { env } from '../lib/env.mjs';
import { fn, ok, fails, signIn } from '../lib/api.mjs';
import { machineRow, counts, rows, sql, value, assertMachine } from '../lib/machines.mjs';
import { callback, claim, signature, nowSecs, insertMachine, insertJob, jobRow, machineStatus, getJob } from '../lib/runner.mjs';

let user, machineId, createJob, fence;

before(async () => {
  user = await signIn();
  machineId = await insertMachine(user.user.id);
  createJob = await insertJob(machineId, user.user.id, 'create');
  ({ fence } = await claim(createJob));
});

/** Claims a job and returns its fence (a report needs it). */
const fenceOf = async (jobId) => (await claim(jobId)).fence;

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
  const body = { jobId: createJob, status: 'running', fence, logs: [{ level: 'info', message: 'should not land', ts: ts() }] };
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
  const fresh = await callback({ jobId: createJob, status: 'running', fence }, { t: nowSecs() - 290 });
  assert.equal(ok(fresh).applied, true, 'a 290 s old signature is accepted');
  assert.equal((await jobRow(createJob)).status, 'running');
});

test('an unknown job → 404 not_found; a malformed jobId, an unknown status or field → 400 naming it; nothing changes', async () => {
  const before = await snapshot(createJob);
  fails(await callback({ jobId: randomUUID(), status: 'running', fence: 1 }), 404, 'not_found');
  fails(await callback({ jobId: randomUUID(), status: 'claimed', runnerId: 'r1' }), 404, 'not_found');
  fails(await callback({ jobId: 'nope', status: 'running', fence }), 400, 'validation_error', 'jobId');
  fails(await callback({ jobId: createJob, status: 'done', fence }), 400, 'validation_error', 'status');
  fails(await callback({ jobId: createJob, status: 'running', fence, extra: 1 }), 400, 'validation_error', 'extra');
  fails(await callback({ status: 'running', fence }), 400, 'validation_error', 'jobId');
  fails(await callback({ jobId: createJob, status: 'running' }), 400, 'validation_error', 'fence');
  fails(await callback({ jobId: createJob, status: 'running', fence: -1 }), 400, 'validation_error', 'fence');
  fails(await callback({ jobId: createJob, status: 'running', fence, runnerId: 'r1' }), 400, 'validation_error', 'runnerId');
  fails(await callback({ jobId: createJob, status: 'claimed' }), 400, 'validation_error', 'runnerId');
  fails(await callback({ jobId: createJob, status: 'claimed', runnerId: 'r1', fence }), 400, 'validation_error', 'fence');
  fails(await callback({ jobId: createJob, status: 'claimed', runnerId: 'no spaces' }), 400, 'validation_error', 'runnerId');
  fails(await callback({ jobId: createJob, status: 'succeeded', fence, outputs: { ipAddress: '203.0.113.9', region: 'x' } }), 400, 'validation_error');
  fails(await callback({ jobId: createJob, status: 'running', fence, logs: [{ message: 'm', colour: 'red' }] }), 400, 'validation_error');
  fails(await callback({ jobId: createJob, status: 'succeeded', fence, result: 'not an object' }), 400, 'validation_error', 'result');
  fails(await callback('{"jobId":', {}), 400, 'invalid_json');
  assert.deepEqual(await snapshot(createJob), before, 'nothing changed');
});

let running; // { raw, header } of the applied running report

test('running with logs → 200 applied, the lines become runner.log events; the identical request again → applied:false, no new events', async () => {
  const t1 = ts(-2000);
  const t2 = ts(-1000);
  const res = await callback({
    jobId: createJob, status: 'running', fence,
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
    jobId: createJob, status: 'succeeded', fence, outputs: { ipAddress: '203.0.113.7', providerInstanceId: 'i-0abc123' },
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
  const late = ok(await callback({ jobId: createJob, status: 'running', fence, logs: [{ level: 'info', message: 'late line', ts: ts() }] }));
  assert.equal(late.applied, false, `a late running is not applied: ${JSON.stringify(late)}`);
  const lateFail = ok(await callback({ jobId: createJob, status: 'failed', fence, error: 'too late' }));
  assert.equal(lateFail.applied, false, `a failed after succeeded is not applied: ${JSON.stringify(lateFail)}`);
  const claimAgain = await claim(createJob, { runnerId: 'another-runner' });
  assert.deepEqual([claimAgain.claimed, claimAgain.reason], [false, 'finished'], 'a finished job is never claimed again');
  assert.deepEqual(await snapshot(createJob), before, 'machine, job and events unchanged');
  const again = await machineStatus(user, machineId);
  assert.equal(again.status, 'running');
  assert.equal(again.lastStarted, m.lastStarted);
});

test('succeeded for a stop job of a machine that is meanwhile terminating → it stays terminating (never backwards)', async () => {
  const stopJob = await insertJob(machineId, user.user.id, 'stop');
  await sql`update machines set status = 'stopping' where id = ${machineId}`;
  const stopFence = await fenceOf(stopJob);
  assert.equal(ok(await callback({ jobId: stopJob, status: 'running', fence: stopFence })).applied, true);
  await sql`update machines set status = 'terminating' where id = ${machineId}`;
  const before = await machineRow(machineId);
  const res = ok(await callback({ jobId: stopJob, status: 'succeeded', fence: stopFence }));
  assert.equal(res.applied, true, 'the job itself is finished');
  assert.equal((await jobRow(stopJob)).status, 'succeeded');
  const after = await machineRow(machineId);
  assert.equal(after.status, 'terminating', 'the machine stays terminating');
  assert.equal(after.last_stopped, before.last_stopped, 'lastStopped untouched');

  // The terminate job that the machine is waiting on moves it; a start reported later does not.
  const terminateJob = await insertJob(machineId, user.user.id, 'terminate');
  ok(await callback({ jobId: terminateJob, status: 'succeeded', fence: await fenceOf(terminateJob) }));
  const gone = await machineRow(machineId);
  assert.equal(gone.status, 'terminated');
  assert.ok(gone.last_stopped, 'terminate sets lastStopped');
  // A start handed over before the delete, arriving late: never claimed (settled failed,
  // "machine was terminated"), so no report of it can count; a terminate again has nothing to do.
  const startJob = await insertJob(machineId, user.user.id, 'start');
  const refused = await claim(startJob);
  assert.deepEqual([refused.claimed, refused.reason, refused.status], [false, 'terminated', 'failed'], JSON.stringify(refused));
  assert.equal((await jobRow(startJob)).error, 'machine was terminated');
  fails(await callback({ jobId: startJob, status: 'succeeded', fence: 1, outputs: { ipAddress: '198.51.100.1', providerInstanceId: 'i-other' } }), 409, 'conflict');
  const again = await insertJob(machineId, user.user.id, 'terminate');
  const nothing = await claim(again);
  assert.deepEqual([nothing.claimed, nothing.reason, nothing.status], [false, 'terminated', 'succeeded']);
  const still = await machineRow(machineId);
  assert.equal(still.status, 'terminated', 'a late start never revives a terminated machine');
  assert.equal(still.ip_address, '203.0.113.7', 'outputs are not written to a terminated machine');
  assert.equal(still.last_started, gone.last_started);
});

test('failed → the job fails, the machine is error, a job.failed event (error, runner) with the error text', async () => {
  const mid = await insertMachine(user.user.id);
  const jobId = await insertJob(mid, user.user.id, 'create');
  const res = ok(await callback({
    jobId, status: 'failed', fence: await fenceOf(jobId), error: 'terraform apply failed (exit 1): quota exceeded',
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
  for (const k of ['claimed', 'delivered', 'refused', 'timedOut', 'requeued']) assert.ok(Number.isInteger(data[k]) && data[k] >= 0, `${k}: ${JSON.stringify(data)}`);
  assert.equal(data.claimed, data.delivered + data.refused, JSON.stringify(data));
});

test('claims: one lease at a time, fenced reports; the same runner asking again keeps its claim', async () => {
  const mid = await insertMachine(user.user.id, { status: 'stopping' });
  const jobId = await insertJob(mid, user.user.id, 'stop');
  const a = await claim(jobId, { runnerId: 'runner-a' });
  assert.equal(a.claimed, true, JSON.stringify(a));
  assert.ok(Number.isInteger(a.fence) && a.fence >= 1 && a.leaseSeconds > 0, JSON.stringify(a));
  const row = await jobRow(jobId);
  assert.deepEqual([row.status, row.claimed_by, Number(row.fence)], ['running', 'runner-a', a.fence]);
  const leaseEnd = Date.parse(row.lease_expires_at);
  assert.ok(leaseEnd > Date.now() + (a.leaseSeconds - 10) * 1000, 'the lease runs job_lease_seconds');
  // Another runner while the lease is live: not its job.
  const b = await claim(jobId, { runnerId: 'runner-b' });
  assert.deepEqual([b.claimed, b.reason], [false, 'leased']);
  // runner-a again (a retry whose answer it lost): the same claim.
  const again = await claim(jobId, { runnerId: 'runner-a' });
  assert.deepEqual([again.claimed, again.fence], [true, a.fence]);
  // A report renews the lease.
  ok(await callback({ jobId, status: 'running', fence: a.fence }));
  assert.ok(Date.parse((await jobRow(jobId)).lease_expires_at) >= leaseEnd);

  // The lease runs out (moved into the past, as time would) and runner-b takes over: from
  // then on runner-a's reports are 409 and change nothing, not even a receipt.
  await sql`update jobs set lease_expires_at = now() - interval '1 second' where id = ${jobId}`;
  const taken = await claim(jobId, { runnerId: 'runner-b' });
  assert.deepEqual([taken.claimed, taken.fence], [true, a.fence + 1]);
  const before = await snapshot(jobId, mid);
  const receipts = Number(await value`select count(*) from callback_receipts where job_id = ${jobId}`);
  const stale = await callback({ jobId, status: 'succeeded', fence: a.fence, logs: [{ level: 'info', message: 'stale', ts: ts() }] });
  fails(stale, 409, 'conflict');
  fails(await callback({ jobId, status: 'running', fence: a.fence + 7 }), 409, 'conflict');
  assert.deepEqual(await snapshot(jobId, mid), before, 'a stale report changes nothing');
  assert.equal(Number(await value`select count(*) from callback_receipts where job_id = ${jobId}`), receipts);
  // runner-b's final report counts, and ends the lease.
  assert.equal(ok(await callback({ jobId, status: 'succeeded', fence: taken.fence })).applied, true);
  const done = await jobRow(jobId);
  assert.deepEqual([done.status, done.lease_expires_at], ['succeeded', null]);
  assert.equal((await machineRow(mid)).status, 'stopped');
});

test('claims: the jobs of a machine run in order (busy while an earlier one is not done)', async () => {
  const mid = await insertMachine(user.user.id, { status: 'running' });
  const first = await insertJob(mid, user.user.id, 'restart');
  const second = await insertJob(mid, user.user.id, 'stop');
  const early = await claim(second, { runnerId: 'runner-b' });
  assert.deepEqual([early.claimed, early.reason], [false, 'busy'], 'the earlier restart is still queued');
  const f = (await claim(first, { runnerId: 'runner-a' })).fence;
  assert.equal((await claim(second, { runnerId: 'runner-b' })).reason, 'busy', 'and now running');
  ok(await callback({ jobId: first, status: 'succeeded', fence: f }));
  assert.equal((await claim(second, { runnerId: 'runner-b' })).claimed, true, 'free once it is done');
});
