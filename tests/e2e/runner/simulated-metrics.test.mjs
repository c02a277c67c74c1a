// The simulate runner's agents (runner/src/agent.rs; issue 9, "Metrics": the simulate-mode
// runner's machines report samples through the real record-metrics path, so insights has
// data in `make dev`). A runner in simulate mode posts a sample for each machine it has
// running, every SIMULATE_METRICS_INTERVAL, with the agent token of the machine's create
// job, to the compiled record-metrics Worker of the stack; insights reads them back. A
// stopped machine reports nothing until it is started again (the token is the create's: a
// start job carries none); a terminated one never again. Agent tokens never reach the log.
//
// The stack's own runner runs with the agents off (tests/stack/runner.mjs: with an agent
// per running machine, record-metrics was most of the suite's traffic, and the tenants'
// snapshots of security/ saw samples arrive), so this file runs a simulate runner of its
// own (RUNNER_BIN, 1 s interval) and hands it the jobs, written into the database, as the
// Workers' delivery would (runner/terraform.test.mjs does the same in Terraform mode); its
// reports go to the stack's runner-callback, its samples to the stack's record-metrics.
//
// record-metrics counts its rate limit per agent token (per machine), not per address:
// machines behind one NAT do not throttle each other (shared/src/http/rate_limit.rs). That
// test starts a record-metrics Worker of its own with a small limit, as
// account/rate-limits.test.mjs does for the others.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { fn, ok, fails, signIn, show } from '../lib/api.mjs';
import { env, ROOT } from '../lib/env.mjs';
import { act, sql, value } from '../lib/machines.mjs';
import { spawnRunner, sendWebhook, insertMachine, insertJob, deliveryBody, jobRow, waitFor, waitForStatus } from '../lib/runner.mjs';
import { setAgentToken, sample } from '../lib/billing.mjs';

let user, tmp, workdir, runner;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'hangar-e2e-agents-'));
  workdir = join(tmp, 'work');
  runner = await spawnRunner({ RUNNER_MODE: 'simulate', RUNNER_WORKDIR: workdir, RUNNER_SIM_DELAY_MS: '20', SIMULATE_METRICS_INTERVAL: '1' });
  user = await signIn();
});

after(async () => {
  await runner?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Writes a job into the database (moving the machine to `status` first) and hands it to our runner. */
async function deliver(machineId, action, status, extra = {}) {
  if (status) await sql`update machines set status = ${status} where id = ${machineId}`;
  const jobId = await insertJob(machineId, user.user.id, action);
  const res = await sendWebhook(runner.url, await deliveryBody(jobId, extra));
  assert.equal(res.status, 202, `our runner takes the job: ${res.status} ${res.text}`);
  const job = await waitFor(() => jobRow(jobId), (j) => j.status === 'succeeded' || j.status === 'failed', { timeoutMs: 20000, what: `job ${jobId} to finish` });
  assert.equal(job.status, 'succeeded', `${action}: ${JSON.stringify(job)}`);
  return jobId;
}

const samplesOf = (machineId) => value`select count(*)::int from machine_metrics where machine_id = ${machineId}`;
/** Waits until the machine has at least `n` samples; returns the count. */
const waitSamples = (machineId, n, what) =>
  waitFor(() => samplesOf(machineId), (c) => c >= n, { timeoutMs: 30000, intervalMs: 200, what: `${n} samples of ${what}` });
const agentFile = (machineId) => join(workdir, 'agents', `${machineId}.json`);

/** insights of `machineId` and the same aggregates computed in SQL over machine_metrics. */
async function insightsAndSql(machineId, period = '1h', bucket = 60) {
  const data = ok(await fn('insights', { token: user.accessToken, query: { machineId, period } }));
  const { from, to } = data;
  const buckets = await sql`
    select to_char(date_bin(make_interval(secs => ${bucket}::int), recorded_at, ${from}::timestamptz) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as at,
      count(*)::int as n, round(avg(cpu), 2)::float8 as cpu, round(avg(memory), 2)::float8 as memory, round(avg(disk), 2)::float8 as disk,
      round(avg(net_in))::float8 as net_in, round(avg(net_out))::float8 as net_out
    from machine_metrics where machine_id = ${machineId} and recorded_at > ${from}::timestamptz and recorded_at <= ${to}::timestamptz
    group by 1 order by 1`;
  const [summary] = await sql`
    select count(*)::int as samples, round(avg(cpu), 2)::float8 as cpu_avg, max(cpu)::float8 as cpu_max,
      max(memory)::float8 as mem_max, max(disk)::float8 as disk_max, max(net_in)::float8 as in_max, max(net_out)::float8 as out_max
    from machine_metrics where machine_id = ${machineId} and recorded_at > ${from}::timestamptz and recorded_at <= ${to}::timestamptz`;
  return { data, buckets, summary };
}

test('a running simulated machine posts samples through record-metrics, insights shows them, a stopped one posts none', { timeout: 120000 }, async () => {
  const [mId, controlId] = await Promise.all([insertMachine(user.user.id), insertMachine(user.user.id)]);
  // The tokens the delivery would generate (their hashes on the machines, as it records them).
  const [token, controlToken] = await Promise.all([setAgentToken(mId), setAgentToken(controlId)]);
  await Promise.all([deliver(mId, 'create', null, { agentToken: token }), deliver(controlId, 'create', null, { agentToken: controlToken })]);
  const m = await waitForStatus(user, mId, 'running', { timeoutMs: 10000 });
  await waitForStatus(user, controlId, 'running', { timeoutMs: 10000 });

  // Samples arrive, right after the machine runs and then at the interval.
  await waitSamples(mId, 3, 'the running machine');
  const stored = await sql`select cpu::float8, memory::float8, disk::float8, net_in::float8, net_out::float8, recorded_at, owner_id
    from machine_metrics where machine_id = ${mId} order by recorded_at`;
  for (const r of stored) {
    for (const k of ['cpu', 'memory', 'disk']) assert.ok(r[k] >= 0 && r[k] <= 100, `${k} in range: ${JSON.stringify(r)}`);
    assert.ok(Number.isInteger(r.net_in) && r.net_in >= 0 && Number.isInteger(r.net_out) && r.net_out >= 0, JSON.stringify(r));
    assert.equal(r.owner_id, user.user.id);
    assert.ok(new Date(r.recorded_at).getTime() >= Date.parse(m.lastStarted) - 1000, 'posted once the machine runs');
  }
  assert.ok(new Set(stored.map((r) => JSON.stringify([r.cpu, r.memory, r.net_in]))).size > 1, `samples vary like a machine's load: ${JSON.stringify(stored)}`);

  // The token is kept private in the runner's working directory, and never logged.
  assert.equal(statSync(agentFile(mId)).mode & 0o777, 0o600, 'the kept token is private to the runner');
  assert.equal(JSON.parse(readFileSync(agentFile(mId), 'utf8')).token, token, 'the create job\'s agent token');
  const log = JSON.stringify(runner.lines) + runner.stderr.join('\n');
  assert.ok(!log.includes(token) && !log.includes(controlToken), 'no agent token in the runner\'s log');
  assert.ok(runner.lines.some((l) => l.event === 'agent_started' && l.machineId === mId), 'the runner logs the agent it started');

  // Stop: the agent stops before the stop job runs, so once the machine is stopped nothing
  // more arrives, while the control machine's agent keeps posting.
  await deliver(mId, 'stop', 'stopping');
  await waitForStatus(user, mId, 'stopped', { timeoutMs: 10000 });
  const atStop = await samplesOf(mId);
  const controlNow = await samplesOf(controlId);
  await waitSamples(controlId, controlNow + 3, 'the control machine');
  assert.equal(await samplesOf(mId), atStop, 'no sample after the machine stopped');
  assert.ok(runner.lines.some((l) => l.event === 'agent_stopped' && l.machineId === mId && l.reason === 'stop'), 'the runner logs why the agent stopped');

  // insights (its samples settled now): a non-empty series whose values are the rows' aggregates.
  const { data, buckets, summary } = await insightsAndSql(mId);
  assert.ok(data.series.length > 0, `a non-empty series: ${JSON.stringify(data)}`);
  assert.deepEqual(
    data.series.map((p) => [p.recordedAt, p.samples, p.cpuUsage, p.memoryUsage, p.diskUsage, p.networkIn, p.networkOut]),
    buckets.map((b) => [b.at, b.n, b.cpu, b.memory, b.disk, b.net_in, b.net_out]),
    'series = machine_metrics, bucket by bucket',
  );
  assert.equal(data.summary.samples, summary.samples);
  assert.equal(data.summary.samples, atStop, 'every sample of the machine is in the hour');
  assert.deepEqual(
    [data.summary.cpu.avg, data.summary.cpu.max, data.summary.memory.max, data.summary.disk.max, data.summary.networkIn.max, data.summary.networkOut.max],
    [summary.cpu_avg, summary.cpu_max, summary.mem_max, summary.disk_max, summary.in_max, summary.out_max],
    'summary = machine_metrics',
  );

  // Start again (the start job carries no token): the create's token is used again.
  await deliver(mId, 'start', 'starting');
  await waitForStatus(user, mId, 'running', { timeoutMs: 10000 });
  await waitSamples(mId, atStop + 2, 'the started machine');

  // Terminate: a terminated machine posts nothing, and its token is forgotten.
  await deliver(controlId, 'terminate', 'terminating');
  await waitForStatus(user, controlId, 'terminated', { timeoutMs: 10000 });
  const controlAtEnd = await samplesOf(controlId);
  await waitSamples(mId, (await samplesOf(mId)) + 3, 'the running machine');
  assert.equal(await samplesOf(controlId), controlAtEnd, 'no sample after terminate');
  assert.equal(statSync(agentFile(controlId), { throwIfNoEntry: false }), undefined, 'the terminated machine\'s token is forgotten');
  await deliver(mId, 'terminate', 'terminating');
});

// ---- the rate limit of record-metrics counts per machine ------------------------------------------

const LIMIT = 3;
let mf;
let base;

after(async () => {
  await mf?.dispose();
});

async function limitedWorker() {
  process.chdir(ROOT); // workerd wants module paths below its starting directory
  mf = new Miniflare({
    host: '127.0.0.1',
    port: 0,
    workers: [{
      name: 'record-metrics',
      modules: true,
      scriptPath: 'functions/record-metrics/build/entry.js',
      modulesRoot: 'functions/record-metrics/build',
      modulesRules: [{ type: 'ESModule', include: ['**/*.js'] }, { type: 'CompiledWasm', include: ['**/*.wasm'] }],
      routes: ['*/functions/v1/record-metrics*'],
      compatibilityDate: '2026-07-01',
      bindings: { ...env },
      ratelimits: { RATE_LIMITER: { namespace_id: 'agents', simple: { limit: LIMIT, period: 60 } } },
    }],
  });
  base = (await mf.ready).toString().replace(/\/$/, '');
}

const post = async (token, ip) => {
  const res = await fetch(`${base}/functions/v1/record-metrics`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'cf-connecting-ip': ip },
    body: JSON.stringify(sample()),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, json, text };
};

test('record-metrics counts its rate limit per machine once its token is verified: agents behind one address do not throttle each other', { timeout: 120000 }, async () => {
  await limitedWorker();
  // Machines in the database only (no runner job): their agent tokens are the test's.
  const owner = await signIn();
  const ids = await Promise.all([0, 1].map(async () => {
    const m = ok(await fn('create-machine', { token: owner.accessToken, body: { name: `nat-${Math.random().toString(36).slice(2, 8)}` } }), 201);
    return m.id;
  }));
  const [a, b] = await Promise.all(ids.map((id) => setAgentToken(id)));
  // Miniflare counts in fixed windows of the wall clock's minutes: start with 20 s left.
  const left = 60000 - (Date.now() % 60000);
  if (left < 20000) await new Promise((r) => setTimeout(r, left + 100));
  const nat = `198.51.100.${1 + Math.floor(Math.random() * 250)}`;
  // A token counts on the address until the database has accepted it once (its first
  // sample), then on itself (API.md §1): LIMIT + 1 samples pass.
  for (let i = 0; i < LIMIT + 1; i++) assert.equal((await post(a, nat)).status, 202, `machine A, sample ${i + 1}`);
  const over = await post(a, nat);
  fails(over, 429, 'rate_limited');
  assert.equal(over.headers.get('retry-after'), '60');
  // Machine B, same address: its own count.
  for (let i = 0; i < LIMIT + 1; i++) {
    const res = await post(b, nat);
    assert.equal(res.status, 202, `machine B behind the same address, sample ${i + 1}: ${show(res)}`);
  }
  // Machine A from another address is still machine A.
  fails(await post(a, '192.0.2.77'), 429, 'rate_limited');
  await Promise.all(ids.map((id) => act(owner, 'delete', id)));
});
