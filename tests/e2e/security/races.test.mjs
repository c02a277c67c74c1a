// Races (API.md §3, §5; issue 7 "Races"): several users hammer their machines with mixed
// concurrent requests (create, start, stop, restart, delete, update, deploy, command),
// validly signed runner callbacks that race the real runner's, and scheduler ticks, while
// the stack's simulate runner works through the jobs. The order is random but seeded (the
// seed is printed; RACES_SEED=<n> replays it). What must hold:
//   - after every round (one SQL statement, so one consistent snapshot): at most one active
//     (queued/dispatched/running) lifecycle job per machine, and a machine in a transitional
//     status has exactly one, of the matching action;
//   - once everything has settled: every status is one of API.md's, none is left in transit,
//     and every job the runner accepted (its job_accepted log line) has an outcome.
// Then the hand-off rule of §5 on its own: 30 creates each deleted at once; every create the
// runner accepted ends with a terminate job for that machine that succeeded.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { env } from '../lib/env.mjs';
import { fn, show, signIn, sleep } from '../lib/api.mjs';
import { createRaw, act, setBalance, newName, rows, STATUSES, sql } from '../lib/machines.mjs';
import { startRunner, waitForStatus, callback, tick } from '../lib/runner.mjs';
import {
  ACTIVE, LIFECYCLE, TRANSITIONAL, runnerAccepted, jobsOfMachines, quiesce, histogram, prng,
} from '../lib/faults.mjs';

const ROUNDS = Number(process.env.RACES_ROUNDS || 30);
const WIDTH = Number(process.env.RACES_WIDTH || 8);
const USERS = 4;
const SEED = Number(process.env.RACES_SEED || (Date.now() % 2 ** 31));
const CREATE_LIMIT = Number(env.RATE_LIMIT_CREATE_PER_MIN || 20);
const MAX_MACHINES = Number(env.MAX_MACHINES_PER_ACCOUNT || 10);

let users;
const mine = new Map(); // machine id → user

before(async () => {
  await startRunner(); // a no-op when it runs; an earlier file may have left it down
  users = await Promise.all(Array.from({ length: USERS }, () => signIn()));
  // Money is not the subject: no create or start is refused for credits.
  await Promise.all(users.map((u) => setBalance(u.user.id, 1000000)));
});

// ---- what each response may be -----------------------------------------------------------------

/** status → the error_codes it may carry (null: a success) per operation. */
const STATE = ['invalid_state_transition'];
const LIMITED = ['rate_limited'];
const EXPECTED = {
  create: { 201: null, 403: ['quota_exceeded'], 429: LIMITED },
  start: { 200: null, 202: null, 409: STATE, 429: LIMITED },
  stop: { 200: null, 202: null, 409: STATE, 429: LIMITED },
  restart: { 200: null, 202: null, 409: STATE, 429: LIMITED },
  delete: { 200: null, 202: null, 429: LIMITED },
  update: { 200: null, 409: STATE, 429: LIMITED },
  // MAX_PENDING_JOBS_PER_MACHINE: a per-machine limit (403 quota_exceeded, or 409 conflict).
  deploy: { 202: null, 409: [...STATE, 'conflict'], 403: ['quota_exceeded'], 429: [...LIMITED, 'quota_exceeded'] },
  command: { 202: null, 409: [...STATE, 'conflict'], 403: ['quota_exceeded'], 429: [...LIMITED, 'quota_exceeded'] },
  // Under the claim's fence as last read: 409 once the runner claimed the job since (or
  // before it ever did: fence 0), and nothing changes.
  callback: { 200: null, 409: ['conflict'] },
  tick: { 200: null },
};

function judge(op, res) {
  const allowed = EXPECTED[op];
  if (!(res.status in allowed)) return `${op}: unexpected ${show(res)}`;
  const codes = allowed[res.status];
  if (codes === null) return res.json?.success === true ? null : `${op}: not a success envelope: ${show(res)}`;
  if (!codes.includes(res.json?.error_code)) return `${op}: ${res.status} should be ${codes.join(' or ')}: ${show(res)}`;
  return null;
}

// ---- the state, as the superuser sees it ---------------------------------------------------------

/** Machines of these owners with their active lifecycle jobs, in ONE statement (one snapshot). */
function machinesWithActive(ownerIds) {
  return rows`
    select m.id, m.owner_id, m.status,
      coalesce((select json_agg(json_build_object('id', j.id, 'action', j.action, 'status', j.status) order by j.created_at)
                from jobs j where j.machine_id = m.id and j.status in ${sql(ACTIVE)}
                  and j.action in ${sql(LIFECYCLE)}), '[]'::json) as active
    from machines m where m.owner_id in ${sql(ownerIds)} order by m.created_at`;
}

/** The invariants that hold at every instant; returns the violations as text. */
function violations(state, when) {
  const out = [];
  for (const m of state) {
    if (!STATUSES.includes(m.status)) out.push(`${when}: machine ${m.id} has status ${m.status}, not one of API.md's`);
    if (m.active.length > 1) out.push(`${when}: machine ${m.id} (${m.status}) has ${m.active.length} active lifecycle jobs: ${JSON.stringify(m.active)}`);
    const want = TRANSITIONAL[m.status];
    if (want) {
      const matching = m.active.filter((j) => j.action === want);
      if (matching.length !== 1 || m.active.length !== 1) {
        out.push(`${when}: machine ${m.id} is ${m.status} but its active lifecycle jobs are ${JSON.stringify(m.active)} (want exactly one ${want})`);
      }
    }
  }
  return out;
}

// ---- operations ------------------------------------------------------------------------------------

const forgedLogs = () => [{ level: 'info', message: 'forged by races.test', ts: new Date().toISOString() }];

/** A validly signed runner report for `job` that makes sense for where it is. */
function forgedReport(rand, job, accepted) {
  const active = ACTIVE.includes(job.status);
  // "running" only for jobs the runner really has: for any other, a running report would
  // park a job that nothing will ever finish (that is a forgery, not a race).
  const status = active && accepted.has(job.id) ? rand.pick(['running', 'succeeded', 'failed']) : rand.pick(['succeeded', 'failed']);
  const body = { jobId: job.id, status, fence: Math.max(1, job.fence), logs: forgedLogs() };
  if (status === 'succeeded' && job.action === 'create') {
    body.outputs = { ipAddress: `192.0.2.${200 + rand.int(50)}`, providerInstanceId: `sim-forged-${randomBytes(4).toString('hex')}` };
  }
  if (status === 'failed') body.error = 'forged failure';
  return body;
}

async function runOp(op) {
  const { kind, user, machineId } = op;
  const t = user?.accessToken;
  switch (kind) {
    case 'create': {
      const res = await createRaw(user, { name: newName('race'), tier: 'dev.small' });
      if (res.status === 201) mine.set(res.json.data.id, user);
      return res;
    }
    case 'start': case 'stop': case 'restart': case 'delete':
      return act(user, kind, machineId);
    case 'update':
      return fn('update-machine', { token: t, method: 'PATCH', body: op.tier ? { machineId, tier: op.tier } : { machineId, name: newName('ren') } });
    case 'deploy':
      return fn('deploy-protocol', { token: t, body: { machineId, protocolConfig: { name: 'geth', version: '1.0' } } });
    case 'command':
      return fn('send-command', { token: t, body: { machineId, command: 'uptime' } });
    case 'callback':
      return callback(op.body);
    case 'tick':
      try {
        return { status: 200, json: { success: true, data: await tick() }, text: '' };
      } catch (e) {
        return { status: 599, json: null, text: e.message };
      }
    default:
      throw new Error(kind);
  }
}

// ---- the mixed rounds ------------------------------------------------------------------------------

test(`${ROUNDS} rounds × ${WIDTH} concurrent mixed operations by ${USERS} users: the invariants hold throughout and after`, { timeout: 600000 }, async () => {
  const rand = prng(SEED);
  console.log(`figure: races seed = ${SEED} (RACES_SEED=${SEED} replays the same operations)`);
  const creates = new Map(users.map((u) => [u.user.id, 0]));
  const outcomes = [];
  const problems = [];
  const during = [];
  let maxActive = 0;
  const ownerIds = users.map((u) => u.user.id);

  // A first machine each, so that every kind of operation has something to act on.
  for (const u of users) {
    const res = await createRaw(u, { name: newName('race') });
    assert.equal(res.status, 201, show(res));
    mine.set(res.json.data.id, u);
    creates.set(u.user.id, 1);
  }
  await Promise.all([...mine].map(([id, u]) => waitForStatus(u, id, 'running', { timeoutMs: 30000 })));

  const t0 = Date.now();
  for (let round = 0; round < ROUNDS; round++) {
    const state = await machinesWithActive(ownerIds);
    const jobs = await jobsOfMachines(state.map((m) => m.id));
    const accepted = runnerAccepted();
    const live = (u) => state.filter((m) => m.owner_id === u.user.id && m.status !== 'terminated');
    const ops = [];
    for (let i = 0; i < WIDTH; i++) {
      const user = rand.pick(users);
      let kind = rand.weighted([['create', 2], ['start', 2], ['stop', 2], ['restart', 2], ['delete', 1.5], ['update', 1], ['deploy', 1], ['command', 1], ['callback', 2], ['tick', 1]]);
      if (kind === 'create' && (creates.get(user.user.id) >= CREATE_LIMIT - 4 || live(user).length >= MAX_MACHINES - 2)) kind = 'restart';
      const theirs = state.filter((m) => m.owner_id === user.user.id);
      const pool = theirs.filter((m) => m.status !== 'terminated');
      // Half the time the user's oldest live machine: several requests race on one machine.
      const target = (pool.length && rand() < 0.5 ? pool[0] : pool.length && rand() < 0.9 ? rand.pick(pool) : rand.pick(theirs))?.id;
      if (kind === 'create') {
        creates.set(user.user.id, creates.get(user.user.id) + 1);
        ops.push({ kind, user });
      } else if (kind === 'callback') {
        if (!jobs.length) continue;
        // Mostly the jobs under way (where the race is), sometimes a finished one.
        const open = jobs.filter((j) => ACTIVE.includes(j.status));
        const job = open.length && rand() < 0.8 ? rand.pick(open) : rand.pick(jobs);
        ops.push({ kind, body: forgedReport(rand, job, accepted) });
      } else if (kind === 'tick') {
        ops.push({ kind });
      } else if (target) {
        ops.push({ kind, user, machineId: target, tier: kind === 'update' && rand() < 0.5 ? rand.pick(['dev.small', 'dev.medium']) : undefined });
      }
    }
    const results = await Promise.all(ops.map(runOp));
    results.forEach((res, i) => {
      const op = ops[i].kind;
      outcomes.push(`${op}:${res.status}`);
      const p = judge(op, res);
      if (p) problems.push(`round ${round}: ${p}`);
    });
    const after = await machinesWithActive(ownerIds);
    for (const m of after) maxActive = Math.max(maxActive, m.active.length);
    during.push(...violations(after, `after round ${round}`));
  }
  const roundsMs = Date.now() - t0;

  // Quiescence: the runner finishes, the scheduler re-delivers what is due.
  const ids = [...mine.keys(), ...(await machinesWithActive(ownerIds)).map((m) => m.id)];
  const q = await quiesce([...new Set(ids)], { timeoutMs: 150000 });
  const final = await machinesWithActive(ownerIds);
  const allJobs = await jobsOfMachines(final.map((m) => m.id));
  const accepted = runnerAccepted();
  const acceptedJobs = allJobs.filter((j) => accepted.has(j.id));
  const unfinished = acceptedJobs.filter((j) => !['succeeded', 'failed'].includes(j.status));

  console.log(`figure: races ${outcomes.length} operations in ${ROUNDS} rounds (${roundsMs} ms): ${histogram(outcomes)}`);
  console.log(`figure: races settled after ${q.ms} ms (${q.ticks} scheduler ticks); ${final.length} machines: ${histogram(final.map((m) => m.status))}; ` +
    `${allJobs.length} jobs: ${histogram(allJobs.map((j) => `${j.action}:${j.status}`))}; runner accepted ${acceptedJobs.length}, ` +
    `${unfinished.length} of them without an outcome; max active lifecycle jobs on one machine = ${maxActive}; violations during the rounds = ${during.length}`);

  assert.deepEqual(problems, [], `responses outside the contract:\n  ${problems.slice(0, 30).join('\n  ')}`);
  assert.deepEqual(during, [], `invariants broken while the races ran:\n  ${during.slice(0, 30).join('\n  ')}`);
  assert.deepEqual(q.active, [], `jobs still open ${q.ms} ms after the last round: ${JSON.stringify(q.active).slice(0, 1500)}`);
  assert.deepEqual(violations(final, 'settled'), [], 'invariants once settled');
  assert.deepEqual(unfinished, [], `jobs the runner accepted but that have no outcome: ${JSON.stringify(unfinished).slice(0, 1500)}`);
  for (const m of final) assert.ok(!TRANSITIONAL[m.status], `machine ${m.id} is still ${m.status} with nothing under way`);
});

// ---- create, then delete at once (API.md §5 hand-off rule) ---------------------------------------------

test('30 create-then-delete-at-once races: every create the runner accepted ends with a succeeded terminate job', { timeout: 300000 }, async () => {
  const racers = await Promise.all([signIn(), signIn(), signIn()]);
  await Promise.all(racers.map((u) => setBalance(u.user.id, 1000000)));
  const ids = [];
  const answers = [];
  for (let i = 0; i < 30; i++) {
    const u = racers[i % racers.length];
    let res = await createRaw(u, { name: newName('cd') });
    for (let wait = 0; res.status === 429 && wait < 3; wait++) {
      await sleep(Math.min(Number(res.headers.get('retry-after') || 5), 60) * 1000);
      res = await createRaw(u, { name: newName('cd') });
    }
    assert.equal(res.status, 201, `create ${i}: ${show(res)}`);
    const id = res.json.data.id;
    const del = await act(u, 'delete', id); // at once: while its delivery is under way
    answers.push(`create:${res.status} delete:${del.status}:${del.json?.data?.status}`);
    assert.ok([200, 202].includes(del.status), `delete ${i}: ${show(del)}`);
    ids.push(id);
  }
  const q = await quiesce(ids, { timeoutMs: 120000 });
  const accepted = runnerAccepted();
  const jobs = await jobsOfMachines(ids);
  const machines = await rows`select id, status, provider_instance_id from machines where id in ${sql(ids)}`;
  const report = [];
  let acceptedCreates = 0;
  let atOnce = 0;
  for (const m of machines) {
    const js = jobs.filter((j) => j.machine_id === m.id);
    const create = js.find((j) => j.action === 'create');
    const terminates = js.filter((j) => j.action === 'terminate');
    if (!create) {
      report.push(`machine ${m.id}: no create job: ${JSON.stringify(js)}`);
      continue;
    }
    if (!terminates.length) atOnce += 1;
    if (!accepted.has(create.id)) continue;
    acceptedCreates += 1;
    if (!terminates.some((j) => j.status === 'succeeded')) {
      report.push(`machine ${m.id} (${m.status}, instance ${m.provider_instance_id}): the runner accepted its create (${create.status}) but no terminate succeeded: ${JSON.stringify(js.map((j) => [j.action, j.status, j.error]))}`);
    }
  }
  console.log(`figure: create+delete races = 30: delete answered ${histogram(answers.map((s) => s.split(' ')[1]))}; ` +
    `runner accepted ${acceptedCreates} creates, ${atOnce} machines ended without a terminate job; machines ${histogram(machines.map((m) => m.status))}; ` +
    `jobs ${histogram(jobs.map((j) => `${j.action}:${j.status}`))}; settled after ${q.ms} ms`);
  assert.deepEqual(q.active, [], `jobs still open: ${JSON.stringify(q.active).slice(0, 1500)}`);
  assert.deepEqual(report, [], `creates handed to the runner that nothing terminated (a VM Hangar calls terminated):\n  ${report.join('\n  ')}`);
  for (const m of machines) assert.equal(m.status, 'terminated', `machine ${m.id} should end terminated`);
});
