// Access revocation (issue 15, "prove the class is gone"): for every way access ends, every
// path that could still reach the machine is tried afterwards, table-driven:
//
//   ways:  member removed, member leaves, team deleted, SSH key deleted, machine moved out
//          of a project, machine moved out of a team (its creator left), secret deleted
//   paths: SSH keys in any later job (the payloads the stack's runner received, and the
//          authorize_keys jobs' payloads), secrets in any later payload (the runner's
//          received webhooks and the service-role hangar_job_secrets), the functions,
//          PostgREST tables, PostgREST RPCs, Realtime
//
// Each (way × path) cell is either checked or says why it cannot apply; the last test holds
// the table to that and prints how many pairs were checked. Realtime is not reachable here:
// the test stack runs no Realtime server (disruptive/realtime.test.mjs checks the
// publication); what Realtime would send a subscriber is what the SELECT policies of
// machines and machine_events let them see, which the PostgREST tables path checks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fn, ok, fails, show, signIn, service, refused } from '../lib/api.mjs';
import { act, asUser, createMachine, sql, value } from '../lib/machines.mjs';
import { waitFor, waitForJob, waitForStatus } from '../lib/runner.mjs';
import { newProject, projects } from '../lib/projects.mjs';
import { newValue, putSecret, secretsFn, listSecrets, watchRunner } from '../lib/secrets.mjs';
import { keyOf, authorizeJobs, payloadOf, machineInTransit, arrive, sshKeys } from '../lib/ssh-keys.mjs';
import { teams, teamWith, invite, myInvitations, join, removeMember, runningTeamMachine, rich } from '../lib/teams.mjs';

const PATHS = ['ssh keys in later jobs', 'secrets in later payloads', 'functions', 'PostgREST tables', 'PostgREST RPCs', 'Realtime'];
const NO_REALTIME = 'no Realtime server on the test stack; what it would send is decided by the SELECT policies the PostgREST tables path checks';
/** way → path → 'checked' | reason it does not apply. */
const cells = new Map();
let runner;
before(() => { runner = watchRunner(); });
after(() => runner?.close());

/** Runs the probes of one way: each path checked, or given a reason it does not apply. */
async function probe(t, way, probes) {
  const row = new Map();
  cells.set(way, row);
  for (const path of PATHS) {
    const p = path === 'Realtime' ? NO_REALTIME : probes[path];
    assert.ok(p, `${way}: the ${path} path is neither checked nor explained`);
    if (typeof p === 'string') {
      row.set(path, p);
      continue;
    }
    await t.test(path, p);
    row.set(path, 'checked');
  }
}

// ---- what each path tries --------------------------------------------------------------------

/** A deploy to `machineId` as `user`; the webhook body the stack's runner received for it. */
async function deployBody(user, machineId) {
  const { job } = ok(await fn('deploy-protocol', { token: user.accessToken, body: { machineId, protocolConfig: { name: 'probe', version: '1' } } }), 202);
  const body = await waitFor(() => runner.received(job.id), Boolean, { timeoutMs: 30000, what: `the runner to receive deploy ${job.id}` });
  await waitForJob(user, job.id, { timeoutMs: 30000 });
  return { job, body };
}

/** The sealed secrets a job would be sent (service role: what delivery opens). */
async function jobSecrets(jobId) {
  const res = await service('/rpc/hangar_job_secrets', { method: 'POST', body: { p_job_id: jobId } });
  assert.equal(res.json?.ok, true, show(res));
  return res.json.data;
}

/** Every machine function as `user` on machine `m` (and its job): 404 each, nothing changes. */
async function machineFunctionsRefused(user, m, jobId) {
  const t = user.accessToken;
  const body = { machineId: m };
  const calls = [
    fn('get-machine-status', { token: t, query: body }),
    fn('get-logs', { token: t, query: body }),
    fn('insights', { token: t, query: body }),
    fn('get-job', { token: t, query: { jobId } }),
    fn('start-machine', { token: t, body }), fn('stop-machine', { token: t, body }),
    fn('restart-machine', { token: t, body }), fn('delete-machine', { token: t, body }),
    fn('deploy-protocol', { token: t, body: { ...body, protocolConfig: { name: 'x', version: '1' } } }),
    fn('send-command', { token: t, body: { ...body, command: 'cat', args: ['/etc/hangar/secrets.env'] } }),
    fn('log-machine-event', { token: t, body: { ...body, eventType: 'probe' } }),
    fn('update-machine', { token: t, method: 'PATCH', body: { ...body, name: 'taken' } }),
    fn('update-machine', { token: t, method: 'PATCH', body: { ...body, tier: 'dev.xlarge' } }),
    fn(`instances/${m}`, { token: t }),
  ];
  for (const res of await Promise.all(calls)) fails(res, 404, 'not_found');
  assert.ok(!ok(await fn('get-user-machines', { token: t })).machines.some((x) => x.id === m), 'not listed');
}

/** PostgREST tables as `user`: nothing of machine `m` (and of `teamId`, `projectId`). */
async function tablesEmpty(user, { m, teamId, projectId }) {
  const reads = [];
  if (m) {
    reads.push(`/machines?id=eq.${m}`, `/jobs?machine_id=eq.${m}`, `/machine_events?machine_id=eq.${m}`,
      `/machine_ssh_keys?machine_id=eq.${m}`, `/protocol_deployments?machine_id=eq.${m}`, `/machine_metrics?machine_id=eq.${m}`);
  }
  if (teamId) reads.push(`/teams?id=eq.${teamId}`, `/team_members?team_id=eq.${teamId}`, `/projects?team_id=eq.${teamId}`);
  if (projectId) reads.push(`/projects?id=eq.${projectId}`);
  for (const path of reads) {
    const res = await asUser(user, path);
    assert.deepEqual(res.json, [], `${path}: ${show(res)}`);
  }
  // And no write reaches them either.
  if (m) {
    const res = await asUser(user, `/machines?id=eq.${m}`, { method: 'PATCH', body: { name: 'taken' }, headers: { prefer: 'return=representation' } });
    assert.ok(refused(res) || (Array.isArray(res.json) && res.json.length === 0), show(res));
  }
}

/** The SQL functions behind the machine functions, through /rpc as `user`: refused as not found. */
async function machineRpcsRefused(user, m, jobId) {
  for (const [name, body] of [
    ['hangar_get_machine', { p_machine_id: m }],
    ['hangar_get_logs', { p_machine_id: m }],
    ['hangar_get_job', { p_job_id: jobId }],
    ['hangar_machine_action', { p_machine_id: m, p_action: 'stop' }],
    ['hangar_machine_action', { p_machine_id: m, p_action: 'delete' }],
    ['hangar_update_machine', { p_machine_id: m, p_name: { set: true, value: 'taken' } }],
    ['hangar_log_event', { p_machine_id: m, p_event_type: 'probe' }],
  ]) {
    const res = await asUser(user, `/rpc/${name}`, { method: 'POST', body });
    assert.equal(res.json?.ok, false, `${name}: ${show(res)}`);
    assert.equal(res.json.error, 'not_found', `${name}: ${show(res)}`);
  }
  const list = await asUser(user, '/rpc/hangar_list_machines', { method: 'POST', body: { p_include_terminated: true } });
  assert.ok(!list.json.data.machines.some((x) => x.id === m), show(list));
}

const rpcRefused = async (user, name, body) => {
  const res = await asUser(user, `/rpc/${name}`, { method: 'POST', body });
  assert.deepEqual([res.json?.ok, res.json?.error], [false, 'not_found'], `${name}: ${show(res)}`);
};

// ---- the ways -----------------------------------------------------------------------------------

/**
 * A team (owner, leaver, other) with a team project whose secret the owner keeps, the
 * leaver's running machine in it (the owner's key pinned on it), the owner's running
 * machine with the leaver's key pinned, and one of the other member's on its way to
 * running with the leaver's key. `leave` ends the leaver's membership.
 */
async function teamScene() {
  const [owner, leaver, other] = await Promise.all([signIn(), signIn(), signIn()]);
  await rich(owner, leaver, other);
  const team = await teamWith(owner, leaver, other);
  const project = await newProject(owner, { teamId: team.id });
  const secretValue = newValue('team-project');
  const secret = await putSecret(owner, { name: 'TEAM_PROJECT', value: secretValue, projectId: project.id });
  const [kLeaver, kOwner, kOther] = [await keyOf(leaver), await keyOf(owner), await keyOf(other)];
  const leaversMachine = await runningTeamMachine(leaver, team.id, { projectId: project.id });
  const ownersMachine = await runningTeamMachine(owner, team.id);
  const update = (u, machineId, sshKeyIds) => fn('update-machine', { token: u.accessToken, method: 'PATCH', body: { machineId, sshKeyIds } });
  ok(await update(leaver, ownersMachine.id, [kLeaver.id]));
  ok(await update(owner, leaversMachine.id, [kOwner.id]));
  for (const id of [ownersMachine.id, leaversMachine.id]) for (const j of await authorizeJobs(id)) await waitForJob(owner, j.id, { timeoutMs: 30000 });
  const transit = await machineInTransit(other, 'starting', { teamId: team.id, keys: [kOther, kLeaver] });
  // Before: the leaver's machine gets the team project's secret (the control of the secrets path).
  const before = await deployBody(leaver, leaversMachine.id);
  assert.equal(before.body.secrets?.TEAM_PROJECT, secretValue, 'before leaving, the team project\'s secret reaches it');
  const leaverJob = ok(await fn('send-command', { token: leaver.accessToken, body: { machineId: ownersMachine.id, command: 'uptime' } }), 202).job;
  await waitForJob(leaver, leaverJob.id, { timeoutMs: 30000 });
  return { owner, leaver, other, team, project, secret, secretValue, kLeaver, kOwner, kOther, leaversMachine, ownersMachine, transit, leaverJob };
}

/** The leaver's view after their membership ended (member removed / member leaves). */
function memberGoneProbes(s) {
  return {
    'ssh keys in later jobs': async () => {
      // The owner's machine: its authorize_keys job and every later payload lack the leaver's key.
      const [j] = (await authorizeJobs(s.ownersMachine.id)).slice(-1);
      assert.ok(!(await payloadOf(j.id)).machine.sshAuthorizedKeys.includes(s.kLeaver.line), 'authorize_keys payload');
      assert.deepEqual((await waitForJob(s.owner, j.id, { timeoutMs: 30000 })).result.sshAuthorizedKeys, [], 'what the runner installed');
      const { body } = await deployBody(s.owner, s.ownersMachine.id);
      assert.ok(!body.machine.sshAuthorizedKeys.includes(s.kLeaver.line), 'a later deploy\'s payload');
      // The machine that was on its way: off its choice, and re-synced when it arrives.
      await arrive(s.transit.jobId);
      const [onArrival] = await authorizeJobs(s.transit.id);
      assert.deepEqual((await payloadOf(onArrival.id)).machine.sshAuthorizedKeys, [s.kOther.line]);
      assert.deepEqual((await waitForJob(s.other, onArrival.id, { timeoutMs: 30000 })).result.sshAuthorizedKeys, [s.kOther.fingerprint]);
    },
    'secrets in later payloads': async () => {
      const { job, body } = await deployBody(s.leaver, s.leaversMachine.id);
      assert.equal(body.secrets?.TEAM_PROJECT, undefined, 'the team project\'s secret no longer reaches the leaver\'s machine');
      assert.ok(!JSON.stringify(body).includes(s.secretValue));
      assert.ok(!(await jobSecrets(job.id)).some((x) => x.id === s.secret.id), 'hangar_job_secrets');
      // Nor can the leaver overwrite it (the project is not theirs).
      const put = await secretsFn(s.leaver, { body: { name: 'TEAM_PROJECT', value: newValue('overwrite'), projectId: s.project.id } });
      assert.ok(put.status === 400 || put.status === 404, show(put));
    },
    'functions': async () => {
      await machineFunctionsRefused(s.leaver, s.ownersMachine.id, s.leaverJob.id);
      fails(await teams(s.leaver, { path: `/${s.team.id}` }), 404, 'not_found');
      fails(await teams(s.leaver, { path: `/${s.team.id}/members` }), 404, 'not_found');
      fails(await projects(s.leaver, { id: s.project.id }), 404, 'not_found');
      fails(await fn('update-machine', { token: s.leaver.accessToken, method: 'PATCH', body: { machineId: s.ownersMachine.id, sshKeyIds: [s.kLeaver.id] } }), 404, 'not_found');
    },
    'PostgREST tables': () => tablesEmpty(s.leaver, { m: s.ownersMachine.id, teamId: s.team.id, projectId: s.project.id }),
    'PostgREST RPCs': async () => {
      await machineRpcsRefused(s.leaver, s.ownersMachine.id, s.leaverJob.id);
      await rpcRefused(s.leaver, 'hangar_get_team', { p_team_id: s.team.id });
      await rpcRefused(s.leaver, 'hangar_list_team_members', { p_team_id: s.team.id });
      await rpcRefused(s.leaver, 'hangar_get_project', { p_project_id: s.project.id });
      await rpcRefused(s.leaver, 'hangar_update_machine', { p_machine_id: s.ownersMachine.id, p_ssh_key_ids: { set: true, value: [s.kLeaver.id] } });
    },
  };
}

test('way: member removed (the owner removes them)', { timeout: 180000 }, async (t) => {
  const s = await teamScene();
  ok(await removeMember(s.owner, s.team.id, s.leaver.user.id));
  await probe(t, 'member removed', memberGoneProbes(s));
});

test('ways: member leaves, and so their machine leaves the team', { timeout: 180000 }, async (t) => {
  const s = await teamScene();
  ok(await removeMember(s.leaver, s.team.id, s.leaver.user.id));
  await probe(t, 'member leaves', memberGoneProbes(s));
  // The same event from the team's side: the leaver's machine is out of the team.
  const m = s.leaversMachine.id;
  const ownerJob = ok(await fn('send-command', { token: s.leaver.accessToken, body: { machineId: m, command: 'uptime' } }), 202).job;
  await probe(t, 'machine moved out of a team', {
    'ssh keys in later jobs': async () => {
      const { body } = await deployBody(s.leaver, m);
      assert.ok(!body.machine.sshAuthorizedKeys.includes(s.kOwner.line), 'the owner\'s key is off the machine that left');
      const [j] = (await authorizeJobs(m)).slice(-1);
      assert.ok(!(await payloadOf(j.id)).machine.sshAuthorizedKeys.includes(s.kOwner.line));
    },
    'secrets in later payloads': async () => {
      const { job, body } = await deployBody(s.leaver, m);
      assert.equal(body.secrets?.TEAM_PROJECT, undefined);
      assert.ok(!(await jobSecrets(job.id)).some((x) => x.id === s.secret.id));
    },
    'functions': async () => {
      for (const u of [s.owner, s.other]) await machineFunctionsRefused(u, m, ownerJob.id);
      const project = ok(await projects(s.owner, { id: s.project.id }));
      assert.ok(!project.machines.some((x) => x.id === m), 'not in the team project');
    },
    'PostgREST tables': async () => { for (const u of [s.owner, s.other]) await tablesEmpty(u, { m }); },
    'PostgREST RPCs': async () => { for (const u of [s.owner, s.other]) await machineRpcsRefused(u, m, ownerJob.id); },
  });
});

test('way: team deleted', { timeout: 60000 }, async (t) => {
  const [owner, member, invitee] = await Promise.all([signIn(), signIn(), signIn()]);
  const team = await teamWith(owner, member);
  const project = await newProject(owner, { teamId: team.id });
  // A live machine keeps a team from being deleted: access is never orphaned under one.
  await rich(owner);
  const live = await runningTeamMachine(owner, team.id);
  fails(await teams(owner, { path: `/${team.id}`, method: 'DELETE' }), 409, 'conflict');
  ok(await act(owner, 'delete', live.id), 202);
  await waitForStatus(owner, live.id, 'terminated', { timeoutMs: 30000 });
  live.pendingJob = { id: await value`select id from jobs where machine_id = ${live.id} order by created_at limit 1` };
  ok(await invite(owner, team.id, invitee.user.id), 202);
  ok(await teams(owner, { path: `/${team.id}`, method: 'DELETE' }));
  const na = 'a team is deleted only without live machines (checked above: 409): no machine of it gets a later job';
  await probe(t, 'team deleted', {
    'ssh keys in later jobs': na,
    'secrets in later payloads': na,
    'functions': async () => {
      fails(await teams(member, { path: `/${team.id}` }), 404, 'not_found');
      fails(await teams(member, { path: `/${team.id}/members` }), 404, 'not_found');
      fails(await projects(member, { id: project.id }), 404, 'not_found');
      await machineFunctionsRefused(member, live.id, live.pendingJob.id);
      assert.deepEqual(await myInvitations(invitee), [], 'its invitations went with it');
      fails(await join(invitee, team.id), 404, 'not_found');
      assert.ok(!ok(await teams(member)).teams.some((x) => x.id === team.id));
    },
    'PostgREST tables': () => tablesEmpty(member, { m: live.id, teamId: team.id, projectId: project.id }),
    'PostgREST RPCs': async () => {
      await machineRpcsRefused(member, live.id, live.pendingJob.id);
      await rpcRefused(member, 'hangar_get_team', { p_team_id: team.id });
      await rpcRefused(member, 'hangar_get_project', { p_project_id: project.id });
      await rpcRefused(invitee, 'hangar_join_team', { p_team_id: team.id });
    },
  });
});

test('way: SSH key deleted', { timeout: 120000 }, async (t) => {
  const user = await signIn();
  const [gone, kept] = [await keyOf(user), await keyOf(user)];
  const running = await createMachine(user, { sshKeyIds: [gone.id, kept.id] });
  await waitForStatus(user, running.id, 'running', { timeoutMs: 30000 });
  await waitForJob(user, running.pendingJob.id, { timeoutMs: 30000 });
  const transit = await machineInTransit(user, 'provisioning', { keys: [gone, kept] });
  ok(await sshKeys(user, { id: gone.id, method: 'DELETE' }));
  await probe(t, 'key deleted', {
    'ssh keys in later jobs': async () => {
      const [j] = await authorizeJobs(running.id);
      assert.deepEqual((await payloadOf(j.id)).machine.sshAuthorizedKeys, [kept.line]);
      assert.deepEqual((await waitForJob(user, j.id, { timeoutMs: 30000 })).result.sshAuthorizedKeys, [kept.fingerprint]);
      const { body } = await deployBody(user, running.id);
      assert.deepEqual(body.machine.sshAuthorizedKeys, [kept.line], 'a later deploy');
      await arrive(transit.jobId);
      const [onArrival] = await authorizeJobs(transit.id);
      assert.deepEqual((await payloadOf(onArrival.id)).machine.sshAuthorizedKeys, [kept.line], 'the machine in transit, on arrival');
      assert.deepEqual((await waitForJob(user, onArrival.id, { timeoutMs: 30000 })).result.sshAuthorizedKeys, [kept.fingerprint]);
    },
    'secrets in later payloads': 'a key is no secret: payloads carry public keys only (the ssh path checks them)',
    'functions': async () => {
      assert.ok(!ok(await sshKeys(user)).sshKeys.some((k) => k.id === gone.id));
      fails(await sshKeys(user, { id: gone.id, method: 'DELETE' }), 404, 'not_found');
      fails(await fn('create-machine', { token: user.accessToken, body: { name: 'probe', sshKeyIds: [gone.id] } }), 400, 'validation_error', 'sshKeyIds');
      fails(await fn('update-machine', { token: user.accessToken, method: 'PATCH', body: { machineId: running.id, sshKeyIds: [gone.id] } }), 400, 'validation_error', 'sshKeyIds');
      assert.deepEqual(ok(await fn('get-machine-status', { token: user.accessToken, query: { machineId: running.id } })).sshKeyIds, [kept.id]);
    },
    'PostgREST tables': async () => {
      for (const path of [`/ssh_keys?id=eq.${gone.id}`, `/machine_ssh_keys?ssh_key_id=eq.${gone.id}`]) {
        assert.deepEqual((await asUser(user, path)).json, [], path);
      }
    },
    'PostgREST RPCs': async () => {
      await rpcRefused(user, 'hangar_delete_ssh_key', { p_ssh_key_id: gone.id });
      const r = await asUser(user, '/rpc/hangar_update_machine', { method: 'POST', body: { p_machine_id: running.id, p_ssh_key_ids: { set: true, value: [gone.id] } } });
      assert.deepEqual([r.json?.ok, r.json?.details?.field], [false, 'sshKeyIds'], show(r));
      const c = await asUser(user, '/rpc/hangar_create_machine', { method: 'POST', body: { p_name: 'probe', p_tier: 'dev.small', p_provider: 'aws', p_region: 'us-east-1', p_image: 'ubuntu-22.04', p_ssh_key_ids: [gone.id] } });
      assert.deepEqual([c.json?.ok, c.json?.details?.field], [false, 'sshKeyIds'], show(c));
    },
  });
  await sql`update machines set status = 'terminated' where id = ${transit.id}`;
});

test('way: machine moved out of a project', { timeout: 90000 }, async (t) => {
  const user = await signIn();
  const project = await newProject(user);
  const value_ = newValue('project');
  const secret = await putSecret(user, { name: 'PROJECT_ONLY', value: value_, projectId: project.id });
  const m = await createMachine(user, { projectId: project.id });
  await waitForStatus(user, m.id, 'running', { timeoutMs: 30000 });
  const before = await deployBody(user, m.id);
  assert.equal(before.body.secrets?.PROJECT_ONLY, value_, 'the control: in the project, it gets the secret');
  ok(await fn('update-machine', { token: user.accessToken, method: 'PATCH', body: { machineId: m.id, projectId: null } }));
  await probe(t, 'machine moved out of a project', {
    'ssh keys in later jobs': 'a project grants no SSH access: its machines\' keys are their own choice',
    'secrets in later payloads': async () => {
      const { job, body } = await deployBody(user, m.id);
      assert.equal(body.secrets?.PROJECT_ONLY, undefined);
      assert.ok(!JSON.stringify(body).includes(value_));
      assert.ok(!(await jobSecrets(job.id)).some((x) => x.id === secret.id));
    },
    'functions': async () => {
      const p = ok(await projects(user, { id: project.id }));
      assert.deepEqual([p.machineCount, p.machines.map((x) => x.id)], [0, []]);
      assert.deepEqual(ok(await fn('get-user-machines', { token: user.accessToken, query: { projectId: project.id } })).machines, []);
    },
    'PostgREST tables': async () => {
      assert.deepEqual((await asUser(user, `/machines?project_id=eq.${project.id}`)).json, []);
    },
    'PostgREST RPCs': async () => {
      const r = await asUser(user, '/rpc/hangar_get_project', { method: 'POST', body: { p_project_id: project.id } });
      assert.deepEqual(r.json.data.machines, [], show(r));
      const l = await asUser(user, '/rpc/hangar_list_machines', { method: 'POST', body: { p_project_id: project.id } });
      assert.deepEqual(l.json.data.machines, [], show(l));
    },
  });
  ok(await act(user, 'delete', m.id), 202);
});

test('way: secret deleted', { timeout: 90000 }, async (t) => {
  const user = await signIn();
  const [accountValue, machineValue] = [newValue('account'), newValue('machine')];
  const m = await createMachine(user, {});
  await waitForStatus(user, m.id, 'running', { timeoutMs: 30000 });
  const accountSecret = await putSecret(user, { name: 'ACCOUNT_WIDE', value: accountValue });
  const machineSecret = await putSecret(user, { name: 'MACHINE_ONLY', value: machineValue, machineId: m.id });
  const before = await deployBody(user, m.id);
  assert.deepEqual([before.body.secrets?.ACCOUNT_WIDE, before.body.secrets?.MACHINE_ONLY], [accountValue, machineValue], 'the control');
  for (const s of [accountSecret, machineSecret]) ok(await secretsFn(user, { method: 'DELETE', id: s.id }));
  await probe(t, 'secret deleted', {
    'ssh keys in later jobs': 'a secret grants no SSH access',
    'secrets in later payloads': async () => {
      const { job, body } = await deployBody(user, m.id);
      assert.equal(body.secrets, undefined, `a later deploy carries none: ${JSON.stringify(body.secrets)}`);
      assert.deepEqual(await jobSecrets(job.id), []);
      // A later create too (the other job that carries secrets).
      const created = await createMachine(user, {});
      const createBody = await waitFor(() => runner.received(created.pendingJob.id), Boolean, { timeoutMs: 30000, what: 'the create webhook' });
      assert.equal(createBody.secrets, undefined);
      assert.deepEqual(await jobSecrets(created.pendingJob.id), []);
      await waitForStatus(user, created.id, 'running', { timeoutMs: 30000 });
      ok(await act(user, 'delete', created.id), 202);
    },
    'functions': async () => {
      assert.deepEqual((await listSecrets(user)).filter((s) => [accountSecret.id, machineSecret.id].includes(s.id)), []);
      for (const s of [accountSecret, machineSecret]) fails(await secretsFn(user, { method: 'DELETE', id: s.id }), 404, 'not_found');
    },
    'PostgREST tables': async () => {
      for (const s of [accountSecret, machineSecret]) assert.deepEqual((await asUser(user, `/secrets?select=id,name&id=eq.${s.id}`)).json, []);
      assert.equal(Number(await value`select count(*) from secrets where id in ${sql([accountSecret.id, machineSecret.id])}`), 0, 'gone from the table');
    },
    'PostgREST RPCs': async () => {
      await rpcRefused(user, 'hangar_delete_secret', { p_secret_id: accountSecret.id });
      const r = await asUser(user, '/rpc/hangar_job_secrets', { method: 'POST', body: { p_job_id: before.job.id } });
      assert.ok(refused(r) && r.json?.ok !== true, `a user never reads sealed secrets: ${show(r)}`);
    },
  });
  ok(await act(user, 'delete', m.id), 202);
});

test('the table is whole: every way × every path is checked or says why not; the count', () => {
  const ways = ['member removed', 'member leaves', 'team deleted', 'key deleted', 'machine moved out of a project', 'machine moved out of a team', 'secret deleted'];
  assert.deepEqual([...cells.keys()].sort(), [...ways].sort(), 'every way ran');
  let checked = 0;
  const skipped = [];
  for (const [way, row] of cells) {
    assert.deepEqual([...row.keys()], PATHS, way);
    for (const [path, state] of row) {
      if (state === 'checked') checked++;
      else skipped.push(`${way} × ${path}: ${state}`);
    }
  }
  console.log(`revocation: ${checked} (way × path) pairs checked of ${ways.length * PATHS.length}; not applicable:\n  ${skipped.join('\n  ')}`);
  assert.ok(checked >= 30, `pairs checked: ${checked}`);
});
