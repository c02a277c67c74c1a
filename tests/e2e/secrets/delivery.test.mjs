// Secrets reach the machine and nothing else (API.md §7): the signed webhook of a create
// and of a deploy carries `secrets: {NAME: value}` (account, then project, then machine
// scope; the narrowest wins a name), as the stack's runner received it (its journal); the
// simulate runner reports writing /etc/hangar/secrets.env with the names and the count.
// Then the values are searched everywhere else: every column of every table in public and
// private (plain, base64, hex), every response this file received, the functions,
// postrust and runner logs, the events and the job outcomes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fn, ok, signIn, recordsFlushed, RESPONSES_FILE } from '../lib/api.mjs';
import { createMachine, createProject, rows } from '../lib/machines.mjs';
import { getJob, logsOf, waitFor, waitForJob, waitForStatus } from '../lib/runner.mjs';
import { forms, newValue, putSecret, scanDatabase, scanLogs, secretsFn, watchRunner } from '../lib/secrets.mjs';

const values = {
  accountOnly: newValue('account-only'),
  sharedAccount: newValue('shared-account'),
  sharedProject: newValue('shared-project'),
  projectOnly: newValue('project-only'),
  sharedMachine: newValue('shared-machine'),
  machineOnly: newValue('machine-only'),
  otherUser: newValue('other-user'),
};
let user, runner, machine, createJobId, deployJobId;

before(async () => {
  user = await signIn();
  runner = watchRunner();
});
after(() => runner?.close());

const messagesOf = async (jobId) =>
  (await logsOf(user, machine.id)).filter((e) => e.eventType === 'runner.log' && e.details?.jobId === jobId).map((e) => e.details.message);

test('create: the webhook carries the account and project secrets, the project’s winning a shared name', { timeout: 30000 }, async () => {
  const other = await signIn();
  const project = await createProject(user);
  await putSecret(user, { name: 'ACCOUNT_ONLY', value: values.accountOnly });
  await putSecret(user, { name: 'SHARED', value: values.sharedAccount });
  await putSecret(user, { name: 'SHARED', value: values.sharedProject, projectId: project.id });
  await putSecret(user, { name: 'PROJECT_ONLY', value: values.projectOnly, projectId: project.id });
  await putSecret(other, { name: 'ACCOUNT_ONLY', value: values.otherUser }); // another account's: never sent here

  const created = await createMachine(user, { projectId: project.id });
  createJobId = created.pendingJob.id;
  machine = await waitForStatus(user, created.id, 'running', { timeoutMs: 20000 });

  const body = await waitFor(() => runner.received(createJobId), Boolean, { what: `the runner to journal create job ${createJobId}` });
  assert.equal(body.action, 'create');
  assert.deepEqual(body.secrets, { ACCOUNT_ONLY: values.accountOnly, PROJECT_ONLY: values.projectOnly, SHARED: values.sharedProject });

  const job = await getJob(user, createJobId);
  assert.equal(job.status, 'succeeded');
  assert.deepEqual(job.result.secrets, { path: '/etc/hangar/secrets.env', count: 3, names: ['ACCOUNT_ONLY', 'PROJECT_ONLY', 'SHARED'] });
  assert.ok((await messagesOf(createJobId)).includes('simulate: wrote /etc/hangar/secrets.env (mode 0600): 3 secret(s): ACCOUNT_ONLY, PROJECT_ONLY, SHARED'));
});

test('deploy: the machine’s own secrets join, the narrowest scope wins; a deleted secret is no longer sent', { timeout: 30000 }, async () => {
  assert.ok(machine, 'the create test ran');
  await putSecret(user, { name: 'SHARED', value: values.sharedMachine, machineId: machine.id });
  await putSecret(user, { name: 'MACHINE_ONLY', value: values.machineOnly, machineId: machine.id });
  const [accountOnly] = (await secretsFn(user, { query: { scope: 'account' } })).json.data.secrets.filter((s) => s.name === 'ACCOUNT_ONLY');
  ok(await secretsFn(user, { method: 'DELETE', id: accountOnly.id }));

  const queued = ok(await fn('deploy-protocol', { token: user.accessToken, body: { machineId: machine.id, protocolConfig: { name: 'geth', version: '1.14.0', settings: {} } } }), 202);
  deployJobId = queued.job.id;
  const job = await waitForJob(user, deployJobId);
  assert.equal(job.status, 'succeeded', JSON.stringify(job));
  const body = await waitFor(() => runner.received(deployJobId), Boolean, { what: `the runner to journal deploy job ${deployJobId}` });
  assert.deepEqual(body.secrets, { MACHINE_ONLY: values.machineOnly, PROJECT_ONLY: values.projectOnly, SHARED: values.sharedMachine });
  assert.deepEqual(job.result, {
    protocol: 'geth', version: '1.14.0', status: 'deployed',
    secrets: { path: '/etc/hangar/secrets.env', count: 3, names: ['MACHINE_ONLY', 'PROJECT_ONLY', 'SHARED'] },
  });
  assert.ok((await messagesOf(deployJobId)).includes('simulate: wrote /etc/hangar/secrets.env (mode 0600): 3 secret(s): MACHINE_ONLY, PROJECT_ONLY, SHARED'));
});

test('other jobs carry no secrets', { timeout: 30000 }, async () => {
  assert.ok(machine, 'the create test ran');
  const stopped = ok(await fn('restart-machine', { token: user.accessToken, body: { machineId: machine.id } }), 202);
  const jobId = stopped.pendingJob.id;
  await waitForJob(user, jobId);
  const body = await waitFor(() => runner.received(jobId), Boolean, { what: `the runner to journal restart job ${jobId}` });
  assert.equal(body.action, 'restart');
  assert.equal('secrets' in body, false, JSON.stringify(Object.keys(body)));
});

test('the values are nowhere else: not in the database, a response, a log line, an event or a job outcome', { timeout: 60000 }, async () => {
  assert.ok(createJobId && deployJobId, 'the delivery tests ran');
  const needles = Object.values(values).flatMap(forms);

  const db = await scanDatabase(needles);
  assert.ok(db.tables >= 10, `tables scanned: ${db.tables}`);
  assert.deepEqual(db.hits, [], 'plaintext in the database');

  const events = await rows`select details::text as d from machine_events where machine_id = ${machine.id}`;
  const jobs = await rows`select coalesce(result::text, '') || coalesce(error, '') as d from jobs where machine_id = ${machine.id}`;
  assert.ok(events.length > 0 && jobs.length >= 3);
  for (const { d } of [...events, ...jobs]) for (const n of needles) assert.ok(!d.includes(n), 'a value in an event or a job outcome');

  await recordsFlushed();
  assert.ok(RESPONSES_FILE, 'the stack records responses (test mode)');
  const me = basename(process.argv[1]);
  const mine = readFileSync(RESPONSES_FILE, 'utf8').split('\n').filter((l) => l.includes(`"source":"${me}"`));
  assert.ok(mine.length >= 10, `responses recorded for ${me}: ${mine.length}`);
  for (const line of mine) for (const n of needles) assert.ok(!line.includes(n), `a value in a response: ${line.slice(0, 200)}`);

  assert.deepEqual(scanLogs(needles), [], 'a value in a log');
});
