// Provisioning through the stack's runner in simulate mode (API.md §5): every transition is
// delivered, run and reported back; deploy-protocol and send-command; simulated failures.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { fn, ok, fails, signIn, UUID_RE } from '../lib/api.mjs';
import { setMachineLimit } from '../lib/machines.mjs';
import { createMachine, act, assertMachine, assertJob, assertEvent, sql, rows, counts, jobsOf } from '../lib/machines.mjs';
import {
  startRunner, waitForStatus, waitForJob, getJob, logsOf, machineStatus, insertMachine, percentile,
} from '../lib/runner.mjs';

const SIM_IP = /^192\.0\.2\.(\d{1,3})$/;
const SIM_ID = /^sim-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let user, other;

before(async () => {
  await startRunner(); // a no-op when it runs; a file before this one may have left it down
  [user, other] = await Promise.all([signIn(), signIn()]);
  // More machines than the default limit of 10 (API.md §1).
  await setMachineLimit(user.user.id, 1000);
});

const deploy = (u, body) => fn('deploy-protocol', { token: u.accessToken, body });
const command = (u, body) => fn('send-command', { token: u.accessToken, body });

/** A machine of `user` that the runner has brought to `running`. */
async function runningMachine(body = {}) {
  const m = await createMachine(user, body);
  return waitForStatus(user, m.id, 'running');
}

/** start/stop/restart/delete → 202 in `moving`, then the runner's `final`; returns [machine, job]. */
async function transition(m, action, moving, final) {
  const res = await act(user, action, m.id);
  const moved = assertMachine(ok(res, 202));
  assert.equal(moved.status, moving, `${action} answers the machine in ${moving}`);
  assert.ok(moved.pendingJob, `${action}: pendingJob is set`);
  const done = await waitForStatus(user, m.id, final);
  const job = assertJob(await waitForJob(user, moved.pendingJob.id));
  assert.equal(job.status, 'succeeded', `${action} job: ${JSON.stringify(job)}`);
  assert.equal(job.error, null);
  assert.equal(done.pendingJob, null, `${action}: no pending job once ${final}`);
  return [assertMachine(done), job];
}

// ---- create and the lifecycle --------------------------------------------------------------

let lifecycle; // the machine of the two tests below

test('create → running: simulated outputs, lastStarted, the create job succeeded, runner.log events', { timeout: 30000 }, async () => {
  const created = assertMachine(await createMachine(user));
  assert.equal(created.status, 'provisioning');
  assert.equal(created.pendingJob?.action, 'create');
  const m = assertMachine(await waitForStatus(user, created.id, 'running'));
  const ip = SIM_IP.exec(m.ipAddress ?? '');
  assert.ok(ip && Number(ip[1]) >= 1 && Number(ip[1]) <= 254, `ipAddress in 192.0.2.0/24: ${m.ipAddress}`);
  assert.match(m.providerInstanceId ?? '', SIM_ID, 'providerInstanceId sim-<uuid>');
  assert.ok(m.lastStarted, 'lastStarted is set');
  assert.ok(Date.parse(m.lastStarted) >= Date.parse(m.createdAt), 'lastStarted after createdAt');
  assert.equal(m.lastStopped, null);
  assert.equal(m.pendingJob, null);

  const job = assertJob(await getJob(user, created.pendingJob.id));
  assert.equal(job.machineId, m.id);
  assert.equal(job.action, 'create');
  assert.equal(job.status, 'succeeded');
  assert.equal(job.error, null);
  assert.equal(job.attempts, 1, 'delivered once, at request time');

  const events = (await logsOf(user, m.id)).map(assertEvent);
  const logs = events.filter((e) => e.eventType === 'runner.log');
  assert.ok(logs.length >= 3, `runner.log events: ${JSON.stringify(events.map((e) => e.eventType))}`);
  for (const e of logs) {
    assert.equal(e.source, 'runner');
    assert.equal(typeof e.details?.message, 'string', `details.message: ${JSON.stringify(e)}`);
    assert.equal(e.details.jobId, job.id, 'runner.log names its job');
  }
  const messages = logs.map((e) => e.details.message);
  assert.ok(messages.some((s) => s.startsWith('simulate: provisioning')), `messages: ${JSON.stringify(messages)}`);
  assert.ok(messages.some((s) => s.includes(m.ipAddress)), 'the address is logged');
  const succeeded = events.filter((e) => e.eventType === 'job.succeeded');
  assert.equal(succeeded.length, 1, 'one job.succeeded event');
  assert.equal(succeeded[0].details?.jobId, job.id);
  lifecycle = m;
});

test('stop → stopped, start → running, restart → running, delete → terminated; each job succeeded', { timeout: 60000 }, async () => {
  assert.ok(lifecycle, 'the machine of the previous test');
  let m = lifecycle;
  const [stopped, stopJob] = await transition(m, 'stop', 'stopping', 'stopped');
  assert.equal(stopJob.action, 'stop');
  assert.ok(stopped.lastStopped, 'lastStopped is set');
  assert.ok(Date.parse(stopped.lastStopped) >= Date.parse(m.lastStarted), 'lastStopped after lastStarted');
  assert.equal(stopped.lastStarted, m.lastStarted, 'stop leaves lastStarted');
  assert.equal(stopped.ipAddress, m.ipAddress, 'the address is kept');
  assert.equal(stopped.providerInstanceId, m.providerInstanceId, 'the instance is kept');
  m = stopped;

  const [started, startJob] = await transition(m, 'start', 'starting', 'running');
  assert.equal(startJob.action, 'start');
  assert.ok(Date.parse(started.lastStarted) > Date.parse(m.lastStarted), `start moves lastStarted: ${m.lastStarted} → ${started.lastStarted}`);
  assert.equal(started.lastStopped, m.lastStopped, 'start leaves lastStopped');
  m = started;

  const [restarted, restartJob] = await transition(m, 'restart', 'restarting', 'running');
  assert.equal(restartJob.action, 'restart');
  assert.ok(Date.parse(restarted.lastStarted) > Date.parse(m.lastStarted), `restart moves lastStarted: ${m.lastStarted} → ${restarted.lastStarted}`);
  m = restarted;

  const [gone, terminateJob] = await transition(m, 'delete', 'terminating', 'terminated');
  assert.equal(terminateJob.action, 'terminate');
  assert.ok(Date.parse(gone.lastStopped) > Date.parse(m.lastStopped), 'terminate moves lastStopped');

  const jobs = await jobsOf(m.id);
  assert.deepEqual(jobs.map((j) => [j.action, j.status]), [
    ['create', 'succeeded'], ['stop', 'succeeded'], ['start', 'succeeded'], ['restart', 'succeeded'], ['terminate', 'succeeded'],
  ]);
  const events = await logsOf(user, m.id);
  assert.equal(events.filter((e) => e.eventType === 'job.succeeded').length, 5, 'a job.succeeded event per job');
  assert.equal(events.filter((e) => e.level === 'error').length, 0, 'no error events');
});

// ---- deploy-protocol and send-command ------------------------------------------------------------

let target; // a running machine for deploy and command

test('deploy-protocol on a running machine → 202, the job succeeds with the deploy result, the deployment is deployed', { timeout: 30000 }, async () => {
  target = await runningMachine();
  const settings = { network: 'holesky', peers: 25 };
  const data = ok(await deploy(user, { machineId: target.id, protocolConfig: { name: 'geth', version: '1.14.0', settings } }), 202);
  assert.match(data.deploymentId ?? '', UUID_RE, 'deploymentId');
  const queued = assertJob(data.job);
  assert.equal(queued.action, 'deploy');
  assert.equal(queued.machineId, target.id);

  const job = assertJob(await waitForJob(user, queued.id));
  assert.equal(job.status, 'succeeded', JSON.stringify(job));
  assert.deepEqual(job.result, { protocol: 'geth', version: '1.14.0', status: 'deployed' });

  const [d] = await rows`select * from protocol_deployments where id = ${data.deploymentId}`;
  assert.ok(d, 'the protocol_deployments row exists');
  assert.equal(d.status, 'deployed');
  assert.equal(d.job_id, queued.id);
  assert.equal(d.machine_id, target.id);
  assert.equal(d.owner_id, user.user.id);
  assert.equal(d.name, 'geth');
  assert.equal(d.version, '1.14.0');
  assert.deepEqual(d.settings, settings);

  const after = await machineStatus(user, target.id);
  assert.equal(after.status, 'running', 'deploy leaves the machine running');
  assert.equal(after.pendingJob, null);
});

test('deploy-protocol: a 64-character name of letters, digits and ._- is accepted', { timeout: 30000 }, async () => {
  assert.ok(target, 'the running machine of the previous test');
  const name = `a.b_c-${'x'.repeat(58)}`;
  const data = ok(await deploy(user, { machineId: target.id, protocolConfig: { name, version: 'v2' } }), 202);
  const job = await waitForJob(user, data.job.id);
  assert.equal(job.status, 'succeeded', JSON.stringify(job));
  assert.deepEqual(job.result, { protocol: name, version: 'v2', status: 'deployed' });
  const [d] = await rows`select status, name, settings from protocol_deployments where id = ${data.deploymentId}`;
  assert.equal(d?.status, 'deployed');
  assert.deepEqual(d.settings, {}, 'settings omitted → the column default {}');
});

test('deploy-protocol: a name with spaces ("My Protocol", API.md §3) is deployed; spaces at either end, or in the version, are 400', { timeout: 30000 }, async () => {
  assert.ok(target, 'the running machine of the previous tests');
  const data = ok(await deploy(user, { machineId: target.id, protocolConfig: { name: 'My Protocol', version: '1.0' } }), 202);
  const job = await waitForJob(user, data.job.id);
  assert.equal(job.status, 'succeeded', JSON.stringify(job));
  assert.deepEqual(job.result, { protocol: 'My Protocol', version: '1.0', status: 'deployed' });
  for (const [protocolConfig, field] of [[{ name: ' lead', version: '1' }, 'protocolConfig.name'], [{ name: 'trail ', version: '1' }, 'protocolConfig.name'],
    [{ name: '. dot', version: '1' }, 'protocolConfig.name'], [{ name: 'ok', version: '1 0' }, 'protocolConfig.version']]) {
    fails(await deploy(user, { machineId: target.id, protocolConfig }), 400, 'validation_error', field);
  }
});

test('send-command → 202, the job\'s result holds exitCode, stdout and stderr', { timeout: 30000 }, async () => {
  assert.ok(target, 'the running machine');
  const data = ok(await command(user, { machineId: target.id, command: 'uptime', args: ['-p', 'two words'], timeoutSec: 30 }), 202);
  assert.deepEqual(Object.keys(data), ['job']);
  const queued = assertJob(data.job);
  assert.equal(queued.action, 'command');
  const job = await waitForJob(user, queued.id);
  assert.equal(job.status, 'succeeded', JSON.stringify(job));
  assert.deepEqual(job.result, { exitCode: 0, stdout: 'simulated: uptime -p two words', stderr: '' });

  const bare = ok(await command(user, { machineId: target.id, command: 'hostname' }), 202);
  const job2 = await waitForJob(user, bare.job.id);
  assert.deepEqual(job2.result, { exitCode: 0, stdout: 'simulated: hostname', stderr: '' });
  assert.equal((await machineStatus(user, target.id)).status, 'running');
});

test('deploy-protocol and send-command on a machine that is not running → 409, nothing queued', { timeout: 30000 }, async () => {
  const m = await runningMachine();
  await transition(m, 'stop', 'stopping', 'stopped');
  const provisioning = await insertMachine(user.user.id, { status: 'provisioning' });
  const errored = await insertMachine(user.user.id, { status: 'error' });
  for (const [id, status, allowed] of [[m.id, 'stopped', ['start', 'delete']], [provisioning, 'provisioning', ['delete']], [errored, 'error', ['start', 'delete']]]) {
    const before = await counts(id);
    const j1 = fails(await deploy(user, { machineId: id, protocolConfig: { name: 'geth', version: '1' } }), 409, 'invalid_state_transition');
    assert.equal(j1.details?.status, status, JSON.stringify(j1));
    assert.deepEqual(j1.details?.allowed, allowed, JSON.stringify(j1));
    const j2 = fails(await command(user, { machineId: id, command: 'ls' }), 409, 'invalid_state_transition');
    assert.equal(j2.details?.status, status);
    assert.deepEqual(await counts(id), before, `no job and no event for the ${status} machine`);
    assert.equal(await rows`select id from protocol_deployments where machine_id = ${id}`.then((r) => r.length), 0, 'no deployment row');
  }
});

test('deploy-protocol and send-command: body validation → 400 naming the field; unknown or foreign machine → 404', { timeout: 30000 }, async () => {
  assert.ok(target, 'the running machine');
  const id = target.id;
  const before = await counts(id);
  const d = (body) => deploy(user, body);
  const pc = (over) => ({ machineId: id, protocolConfig: { name: 'geth', version: '1.0', ...over } });
  fails(await d({ machineId: id }), 400, 'validation_error', 'protocolConfig');
  fails(await d({ protocolConfig: { name: 'geth', version: '1' } }), 400, 'validation_error', 'machineId');
  fails(await d({ machineId: 'nope', protocolConfig: { name: 'geth', version: '1' } }), 400, 'validation_error', 'machineId');
  fails(await d(pc({ name: '' })), 400, 'validation_error', 'protocolConfig.name');
  fails(await d(pc({ name: ' leading space' })), 400, 'validation_error', 'protocolConfig.name');
  fails(await d(pc({ name: '../etc' })), 400, 'validation_error', 'protocolConfig.name');
  fails(await d(pc({ name: 'n'.repeat(65) })), 400, 'validation_error', 'protocolConfig.name');
  fails(await d(pc({ name: 7 })), 400, 'validation_error', 'protocolConfig.name');
  fails(await d(pc({ version: '' })), 400, 'validation_error', 'protocolConfig.version');
  fails(await d(pc({ version: '1;rm -rf /' })), 400, 'validation_error', 'protocolConfig.version');
  fails(await d({ machineId: id, protocolConfig: { name: 'geth' } }), 400, 'validation_error', 'protocolConfig.version');
  fails(await d(pc({ settings: 'x' })), 400, 'validation_error', 'protocolConfig.settings');
  fails(await d(pc({ extra: 1 })), 400, 'validation_error', 'protocolConfig.extra');
  fails(await d({ ...pc({}), force: true }), 400, 'validation_error', 'force');

  const c = (over) => command(user, { machineId: id, command: 'ls', ...over });
  fails(await command(user, { machineId: id }), 400, 'validation_error', 'command');
  fails(await c({ command: '' }), 400, 'validation_error', 'command');
  fails(await c({ command: 'a\nb' }), 400, 'validation_error', 'command');
  fails(await c({ command: 5 }), 400, 'validation_error', 'command');
  fails(await c({ args: 'x' }), 400, 'validation_error', 'args');
  fails(await c({ args: [1] }), 400, 'validation_error', 'args[0]');
  fails(await c({ args: ['ok', 'a\nb'] }), 400, 'validation_error', 'args[1]');
  fails(await c({ args: Array.from({ length: 65 }, (_, i) => `w${i}`) }), 400, 'validation_error', 'args');
  fails(await c({ timeoutSec: 0 }), 400, 'validation_error', 'timeoutSec');
  fails(await c({ timeoutSec: 3601 }), 400, 'validation_error', 'timeoutSec');
  fails(await c({ timeoutSec: 1.5 }), 400, 'validation_error', 'timeoutSec');
  fails(await c({ timeoutSec: '30' }), 400, 'validation_error', 'timeoutSec');
  fails(await c({ env: { A: '1' } }), 400, 'validation_error', 'env');
  fails(await command(user, { command: 'ls' }), 400, 'validation_error', 'machineId');
  assert.deepEqual(await counts(id), before, 'refused bodies queue nothing');

  fails(await d({ machineId: randomUUID(), protocolConfig: { name: 'geth', version: '1' } }), 404, 'not_found');
  fails(await command(user, { machineId: randomUUID(), command: 'ls' }), 404, 'not_found');
  fails(await deploy(other, { machineId: id, protocolConfig: { name: 'geth', version: '1' } }), 404, 'not_found');
  fails(await command(other, { machineId: id, command: 'ls' }), 404, 'not_found');
  fails(await fn('send-command', { body: { machineId: id, command: 'ls' } }), 401, 'unauthorized');
  assert.deepEqual(await counts(id), before, 'refused calls queue nothing');
});

// ---- simulated failures -----------------------------------------------------------------------------

test('simulateFailure on create → the job fails, the machine is error, a job.failed event (error)', { timeout: 30000 }, async () => {
  const created = await createMachine(user, { configuration: { simulateFailure: true } });
  const m = await waitForStatus(user, created.id, 'error');
  assert.equal(m.pendingJob, null);
  assert.equal(m.ipAddress, null, 'nothing was provisioned');
  assert.equal(m.lastStarted, null);
  const job = await getJob(user, created.pendingJob.id);
  assert.equal(job.status, 'failed');
  assert.match(job.error ?? '', /simulateFailure/, `job.error: ${job.error}`);

  const events = await logsOf(user, m.id);
  const failed = events.filter((e) => e.eventType === 'job.failed');
  assert.equal(failed.length, 1, `one job.failed event: ${JSON.stringify(events.map((e) => e.eventType))}`);
  assert.equal(failed[0].level, 'error');
  assert.equal(failed[0].source, 'runner');
  assert.equal(failed[0].details?.jobId, job.id);
  assert.equal(failed[0].details?.action, 'create');
  assert.equal(failed[0].details?.error, job.error);
  const errorLogs = events.filter((e) => e.eventType === 'runner.log' && e.level === 'error');
  assert.ok(errorLogs.some((e) => /simulateFailure/.test(e.details?.message)), 'the runner\'s error line is an error-level runner.log');
});

test('simulateFailure limited to "start": create and stop succeed, start fails → error; start again is allowed from error', { timeout: 30000 }, async () => {
  const m = await runningMachine({ configuration: { simulateFailure: 'start' } });
  await transition(m, 'stop', 'stopping', 'stopped');
  const res = assertMachine(ok(await act(user, 'start', m.id), 202));
  const errored = await waitForStatus(user, m.id, 'error');
  const job = await getJob(user, res.pendingJob.id);
  assert.equal(job.status, 'failed');
  assert.equal(job.action, 'start');
  assert.ok(errored.lastStopped, 'lastStopped kept');
  const again = assertMachine(ok(await act(user, 'start', m.id), 202));
  assert.equal(again.status, 'starting', 'start is allowed from error');
  await waitForStatus(user, m.id, 'error');
});

test('a failed deploy or command → the job and the deployment fail, the machine stays running', { timeout: 30000 }, async () => {
  const m = await runningMachine({ configuration: { simulateFailure: ['deploy', 'command'] } });
  const d = ok(await deploy(user, { machineId: m.id, protocolConfig: { name: 'geth', version: '1' } }), 202);
  const dj = await waitForJob(user, d.job.id);
  assert.equal(dj.status, 'failed', JSON.stringify(dj));
  assert.match(dj.error ?? '', /simulateFailure/);
  const [row] = await rows`select status from protocol_deployments where id = ${d.deploymentId}`;
  assert.equal(row?.status, 'failed', 'the deployment is failed');
  const c = ok(await command(user, { machineId: m.id, command: 'ls' }), 202);
  const cj = await waitForJob(user, c.job.id);
  assert.equal(cj.status, 'failed', JSON.stringify(cj));
  const after = await machineStatus(user, m.id);
  assert.equal(after.status, 'running', 'a failed deploy or command does not put the machine in error');
  assert.equal(after.pendingJob, null);
  const failed = (await logsOf(user, m.id)).filter((e) => e.eventType === 'job.failed');
  assert.deepEqual(failed.map((e) => e.details?.action).sort(), ['command', 'deploy'], 'a job.failed event for each');
});

// ---- the figure -----------------------------------------------------------------------------------------

test('figure: create → running for 10 machines created in parallel', { timeout: 60000 }, async () => {
  const n = 10;
  const t0 = Date.now();
  const times = await Promise.all(Array.from({ length: n }, async () => {
    const start = Date.now();
    const m = await createMachine(user);
    await waitForStatus(user, m.id, 'running', { timeoutMs: 30000, intervalMs: 50 });
    return { id: m.id, ms: Date.now() - start };
  }));
  const wall = Date.now() - t0;
  const ids = times.map((t) => t.id);
  const db = await rows`select extract(epoch from (last_started - created_at)) * 1000 as ms from machines where id in ${sql(ids)}`;
  const dbMs = db.map((r) => Number(r.ms));
  const ms = times.map((t) => t.ms);
  console.log(`figure: create→running p50=${percentile(ms, 50)}ms max=${Math.max(...ms)}ms n=${n} ` +
    `(request to observed running, polling 50 ms; database created_at→last_started p50=${Math.round(percentile(dbMs, 50))}ms ` +
    `max=${Math.round(Math.max(...dbMs))}ms; all ${n} running after ${wall}ms)`);
  assert.equal(dbMs.length, n);
});
