// The provisioning engine's figures (README "Figures"): time from create to `running` and
// creates per second that reach `running`, with 1 and with 3 runners, in simulate mode
// with a fixed apply delay and in terraform mode on the test module (terraform/test, the
// `pg` backend on the stack's Postgres); and how long the reaper takes to give a dead
// runner's jobs to another.
//
// Run by scripts/bench.sh inside the stack (`stack.mjs test tests/bench/engine.mjs`); not
// part of `make test`. Jobs are written into the database and handed to our runners as the
// Workers would (marked dispatched, sent signed, delivered), so that only the engine is
// measured: claim, run, report, the callback's transaction.
//
// Env: BENCH_ENGINE_N (creates per run, default 30), BENCH_APPLY_SECONDS (2), BENCH_OUT,
// BENCH_ENGINE_SKIP_CREATES=1 (the takeover only).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env, ROOT } from '../e2e/lib/env.mjs';
import { signIn } from '../e2e/lib/api.mjs';
import { setMachineLimit, sql, rows, value } from '../e2e/lib/machines.mjs';
import { deliveryBody, insertJob, insertMachine, newAgentToken, percentile, sendWebhook, spawnRunner, stopRunner, startRunner, tick, waitFor } from '../e2e/lib/runner.mjs';

const N = Number(process.env.BENCH_ENGINE_N || 30);
const APPLY_SECONDS = Number(process.env.BENCH_APPLY_SECONDS || 2);
const say = (m) => process.stderr.write(`[bench] ${m}\n`);
const STATE_URL = `${env.DATABASE_URL}${env.DATABASE_URL.includes('?') ? '&' : '?'}sslmode=disable`;
const tmp = mkdtempSync(join(tmpdir(), 'hangar-bench-engine-'));

function runnerOf(mode, i, applySeconds = APPLY_SECONDS) {
  const common = { RUNNER_MODE: mode, RUNNER_ID: `bench-${mode}-${i}`, RUNNER_WORKDIR: join(tmp, `${mode}-${i}-${Date.now()}`), RUNNER_CONCURRENCY: '8' };
  if (mode === 'simulate') {
    // A create is three simulated steps: the apply delay in all.
    return spawnRunner({ ...common, RUNNER_CONCURRENCY: '16', RUNNER_SIM_DELAY_MS: String(Math.round((applySeconds * 1000) / 3)), SIMULATE_METRICS_INTERVAL: '0' });
  }
  return spawnRunner({
    ...common, TERRAFORM_BIN: process.env.TERRAFORM_BIN || 'terraform', TF_CLI_CONFIG_FILE: '/dev/null',
    RUNNER_MODULES_DIR: join(ROOT, 'terraform', 'test'), RUNNER_STATE_DATABASE_URL: STATE_URL,
    HANGAR_TEST_APPLY_SECONDS: String(APPLY_SECONDS),
  });
}

async function handOver(jobId, runner, extra = {}) {
  await sql`update jobs set status = 'dispatched' where id = ${jobId} and status = 'queued'`;
  const res = await sendWebhook(runner.url, await deliveryBody(jobId, extra));
  if (res.status !== 202) throw new Error(`${runner.url}: ${res.status} ${res.text}`);
  await sql`select public.hangar_delivery_result(p_job_id => ${jobId}, p_ok => true, p_max_attempts => 5, p_retry_base_ms => 200)`;
}

/** N creates handed to `runners` in turn, all at once; the figures of their way to running. */
async function creates(user, runners) {
  const made = [];
  for (let i = 0; i < N; i++) {
    const machineId = await insertMachine(user.user.id);
    made.push({ machineId, jobId: await insertJob(machineId, user.user.id, 'create') });
  }
  const t0 = Date.now();
  await Promise.all(made.map((m, i) => handOver(m.jobId, runners[i % runners.length], { agentToken: newAgentToken() })));
  const ids = made.map((m) => m.machineId);
  await waitFor(() => rows`select status from machines where id in ${sql(ids)}`, (ms) => ms.every((m) => m.status === 'running' || m.status === 'error'),
    { timeoutMs: 900000, intervalMs: 200, what: 'every create to end' });
  const done = await rows`select m.status, extract(epoch from m.last_started) * 1000 as up, extract(epoch from j.created_at) * 1000 as made
    from machines m join jobs j on j.machine_id = m.id and j.action = 'create' where m.id in ${sql(ids)}`;
  const failed = done.filter((d) => d.status !== 'running').length;
  if (failed) throw new Error(`${failed} of ${N} creates failed`);
  const latencies = done.map((d) => Number(d.up) - Math.max(Number(d.made), t0));
  const span = (Math.max(...done.map((d) => Number(d.up))) - t0) / 1000;
  return { n: N, p50Ms: Math.round(percentile(latencies, 50)), p99Ms: Math.round(percentile(latencies, 99)), createsPerSec: Number((N / span).toFixed(2)), spanSec: Number(span.toFixed(1)) };
}

/** A runner with N jobs claimed is killed; how long until another runner has claimed them all. */
async function takeover(user, lease) {
  // a's creates take a minute: it dies with all ten claimed and running.
  const [a, b] = [await runnerOf('simulate', 'a', 60), await runnerOf('simulate', 'b')];
  const made = [];
  for (let i = 0; i < 10; i++) {
    const machineId = await insertMachine(user.user.id);
    made.push(await insertJob(machineId, user.user.id, 'create'));
  }
  await Promise.all(made.map((id) => handOver(id, a, { agentToken: newAgentToken() })));
  await waitFor(() => rows`select status from jobs where id in ${sql(made)}`, (js) => js.every((j) => j.status === 'running'), { timeoutMs: 30000, what: 'the claims' });
  a.child.kill('SIGKILL');
  const killed = Date.now();
  // The scheduler's cron, once a second here (every minute on Cloudflare).
  for (;;) {
    await tick();
    const queued = await rows`select id from jobs where id in ${sql(made)} and status = 'queued'`;
    await Promise.all(queued.map((j) => handOver(j.id, b)));
    const claimed = Number(await value`select count(*) from jobs where id in ${sql(made)} and claimed_by = ${'bench-simulate-b'}`);
    if (claimed === made.length) break;
    if (Date.now() - killed > (lease + 60) * 1000) throw new Error('no takeover');
    await new Promise((r) => setTimeout(r, 1000));
  }
  const seconds = (Date.now() - killed) / 1000;
  await b.stop();
  return { lease, tickEverySec: 1, jobs: made.length, takeoverSec: Number(seconds.toFixed(1)) };
}

const results = { applySeconds: APPLY_SECONDS };
const user = await signIn();
await setMachineLimit(user.user.id, 100000);
await stopRunner(); // the stack's runners: nothing of ours reaches them anyway
const leaseBefore = Number(await value`select value from private.settings where name = 'job_lease_seconds'`);
try {
  for (const mode of process.env.BENCH_ENGINE_SKIP_CREATES ? [] : ['simulate', 'terraform']) {
    for (const count of [1, 3]) {
      const runners = await Promise.all(Array.from({ length: count }, (_, i) => runnerOf(mode, i)));
      const r = await creates(user, runners);
      await Promise.all(runners.map((x) => x.stop()));
      results[`${mode}-${count}`] = r;
      say(`${mode}, ${count} runner(s), ${r.n} creates of ${APPLY_SECONDS} s each: create → running p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms; ${r.createsPerSec} creates/s reach running (${r.spanSec} s in all)`);
    }
  }
  const LEASE = 6;
  await sql`update private.settings set value = ${LEASE} where name = 'job_lease_seconds'`;
  results.takeover = await takeover(user, LEASE);
  say(`reaper: 10 jobs of a runner killed with SIGKILL, all claimed by another runner after ${results.takeover.takeoverSec} s (lease ${LEASE} s, a tick every second; in production: the lease, ${leaseBefore} s, plus up to a minute to the next cron tick)`);
} finally {
  await sql`update private.settings set value = ${leaseBefore} where name = 'job_lease_seconds'`;
  await startRunner();
  rmSync(tmp, { recursive: true, force: true });
}
if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(results, null, 2));
await sql.end();
process.exit(0);
