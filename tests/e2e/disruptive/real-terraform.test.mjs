// The provisioning engine with the real Terraform (API.md §5): three runners of our own in
// terraform mode on the test module (terraform/test: terraform_data + a local-exec that
// sleeps, so that an apply is in flight), their state in the stack's Postgres (the `pg`
// backend, one workspace per machine). Jobs are handed to our runners as the Workers would
// (marked dispatched, sent signed, delivered), because the stack's own runners (simulate)
// are stopped for the whole file: the Workers' deliveries to them fail and leave the jobs
// to us, while the scheduler's tick still reaps.
//
// Disruptive: the stack's runners are down, and job_lease_seconds is 6 (restored after) so
// that a killed runner's leases run out within the test.
//
// HANGAR_TF_CREATES (default 60) creates in the first test, HANGAR_TF_APPLY_SECONDS (2) each.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env, ROOT } from '../lib/env.mjs';
import { ok, signIn } from '../lib/api.mjs';
import { act, sql, rows, value, setMachineLimit, machineRow } from '../lib/machines.mjs';
import {
  spawnRunner, sendWebhook, insertMachine, insertJob, deliveryBody, newAgentToken, waitFor, jobRow,
  stopRunner, startRunner, tick,
} from '../lib/runner.mjs';

const CREATES = Number(process.env.HANGAR_TF_CREATES || 60);
const APPLY_SECONDS = process.env.HANGAR_TF_APPLY_SECONDS || '2';
const LEASE = 6;
const SCHEMA = 'terraform_state';
// lib/pq (Terraform's driver) asks for TLS unless told otherwise; the local cluster has none.
const STATE_URL = `${env.DATABASE_URL}${env.DATABASE_URL.includes('?') ? '&' : '?'}sslmode=disable`;

let tmp, user, runners = [], leaseBefore;

before(async () => {
  await stopRunner();
  leaseBefore = Number(await value`select value from private.settings where name = 'job_lease_seconds'`);
  await sql`update private.settings set value = ${LEASE} where name = 'job_lease_seconds'`;
  user = await signIn();
  await setMachineLimit(user.user.id, 1000);
  tmp = mkdtempSync(join(tmpdir(), 'hangar-e2e-real-tf-'));
  runners = await Promise.all([0, 1, 2].map((i) => startTerraformRunner(i)));
});

after(async () => {
  await Promise.all(runners.map((r) => r.stop()));
  if (leaseBefore) await sql`update private.settings set value = ${leaseBefore} where name = 'job_lease_seconds'`;
  await startRunner();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function startTerraformRunner(i) {
  return spawnRunner({
    RUNNER_MODE: 'terraform',
    RUNNER_ID: `tf-${i}`,
    TERRAFORM_BIN: process.env.TERRAFORM_BIN || 'terraform',
    TF_CLI_CONFIG_FILE: '/dev/null',
    RUNNER_MODULES_DIR: join(ROOT, 'terraform', 'test'),
    RUNNER_STATE_DATABASE_URL: STATE_URL,
    RUNNER_STATE_SCHEMA: SCHEMA,
    RUNNER_WORKDIR: join(tmp, `runner-${i}`),
    RUNNER_CONCURRENCY: '8',
    RUNNER_LOG_FLUSH_MS: '500',
    HANGAR_TEST_APPLY_SECONDS: APPLY_SECONDS,
  });
}

/** Hands a job to `runner` as the Workers do: dispatched, sent signed, delivered (2xx). */
async function handOver(jobId, runner, extra = {}) {
  await sql`update jobs set status = 'dispatched' where id = ${jobId} and status = 'queued'`;
  const res = await sendWebhook(runner.url, await deliveryBody(jobId, extra));
  assert.equal(res.status, 202, `${runner.url} takes ${jobId}: ${res.status} ${res.text}`);
  await sql`select public.hangar_delivery_result(p_job_id => ${jobId}, p_ok => true, p_max_attempts => 5, p_retry_base_ms => 200)`;
}

/** A machine of ours with its create job (not delivered yet). */
async function newMachine() {
  const machineId = await insertMachine(user.user.id);
  const jobId = await insertJob(machineId, user.user.id, 'create');
  return { machineId, jobId };
}

const jobsOf = (ids) => rows`select id, status, error, claimed_by, fence::int as fence from jobs where id in ${sql(ids)}`;

/** The machine's Terraform state (the pg backend's row of its workspace), parsed. */
async function stateOf(machineId) {
  const [row] = await sql`select data from ${sql(SCHEMA)}.states where name = ${machineId}`;
  return row ? JSON.parse(row.data) : null;
}

/** { "<module>.<type>.<name>": instances } of a state. */
const instancesOf = (state) => Object.fromEntries((state?.resources ?? []).map((r) => [`${r.module ?? ''}.${r.type}.${r.name}`, r.instances.length]));
const WHOLE = { 'module.machine.terraform_data.instance': 1, 'module.machine.terraform_data.power': 1 };

/** The Terraform state locks held (the pg backend's are advisory locks). */
const stateLocks = () => value`select count(*)::int from pg_locks where locktype = 'advisory'`;

const finished = (j) => j.status === 'succeeded' || j.status === 'failed';

let survivors = []; // machines that reached running, for the later tests

test(`${CREATES} creates over 3 runners, one killed with SIGKILL mid-apply: all running, one instance each, no lock left, none run twice`, { timeout: 600000 }, async () => {
  const made = await Promise.all(Array.from({ length: CREATES }, newMachine));
  const ids = made.map((m) => m.jobId);
  await Promise.all(made.map((m, i) => handOver(m.jobId, runners[i % 3], { agentToken: newAgentToken() })));

  // Runner 0 dies while Terraform applies for it (its jobs claimed and running).
  await waitFor(() => jobsOf(ids), (js) => js.filter((j) => j.claimed_by === 'tf-0' && j.status === 'running').length >= 3,
    { timeoutMs: 120000, intervalMs: 100, what: 'runner tf-0 to be applying' });
  runners[0].child.kill('SIGKILL');
  const atKill = await jobsOf(ids);
  const orphaned = atKill.filter((j) => !finished(j) && (j.claimed_by === 'tf-0' || made.findIndex((m) => m.jobId === j.id) % 3 === 0));
  assert.ok(orphaned.length >= 3, `jobs left with the dead runner: ${orphaned.length}`);

  // Every other job finishes on its own runner.
  const others = ids.filter((id) => !orphaned.some((o) => o.id === id));
  const done = await waitFor(() => jobsOf(others), (js) => js.every(finished), { timeoutMs: 300000, intervalMs: 500, what: 'the live runners\' jobs' });
  assert.deepEqual(done.filter((j) => j.status !== 'succeeded'), [], 'they all succeeded');

  // The dead runner's leases run out; the scheduler's reaper re-queues its jobs (its
  // delivery to the stack's runners fails: they are down), and we hand them to the others.
  await new Promise((r) => setTimeout(r, (LEASE + 1) * 1000));
  await tick();
  const requeued = await waitFor(() => jobsOf(orphaned.map((o) => o.id)), (js) => js.every((j) => j.status === 'queued'),
    { timeoutMs: 20000, what: 'the reaper to re-queue the dead runner\'s jobs', intervalMs: 500 });
  const events = Number(await value`select count(*) from machine_events where event_type = 'job.requeued'
    and details ->> 'jobId' in ${sql(orphaned.map((o) => o.id))}`);
  assert.equal(events, orphaned.length, 'a job.requeued event each');
  await Promise.all(requeued.map((j, i) => handOver(j.id, runners[1 + (i % 2)])));
  const all = await waitFor(() => jobsOf(ids), (js) => js.every(finished), { timeoutMs: 300000, intervalMs: 500, what: 'every create' });
  assert.deepEqual(all.filter((j) => j.status !== 'succeeded').map((j) => [j.id, j.error]), [], 'every create succeeded');

  for (const m of made) {
    const row = await machineRow(m.machineId);
    assert.equal(row.status, 'running', `machine ${m.machineId}`);
    assert.match(row.provider_instance_id, /^tfdata-/, 'the outputs of the test module');
    assert.deepEqual(instancesOf(await stateOf(m.machineId)), WHOLE, `one instance of each resource in ${m.machineId}'s state`);
  }
  // Not run twice: a job the dead runner held was claimed once more (fence 2), every
  // other once; no instance was made twice (the states above), none created twice in logs.
  for (const j of all) {
    const wasOrphan = orphaned.some((o) => o.id === j.id);
    assert.ok(wasOrphan ? j.fence <= 2 : j.fence === 1, `job ${j.id} fence ${j.fence} (orphaned: ${wasOrphan})`);
    assert.ok(['tf-1', 'tf-2'].includes(j.claimed_by), `finished by a live runner: ${j.claimed_by}`);
  }
  const created = await rows`select details ->> 'jobId' as job, count(*)::int as n from machine_events
    where event_type = 'runner.log' and details ->> 'message' like 'module.machine.terraform_data.instance: Creation complete%'
      and machine_id in ${sql(made.map((m) => m.machineId))} group by 1 having count(*) > 1`;
  assert.deepEqual(created, [], 'no instance reported created twice');
  // The killed runner's Terraform processes (orphans) finish their applies and let go.
  await waitFor(stateLocks, (n) => n === 0, { timeoutMs: 60000, intervalMs: 500, what: 'every state lock to be released' });
  survivors = made;
});

test('a delete racing a create on another runner: the terminate waits for the create, then destroys everything it made', { timeout: 120000 }, async () => {
  const { machineId, jobId } = await newMachine();
  await handOver(jobId, runners[1], { agentToken: newAgentToken() });
  await waitFor(() => jobRow(jobId), (j) => j.status === 'running', { timeoutMs: 60000, intervalMs: 50, what: 'the create to be claimed' });
  // The user deletes it mid-apply: the create is cancelled, a terminate queued (whose
  // delivery to the stack's runners fails), and handed to the other runner.
  const deleted = ok(await act(user, 'delete', machineId), 202);
  assert.equal(deleted.status, 'terminating');
  const [terminate] = await rows`select id from jobs where machine_id = ${machineId} and action = 'terminate'`;
  await handOver(terminate.id, runners[2]);
  const t = await waitFor(() => jobRow(terminate.id), finished, { timeoutMs: 90000, intervalMs: 250, what: 'the terminate' });
  assert.equal(t.status, 'succeeded', t.error);
  assert.equal(t.claimed_by, 'tf-2');
  assert.equal((await machineRow(machineId)).status, 'terminated');
  assert.deepEqual(instancesOf(await stateOf(machineId)), {}, 'nothing left in the state');
  // The create's final report ended its lease; only then could the terminate be claimed.
  assert.equal((await jobRow(jobId)).lease_expires_at, null);
});

test('the runner\'s whole working directory deleted between two jobs: the next job finds the state in Postgres', { timeout: 120000 }, async () => {
  assert.ok(survivors.length, 'machines of the first test');
  const { machineId } = survivors[1];
  const before = await stateOf(machineId);
  const instanceId = before.resources.find((r) => r.name === 'instance').instances[0].attributes.id;
  rmSync(join(tmp, 'runner-1'), { recursive: true, force: true });
  const stopped = ok(await act(user, 'stop', machineId), 202);
  assert.equal(stopped.status, 'stopping');
  const [stop] = await rows`select id from jobs where machine_id = ${machineId} and action = 'stop'`;
  await handOver(stop.id, runners[1]);
  const j = await waitFor(() => jobRow(stop.id), finished, { timeoutMs: 90000, intervalMs: 250, what: 'the stop' });
  assert.equal(j.status, 'succeeded', j.error);
  assert.equal((await machineRow(machineId)).status, 'stopped');
  const after = await stateOf(machineId);
  assert.equal(after.resources.find((r) => r.name === 'instance').instances[0].attributes.id, instanceId, 'the same instance');
  assert.equal(after.resources.find((r) => r.name === 'power').instances[0].attributes.input.value, 'stopped');
  assert.ok(after.serial > before.serial, 'the state moved on from where it was');
});
