// A runner outage (API.md §5): jobs created while the runner is down wait in the outbox;
// once it is back, the scheduler delivers each exactly once and every machine comes up.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { env } from '../lib/env.mjs';
import { signIn, sleep } from '../lib/api.mjs';
import { setMachineLimit } from '../lib/machines.mjs';
import { createRaw, sql, rows } from '../lib/machines.mjs';
import {
  stopRunner, startRunner, tick, waitFor, runnerLog, deliveriesPerJob,
} from '../lib/runner.mjs';

let user;

before(async () => {
  user = await signIn();
  // More machines than the default limit of 10 (API.md §1).
  await setMachineLimit(user.user.id, 1000);
  await stopRunner();
});

after(startRunner); // whatever happened: the runner is up for the next file

/** The scheduler's tick reports, in order, from the Workers' log (FUNCTIONS_LOG), if any. */
function schedulerReports() {
  if (!env.FUNCTIONS_LOG || !existsSync(env.FUNCTIONS_LOG)) return [];
  return readFileSync(env.FUNCTIONS_LOG, 'utf8').split('\n').filter((l) => l.includes('"report"'))
    .map((l) => { try { return JSON.parse(l); } catch { return null; } })
    .filter((l) => l?.function === 'scheduler' && l.report).map((l) => l.report);
}

const jobsById = async (ids) =>
  rows`select j.id, j.status, j.attempts, j.error, m.status as machine_status, m.id as machine_id
        from jobs j join machines m on m.id = j.machine_id where j.id in ${sql(ids)} order by j.created_at`;

test('20 machines created during an outage: delivered once each after it, all running', { timeout: 90000 }, async () => {
  const n = 20;
  const created = await Promise.all(Array.from({ length: n }, () => createRaw(user)));
  for (const res of created) assert.equal(res.status, 201, `create during the outage: ${res.status} ${res.text.slice(0, 300)}`);
  const machines = created.map((r) => r.json.data);
  const jobIds = machines.map((m) => m.pendingJob.id);
  assert.equal(new Set(jobIds).size, n);

  // The request-time deliveries fail (nothing listens): each job stays queued, attempts 1.
  const failed = await waitFor(() => jobsById(jobIds), (js) => js.every((j) => j.attempts >= 1), {
    timeoutMs: 15000, what: 'every request-time delivery to be recorded as failed',
  });
  for (const j of failed) {
    assert.equal(j.status, 'queued', `job ${j.id} waits in the outbox: ${JSON.stringify(j)}`);
    assert.equal(j.attempts, 1, `one failed attempt: ${JSON.stringify(j)}`);
    assert.equal(j.machine_status, 'provisioning');
    assert.ok(j.error, 'the delivery error is kept');
  }
  const warned = await rows`select count(*)::int as n from machine_events where event_type = 'job.delivery_failed'
                             and machine_id in ${sql(machines.map((m) => m.id))}`;
  assert.equal(warned[0].n, n, 'one job.delivery_failed event per machine');

  await startRunner();
  const reportsBefore = schedulerReports().length;
  // The scheduler, every ~300 ms, until no job of ours is queued (bounded).
  let ticks = 0;
  const deadline = Date.now() + 20000;
  let jobs = await jobsById(jobIds);
  while (jobs.some((j) => j.status === 'queued')) {
    if (Date.now() > deadline) {
      assert.fail(`after ${ticks} scheduler ticks (20 s) jobs are still queued: ${JSON.stringify(jobs.filter((j) => j.status === 'queued'))}; tick reports: ${JSON.stringify(schedulerReports().slice(reportsBefore))}`);
    }
    await tick();
    ticks += 1;
    await sleep(300);
    jobs = await jobsById(jobIds);
  }

  const all = await waitFor(() => jobsById(jobIds), (js) => js.every((j) => j.machine_status === 'running'), {
    timeoutMs: 30000, intervalMs: 200, what: 'all 20 machines to be running',
  });
  for (const j of all) assert.equal(j.status, 'succeeded', `job ${j.id}: ${JSON.stringify(j)}`);

  // More ticks once everything is running: nothing of ours is sent again.
  for (let i = 0; i < 3; i++) {
    await tick();
    await sleep(100);
  }
  const tickReports = schedulerReports().slice(reportsBefore, reportsBefore + ticks).map((r) => `${r.claimed}/${r.delivered}/${r.refused}`);

  const per = deliveriesPerJob(runnerLog());
  const counts = jobIds.map((id) => per.get(id) ?? { accepted: 0, duplicate: 0 });
  const attempts = all.map((j) => j.attempts);
  const histogram = (xs) => Object.entries(xs.reduce((h, x) => ({ ...h, [x]: (h[x] ?? 0) + 1 }), {})).map(([k, v]) => `${k}×${v}`).join(' ');
  console.log(`figure: outage deliveries per job = ${histogram(counts.map((c) => c.accepted + c.duplicate))} ` +
    `(accepted ${histogram(counts.map((c) => c.accepted))}, duplicates ${histogram(counts.map((c) => c.duplicate))}); ` +
    `jobs.attempts ${histogram(attempts)}; scheduler ticks until none queued = ${ticks} ` +
    `(claimed/delivered/refused per tick: ${tickReports.join(', ') || 'not in FUNCTIONS_LOG'})`);

  counts.forEach((c, i) => {
    assert.equal(c.accepted, 1, `job ${jobIds[i]} accepted exactly once by the runner: ${JSON.stringify(c)}`);
    assert.equal(c.duplicate, 0, `job ${jobIds[i]} never delivered again: ${JSON.stringify(c)}`);
  });
  all.forEach((j) => assert.equal(j.attempts, 2, `job ${j.id}: one failed delivery and one that the runner took: ${JSON.stringify(j)}`));
});
