// Machine lifecycle (API.md §3): create, the state machine (every action × every status, each on
// a fresh machine), delete of a never-provisioned machine, get-machine-status, get-job, update-machine.
// There is no runner: jobs wait in the outbox, and statuses are set directly in the database.
// A job is committed `dispatched` (API.md §5 hand-off rule: before its webhook leaves); the
// delivery then fails and puts it back to `queued`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { fn, ok, fails, signIn, UUID_RE } from '../lib/api.mjs';
import { setMachineLimit } from '../lib/machines.mjs';
import {
  STATUSES, ACTIONS, ALLOWED, MOVES_TO, JOB_ACTION, TIERS, DEFAULT_PROVIDER, DEFAULT_REGIONS, OPEN_JOB_STATUSES,
  expectedOutcome, createMachine, createRaw, act, getStatus, setStatus, machineRow, jobsOf, counts, rows, value,
  assertMachine, assertJob, assertEvent, assertNewestFirst, sshPublicKey, newName,
} from '../lib/machines.mjs';
import { stopRunner, startRunner, waitFor } from '../lib/runner.mjs';

// The runner stays down: jobs wait in the outbox, as these tests assume.
before(stopRunner);
after(startRunner);

let user;
const table = new Map(); // `${action}:${status}` → machine, one fresh machine per case

before(async () => {
  user = await signIn();
  // More machines than the default limit of 10 (API.md §1).
  await setMachineLimit(user.user.id, 1000);
  const cases = STATUSES.flatMap((s) => ACTIONS.map((a) => `${a}:${s}`));
  const made = await Promise.all(cases.map(() => createMachine(user)));
  cases.forEach((k, i) => table.set(k, made[i]));
});

const sorted = (a) => [...a].sort();

// ---- create ----------------------------------------------------------------------------------

test('create-machine: 201 with the defaults, a create job handed over (dispatched) and one event', async () => {
  const name = newName();
  const m = assertMachine(await createMachine(user, { name: `  ${name}  ` }));
  assert.equal(m.name, name, 'name is trimmed');
  assert.equal(m.status, 'provisioning');
  assert.equal(m.tier, 'dev.small');
  assert.deepEqual([m.cpu, m.memoryMb, m.diskGb], [0.5, 1024, 10]);
  assert.equal(m.provider, DEFAULT_PROVIDER);
  assert.equal(m.region, DEFAULT_REGIONS[DEFAULT_PROVIDER]);
  assert.equal(m.image, 'ubuntu-22.04');
  assert.deepEqual(m.configuration, {});
  assert.equal(m.projectId, null);
  assert.equal(m.ipAddress, null);
  assert.equal(m.providerInstanceId, null);
  assert.equal(m.lastStarted, null);
  assert.equal(m.lastStopped, null);
  assert.equal(m.pendingJob?.action, 'create');
  assert.equal(m.pendingJob?.status, 'dispatched');

  const row = await machineRow(m.id);
  assert.equal(row.owner_id, user.user.id, 'owned by the caller');
  assert.equal(row.status, 'provisioning');
  const jobs = await jobsOf(m.id);
  assert.equal(jobs.length, 1, 'exactly one job');
  assert.equal(jobs[0].id, m.pendingJob.id, 'pendingJob is the job in the outbox');
  assert.equal(jobs[0].action, 'create');
  assert.ok(['dispatched', 'queued'].includes(jobs[0].status), `handed over, or back in the queue: ${jobs[0].status}`);
  assert.equal(jobs[0].owner_id, user.user.id);
  assert.equal((await counts(m.id)).events, 1, 'exactly one event');
});

test('create-machine: explicit tier, provider, region, image, configuration and ssh key are kept', async () => {
  const key = sshPublicKey();
  const configuration = { env: { A: '1' }, ports: [80, 443], nested: { deep: { ok: true, n: null } } };
  const m = assertMachine(await createMachine(user, {
    tier: 'dev.large', provider: 'azure', region: 'westeurope', image: 'debian-12', configuration, sshPublicKey: key,
  }));
  assert.equal(m.tier, 'dev.large');
  assert.deepEqual([m.cpu, m.memoryMb, m.diskGb], [2, 4096, 40]);
  assert.equal(m.provider, 'azure');
  assert.equal(m.region, 'westeurope');
  assert.equal(m.image, 'debian-12');
  assert.deepEqual(m.configuration, configuration, 'configuration stored as given');
  const row = await machineRow(m.id);
  assert.equal(row.ssh_public_key, key);
  assert.deepEqual(row.configuration, configuration);
});

test('create-machine: each provider gets its default region; each tier its size', async () => {
  const byProvider = await Promise.all(Object.keys(DEFAULT_REGIONS).map((provider) => createMachine(user, { provider })));
  for (const m of byProvider) assert.equal(m.region, DEFAULT_REGIONS[m.provider], `default region of ${m.provider}`);
  const byTier = await Promise.all(Object.keys(TIERS).map((tier) => createMachine(user, { tier })));
  for (const m of byTier) assertMachine(m); // cpu/memoryMb/diskGb checked against the tier
  assert.deepEqual(byTier.map((m) => m.tier), Object.keys(TIERS));
});

// ---- the state machine: every action × every status ------------------------------------------

for (const status of STATUSES) {
  for (const action of ACTIONS) {
    const outcome = expectedOutcome(action, status);
    const label = { move: `202 → ${MOVES_TO[action]}`, noop: '200, no job', refuse: '409' }[outcome];
    test(`transition: ${action} on ${status} → ${label}`, async () => {
      const m = table.get(`${action}:${status}`);
      await setStatus(m.id, status); // provider_instance_id set: a provisioned machine
      const jobsBefore = await jobsOf(m.id);
      const { events: eventsBefore } = await counts(m.id);

      const res = await act(user, action, m.id);

      const jobsAfter = await jobsOf(m.id);
      const { events: eventsAfter } = await counts(m.id);
      const row = await machineRow(m.id);
      const newJobs = jobsAfter.filter((j) => !jobsBefore.some((b) => b.id === j.id));

      if (outcome === 'move') {
        const data = assertMachine(ok(res, 202));
        assert.equal(data.id, m.id);
        assert.equal(data.status, MOVES_TO[action], 'response status');
        assert.equal(row.status, MOVES_TO[action], 'database status');
        assert.equal(newJobs.length, 1, `exactly one new job, got ${JSON.stringify(newJobs)}`);
        assert.equal(newJobs[0].action, JOB_ACTION[action]);
        assert.ok(OPEN_JOB_STATUSES.includes(newJobs[0].status), `new job is open: ${newJobs[0].status}`);
        assert.equal(eventsAfter, eventsBefore + 1, 'exactly one new event');
        assert.deepEqual(data.pendingJob, { id: newJobs[0].id, action: JOB_ACTION[action], status: 'dispatched' });
      } else if (outcome === 'noop') {
        const data = assertMachine(ok(res, 200));
        assert.equal(data.id, m.id);
        assert.equal(data.status, status, 'response status unchanged');
        assert.equal(row.status, status, 'database status unchanged');
        assert.equal(newJobs.length, 0, 'no new job');
      } else {
        const j = fails(res, 409, 'invalid_state_transition');
        assert.equal(j.details?.status, status, 'details.status is the current status');
        assert.ok(Array.isArray(j.details?.allowed), 'details.allowed is an array');
        assert.deepEqual(sorted(j.details.allowed), sorted(ALLOWED[status]), 'details.allowed');
        assert.equal(row.status, status, 'database status unchanged');
        assert.equal(newJobs.length, 0, 'no new job');
        assert.equal(eventsAfter, eventsBefore, 'no new event');
      }
    });
  }
}

// ---- delete specifics --------------------------------------------------------------------------

test('delete of a machine whose create was never handed over (queued): terminated at once, create job failed, no job to deliver', async () => {
  // The runner is down: the delivery fails and the create job goes back to the queue,
  // never handed over (API.md §5 hand-off rule).
  const m = await createMachine(user);
  await waitFor(() => jobsOf(m.id), ([j]) => j.status === 'queued' && j.attempts === 1, { what: 'the failed delivery' });
  const res = await act(user, 'delete', m.id);
  assert.ok([200, 202].includes(res.status), `200 or 202: ${res.status} ${res.text.slice(0, 300)}`);
  const data = assertMachine(ok(res, res.status));
  assert.equal(data.status, 'terminated');
  assert.equal((await machineRow(m.id)).status, 'terminated');
  const jobs = await jobsOf(m.id);
  const create = jobs.find((j) => j.id === m.pendingJob.id);
  assert.equal(create.status, 'failed', 'the create job is failed');
  assert.deepEqual(jobs.filter((j) => OPEN_JOB_STATUSES.includes(j.status)), [], 'no open job for the runner');

  // Deleting again: nothing to do.
  const again = ok(await act(user, 'delete', m.id), 200);
  assert.equal(again.status, 'terminated');
  assert.equal((await jobsOf(m.id)).length, jobs.length, 'no new job');
});

test('delete of a provisioning machine whose create job was dispatched → terminating with a terminate job', async () => {
  const m = await createMachine(user);
  // The failed delivery settles first; then the create is handed over again.
  await waitFor(() => jobsOf(m.id), ([j]) => j.attempts === 1, { what: 'the failed delivery' });
  await setStatus(m.id, 'provisioning', { instanceId: null, jobs: 'dispatched' });
  const data = assertMachine(ok(await act(user, 'delete', m.id), 202));
  assert.equal(data.status, 'terminating');
  const jobs = await jobsOf(m.id);
  assert.equal(jobs.length, 2);
  assert.equal(jobs[1].action, 'terminate');
  assert.equal(data.pendingJob.id, jobs[1].id);
});

test('delete of a provisioned machine in provisioning (instance id known) → terminating', async () => {
  const m = await createMachine(user);
  await setStatus(m.id, 'provisioning', { instanceId: 'i-early', jobs: 'running' });
  const data = ok(await act(user, 'delete', m.id), 202);
  assert.equal(data.status, 'terminating');
  assert.equal(data.pendingJob.action, 'terminate');
});

test('delete-machine also answers the DELETE method', async () => {
  const m = await createMachine(user);
  await setStatus(m.id, 'running');
  const data = assertMachine(ok(await act(user, 'delete', m.id, { method: 'DELETE' }), 202));
  assert.equal(data.status, 'terminating');
  assert.equal(data.pendingJob.action, 'terminate');
  assert.equal((await machineRow(m.id)).status, 'terminating');
});

test('a stopped machine can go round: start → (runner) running → stop → restart is refused while stopping', async () => {
  const m = await createMachine(user);
  await setStatus(m.id, 'stopped');
  assert.equal(ok(await act(user, 'start', m.id), 202).status, 'starting');
  await setStatus(m.id, 'running');
  assert.equal(ok(await act(user, 'stop', m.id), 202).status, 'stopping');
  fails(await act(user, 'restart', m.id), 409, 'invalid_state_transition');
  const actions = (await jobsOf(m.id)).map((j) => j.action);
  assert.deepEqual(actions, ['create', 'start', 'stop']);
});

// ---- get-machine-status ------------------------------------------------------------------------

test('get-machine-status: the Machine plus recentEvents, newest first', async () => {
  const m = await createMachine(user);
  await setStatus(m.id, 'stopped');
  const started = ok(await act(user, 'start', m.id), 202);
  // The request delivers its job after answering, and the failed delivery (the runner is
  // down) writes an event: let it settle, so that the events below are the database's.
  await waitFor(() => jobsOf(m.id), (js) => js.find((j) => j.id === started.pendingJob.id)?.attempts >= 1, { what: 'the failed delivery' });
  const data = ok(await getStatus(user, m.id));
  assertMachine(data);
  assert.equal(data.id, m.id);
  assert.equal(data.status, 'starting');
  // Handed over at commit, maybe back in the queue since (the runner is down).
  assert.deepEqual({ ...data.pendingJob, status: undefined }, { ...started.pendingJob, status: undefined }, 'pendingJob is the start job');
  assert.ok(['dispatched', 'queued'].includes(data.pendingJob.status), data.pendingJob.status);
  assert.ok(Array.isArray(data.recentEvents), 'recentEvents is an array');
  assert.ok(data.recentEvents.length >= 2 && data.recentEvents.length <= 10, `recentEvents: ${data.recentEvents.length}`);
  data.recentEvents.forEach(assertEvent);
  assert.ok(data.recentEvents.every((e) => e.machineId === m.id));
  assertNewestFirst(data.recentEvents, 'recentEvents');
  const dbEvents = await rows`select id from machine_events where machine_id = ${m.id} order by created_at desc, id desc limit 10`;
  assert.deepEqual(new Set(data.recentEvents.map((e) => e.id)), new Set(dbEvents.map((e) => e.id)));
});

test('get-machine-status: missing machineId → 400 machineId', async () => {
  fails(await fn('get-machine-status', { token: user.accessToken }), 400, 'validation_error', 'machineId');
});

// ---- get-job -----------------------------------------------------------------------------------

test('get-job: the Job of a transition', async () => {
  const m = await createMachine(user);
  await setStatus(m.id, 'stopped');
  const started = ok(await act(user, 'start', m.id), 202);
  // The request delivers its job after answering (the runner is stopped here, so the
  // delivery fails and counts an attempt): wait for that to settle before comparing.
  for (let i = 0; i < 60; i++) {
    if (Number(await value`select attempts from jobs where id = ${started.pendingJob.id}`) >= 1) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const job = assertJob(ok(await fn('get-job', { token: user.accessToken, query: { jobId: started.pendingJob.id } })));
  const [row] = await rows`select * from jobs where id = ${started.pendingJob.id}`;
  assert.equal(job.id, started.pendingJob.id);
  assert.equal(job.machineId, m.id);
  assert.equal(job.action, 'start');
  assert.equal(job.status, row.status);
  assert.equal(job.attempts, row.attempts);
  assert.equal(job.error, row.error ?? null);

  const createJob = assertJob(ok(await fn('get-job', { token: user.accessToken, query: { jobId: m.pendingJob.id } })));
  assert.equal(createJob.action, 'create');
});

test('get-job: missing, malformed and unknown job ids', async () => {
  fails(await fn('get-job', { token: user.accessToken }), 400, 'validation_error', 'jobId');
  fails(await fn('get-job', { token: user.accessToken, query: { jobId: 'not-a-uuid' } }), 400, 'validation_error', 'jobId');
  fails(await fn('get-job', { token: user.accessToken, query: { jobId: randomUUID() } }), 404, 'not_found');
});

// ---- update-machine ----------------------------------------------------------------------------

const update = (body) => fn('update-machine', { method: 'PATCH', token: user.accessToken, body });

test('update-machine: rename (trimmed), in any live status', async () => {
  const m = await createMachine(user);
  await setStatus(m.id, 'running');
  const name = newName('renamed');
  const data = assertMachine(ok(await update({ machineId: m.id, name: ` ${name} ` })));
  assert.equal(data.name, name);
  assert.equal(data.status, 'running');
  assert.equal((await machineRow(m.id)).name, name);
  assert.equal(ok(await getStatus(user, m.id)).name, name);
});

test('update-machine: tier only while stopped', async () => {
  const m = await createMachine(user);
  await setStatus(m.id, 'running');
  const j = fails(await update({ machineId: m.id, tier: 'dev.medium' }), 409, 'invalid_state_transition');
  assert.equal(j.details?.status, 'running');
  assert.equal((await machineRow(m.id)).tier, 'dev.small', 'tier unchanged while running');

  await setStatus(m.id, 'stopped');
  const data = assertMachine(ok(await update({ machineId: m.id, tier: 'dev.xlarge' })));
  assert.equal(data.tier, 'dev.xlarge');
  assert.deepEqual([data.cpu, data.memoryMb, data.diskGb], [4, 8192, 80]);
  assert.equal((await machineRow(m.id)).tier, 'dev.xlarge');
});

test('update-machine: bad values and unknown fields → 400, nothing changes', async () => {
  const m = await createMachine(user);
  await setStatus(m.id, 'stopped');
  const cases = [
    [{ name: '' }, 'name'],
    [{ name: 'bad/name' }, 'name'],
    [{ name: 'x'.repeat(64) }, 'name'],
    [{ name: 42 }, 'name'],
    [{ tier: 'dev.huge' }, 'tier'],
    [{ projectId: 'not-a-uuid' }, 'projectId'],
    [{ color: 'red' }, 'color'],
    [{ status: 'running' }, 'status'],
  ];
  for (const [body, field] of cases) {
    fails(await update({ machineId: m.id, ...body }), 400, 'validation_error', field);
  }
  fails(await update({ name: 'x' }), 400, 'validation_error', 'machineId');
  const row = await machineRow(m.id);
  assert.equal(row.name, m.name);
  assert.equal(row.tier, 'dev.small');
  assert.equal(row.status, 'stopped');
});

test('create-machine: the machine id is a fresh uuid each time', async () => {
  const [a, b] = await Promise.all([createRaw(user), createRaw(user)]);
  const ma = ok(a, 201), mb = ok(b, 201);
  assert.match(ma.id, UUID_RE);
  assert.notEqual(ma.id, mb.id);
});
