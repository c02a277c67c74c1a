// Team machines (API.md §7): every member of a machine's team reads it and starts, stops,
// restarts, deploys to it, sends commands, reads its logs, jobs and insights, notes events
// and renames it; only its creator and the team's owner delete it or change its tier (403
// for another member, with nothing changed); a member removed from the team gets 404 at
// once, and a creator who leaves takes their machines with them; create-machine and projects take a teamId of the caller's teams, and a team
// machine goes only into a project of its team. The stack's runner (simulate) runs the
// jobs, so the machines really move.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { fn, ok, fails, signIn } from '../lib/api.mjs';
import {
  act, asUser, assertMachine, counts, createMachine, createRaw, getStatus, listMachines, machineRow, newName, rows,
} from '../lib/machines.mjs';
import { waitForJob, waitForStatus } from '../lib/runner.mjs';
import { projects, newProject } from '../lib/projects.mjs';
import { postMetrics, sample, setAgentToken } from '../lib/billing.mjs';
import { teams, teamWith, removeMember, runningTeamMachine, rich } from '../lib/teams.mjs';

let owner, creator, member, stranger;
before(async () => {
  [owner, creator, member, stranger] = await Promise.all([signIn(), signIn(), signIn(), signIn()]);
  await rich(owner, creator, member, stranger);
});

const update = (user, body) => fn('update-machine', { token: user.accessToken, method: 'PATCH', body });

test('a member acts on another member\'s team machine: status, list, stop, start, restart, deploy, command, logs, jobs, insights, notes, rename', { timeout: 120000 }, async () => {
  const team = await teamWith(owner, creator, member);
  const m = await runningTeamMachine(creator, team.id);

  const seen = assertMachine(ok(await getStatus(member, m.id)));
  assert.equal(seen.teamId, team.id);
  assert.ok(ok(await listMachines(member)).machines.some((x) => x.id === m.id), 'get-user-machines lists the team\'s machine');
  assert.deepEqual(ok(await listMachines(member, { teamId: team.id })).machines.map((x) => x.id), [m.id], '?teamId= lists that team\'s only');

  assert.equal(ok(await act(member, 'stop', m.id), 202).status, 'stopping');
  await waitForStatus(member, m.id, 'stopped', { timeoutMs: 30000 });
  assert.equal(ok(await act(member, 'start', m.id), 202).status, 'starting');
  await waitForStatus(member, m.id, 'running', { timeoutMs: 30000 });
  assert.equal(ok(await act(member, 'restart', m.id), 202).status, 'restarting');
  await waitForStatus(member, m.id, 'running', { timeoutMs: 30000 });

  const dep = ok(await fn('deploy-protocol', { token: member.accessToken, body: { machineId: m.id, protocolConfig: { name: 'geth', version: '1.14.0' } } }), 202);
  const cmd = ok(await fn('send-command', { token: member.accessToken, body: { machineId: m.id, command: 'uptime' } }), 202);
  assert.equal((await waitForJob(member, dep.job.id, { timeoutMs: 30000 })).status, 'succeeded');
  assert.equal((await waitForJob(member, cmd.job.id, { timeoutMs: 30000 })).status, 'succeeded');
  // The creator and the owner read the member's jobs too.
  ok(await fn('get-job', { token: creator.accessToken, query: { jobId: cmd.job.id } }));
  ok(await fn('get-job', { token: owner.accessToken, query: { jobId: dep.job.id } }));

  ok(await fn('log-machine-event', { token: member.accessToken, body: { machineId: m.id, eventType: 'team.note', details: { by: 'member' } } }), 201);
  const events = ok(await fn('get-logs', { token: member.accessToken, query: { machineId: m.id } })).events;
  for (const type of ['machine.create_requested', 'machine.stop_requested', 'machine.start_requested', 'machine.restart_requested',
    'machine.deploy_requested', 'machine.command_requested', 'team.note']) {
    assert.ok(events.some((e) => e.eventType === type), `get-logs shows ${type}`);
  }

  // A sample of a known moment (the simulated agent may post its own besides).
  const token = await setAgentToken(m.id);
  const at = new Date(Date.now() - 60_000).toISOString();
  ok(await postMetrics(token, [sample(Math.random, { recordedAt: at })]), 202);
  const insights = ok(await fn('insights', { token: member.accessToken, query: { machineId: m.id } }));
  assert.ok(insights.summary.samples >= 1, 'the member sees the agent\'s samples');
  assert.ok(insights.series.some((p) => Date.parse(p.recordedAt) <= Date.parse(at)), 'including the one posted a minute ago');

  const renamed = ok(await update(member, { machineId: m.id, name: 'renamed-by-member' }));
  assert.equal(renamed.name, 'renamed-by-member');

  // Every job went to the machine, each one transition's or request's, and the creator is
  // still its owner (who pays).
  const jobs = await rows`select action from jobs where machine_id = ${m.id} order by created_at`;
  assert.deepEqual(jobs.map((j) => j.action), ['create', 'stop', 'start', 'restart', 'deploy', 'command']);
  assert.equal((await machineRow(m.id)).owner_id, creator.user.id);

  // PostgREST as the member: the machine and what hangs off it are readable.
  for (const [table, filter] of [['machines', `id=eq.${m.id}`], ['machine_events', `machine_id=eq.${m.id}`], ['jobs', `machine_id=eq.${m.id}`],
    ['protocol_deployments', `machine_id=eq.${m.id}`], ['machine_metrics', `machine_id=eq.${m.id}`]]) {
    const res = await asUser(member, `/${table}?${filter}`);
    assert.ok(Array.isArray(res.json) && res.json.length >= 1, `the member reads ${table} of the team's machine: ${res.status} ${res.text.slice(0, 200)}`);
  }
});

test('a member\'s delete or tier change of another\'s machine is 403 and changes nothing; the creator and the team owner may', { timeout: 90000 }, async () => {
  const team = await teamWith(owner, creator, member);
  const [a, b] = await Promise.all([runningTeamMachine(creator, team.id), runningTeamMachine(creator, team.id)]);
  ok(await act(creator, 'stop', b.id), 202);
  await waitForStatus(creator, b.id, 'stopped', { timeoutMs: 30000 });

  // (The meter may touch the billing columns meanwhile: what a delete or resize changes is compared.)
  const state = async () => Promise.all([a.id, b.id].map(async (id) => {
    const r = await machineRow(id);
    return { ...(await counts(id)), status: r.status, tier: r.tier, name: r.name, team: r.team_id, owner: r.owner_id };
  }));
  const before = await state();
  fails(await act(member, 'delete', a.id), 403, 'forbidden');
  fails(await act(member, 'delete', a.id, { method: 'DELETE' }), 403, 'forbidden');
  fails(await update(member, { machineId: b.id, tier: 'dev.large' }), 403, 'forbidden');
  fails(await fn(`instances/${b.id}`, { token: member.accessToken, method: 'PATCH', body: { tier: 'dev.large' } }), 403, 'forbidden');
  // A tier patch that changes nothing is no change of tier.
  assert.equal(ok(await update(member, { machineId: b.id, tier: b.tier })).tier, b.tier);
  assert.deepEqual(await state(), before, 'nothing changed');

  // The team's owner changes the tier and deletes; the creator deletes their own.
  assert.equal(ok(await update(owner, { machineId: b.id, tier: 'dev.large' })).tier, 'dev.large');
  assert.equal(ok(await act(owner, 'delete', b.id), 202).status, 'terminating');
  assert.equal(ok(await act(creator, 'delete', a.id), 202).status, 'terminating');
});

test('a member removed from the team gets 404 at once on every function and reads nothing through PostgREST', { timeout: 90000 }, async () => {
  const leaver = await signIn();
  const team = await teamWith(owner, creator, leaver);
  const m = await runningTeamMachine(creator, team.id);
  const job = ok(await fn('send-command', { token: leaver.accessToken, body: { machineId: m.id, command: 'uptime' } }), 202).job;
  await waitForJob(leaver, job.id, { timeoutMs: 30000 }); // its events are in before the count below

  ok(await removeMember(owner, team.id, leaver.user.id));
  const before = await counts(m.id);
  const calls = [
    getStatus(leaver, m.id),
    fn('get-logs', { token: leaver.accessToken, query: { machineId: m.id } }),
    fn('get-job', { token: leaver.accessToken, query: { jobId: job.id } }),
    fn('insights', { token: leaver.accessToken, query: { machineId: m.id } }),
    act(leaver, 'stop', m.id), act(leaver, 'restart', m.id), act(leaver, 'delete', m.id),
    fn('deploy-protocol', { token: leaver.accessToken, body: { machineId: m.id, protocolConfig: { name: 'x', version: '1' } } }),
    fn('send-command', { token: leaver.accessToken, body: { machineId: m.id, command: 'uptime' } }),
    fn('log-machine-event', { token: leaver.accessToken, body: { machineId: m.id, eventType: 'x' } }),
    update(leaver, { machineId: m.id, name: 'gone' }),
    fn(`instances/${m.id}`, { token: leaver.accessToken }),
    teams(leaver, { path: `/${team.id}` }),
    teams(leaver, { path: `/${team.id}/members` }),
  ];
  for (const res of await Promise.all(calls)) fails(res, 404, 'not_found');
  assert.ok(!ok(await listMachines(leaver)).machines.some((x) => x.id === m.id), 'no longer listed');
  assert.deepEqual(ok(await listMachines(leaver, { teamId: team.id })).machines, []);
  for (const [table, filter] of [['machines', `id=eq.${m.id}`], ['jobs', `machine_id=eq.${m.id}`], ['machine_events', `machine_id=eq.${m.id}`],
    ['teams', `id=eq.${team.id}`], ['team_members', `team_id=eq.${team.id}`]]) {
    const res = await asUser(leaver, `/${table}?${filter}`);
    assert.deepEqual(res.json, [], `${table} through PostgREST: ${res.status} ${res.text.slice(0, 200)}`);
  }
  assert.deepEqual(await counts(m.id), before, 'nothing changed');
  assert.equal((await machineRow(m.id)).status, 'running');
});

test('a creator who leaves takes their team machine with them (still theirs, out of the team); the others\' are 404 to them', { timeout: 90000 }, async () => {
  const [leaving, other] = await Promise.all([signIn(), signIn()]);
  await rich(leaving, other);
  const team = await teamWith(owner, leaving, other);
  const [mine, theirs] = await Promise.all([runningTeamMachine(leaving, team.id), runningTeamMachine(other, team.id)]);
  ok(await removeMember(leaving, team.id, leaving.user.id));
  const kept = ok(await getStatus(leaving, mine.id));
  assert.deepEqual([kept.teamId, kept.status], [null, 'running'], 'out of the team, still theirs and running');
  fails(await getStatus(leaving, theirs.id), 404, 'not_found');
  // Nobody of the team acts on it any more (teams/leaving.test.mjs has the rest).
  fails(await act(other, 'stop', mine.id), 404, 'not_found');
  fails(await act(owner, 'delete', mine.id), 404, 'not_found');
  assert.equal(ok(await act(leaving, 'stop', mine.id), 202).status, 'stopping');
});

test('create-machine and projects take only the caller\'s teams; a team machine goes only into a project of its team', { timeout: 60000 }, async () => {
  const team = await teamWith(owner, creator, member);
  const otherTeam = await teamWith(stranger);
  fails(await createRaw(stranger, { teamId: team.id }), 400, 'validation_error', 'teamId');
  fails(await createRaw(creator, { teamId: otherTeam.id }), 400, 'validation_error', 'teamId');
  fails(await projects(stranger, { body: { name: newName('p'), teamId: team.id } }), 400, 'validation_error', 'teamId');

  const teamProject = await newProject(owner, { teamId: team.id });
  assert.equal(teamProject.teamId, team.id);
  const personal = await newProject(creator);
  assert.equal(personal.teamId, null);
  fails(await createRaw(creator, { projectId: teamProject.id }), 400, 'validation_error', 'projectId');
  fails(await createRaw(creator, { teamId: team.id, projectId: personal.id }), 400, 'validation_error', 'projectId');
  fails(await createRaw(stranger, { projectId: teamProject.id }), 400, 'validation_error', 'projectId');

  const m = await createMachine(creator, { teamId: team.id, projectId: teamProject.id });
  assert.deepEqual([m.teamId, m.projectId], [team.id, teamProject.id]);
  const own = await createMachine(creator);
  assert.equal(own.teamId, null);
  fails(await update(creator, { machineId: m.id, projectId: personal.id }), 400, 'validation_error', 'projectId');
  fails(await update(creator, { machineId: own.id, projectId: teamProject.id }), 400, 'validation_error', 'projectId');
  // The same rule holds for a direct write through PostgREST.
  const direct = await asUser(creator, `/machines?id=eq.${m.id}`, { method: 'PATCH', body: { project_id: personal.id }, headers: { prefer: 'return=representation' } });
  assert.ok((direct.status >= 400 && direct.status < 500) || (Array.isArray(direct.json) && direct.json.length === 0), `PostgREST PATCH into a personal project: ${direct.status} ${direct.text.slice(0, 200)}`);
  assert.equal((await machineRow(m.id)).project_id, teamProject.id);

  // Members see the team's projects and their machines; only the creator and the team's
  // owner change one.
  const seen = ok(await projects(member, { id: teamProject.id }));
  assert.deepEqual(seen.machines.map((x) => x.id), [m.id]);
  assert.ok(ok(await projects(member)).projects.some((p) => p.id === teamProject.id), 'listed for a member');
  fails(await projects(member, { id: teamProject.id, method: 'PATCH', body: { name: 'mine now' } }), 403, 'forbidden');
  fails(await projects(member, { id: teamProject.id, method: 'DELETE', query: { cascade: 'true' } }), 403, 'forbidden');
  fails(await projects(stranger, { id: teamProject.id }), 404, 'not_found');
  assert.equal(ok(await projects(owner, { id: teamProject.id, method: 'PATCH', body: { description: 'ours' } })).description, 'ours');
  // A member moves a team machine between the team's projects.
  const second = await newProject(member, { teamId: team.id });
  assert.equal(ok(await update(member, { machineId: m.id, projectId: second.id })).projectId, second.id);
  // The member who made a project may not cascade-delete other members' machines in it.
  const jobsBefore = (await counts(m.id)).jobs;
  fails(await projects(member, { id: second.id, method: 'DELETE', query: { cascade: 'true' } }), 403, 'forbidden');
  assert.equal((await counts(m.id)).jobs, jobsBefore, 'the member\'s cascade queued nothing');
  assert.equal((await machineRow(m.id)).project_id, second.id, 'the project is still there');
  // The team's owner may.
  const gone = ok(await projects(owner, { id: second.id, method: 'DELETE', query: { cascade: 'true' } }));
  assert.deepEqual(gone.machines.map((x) => x.id), [m.id]);
});

test('a team with live machines cannot be deleted (409 with the count); once they are terminated it can, and they stay with their creators', { timeout: 90000 }, async () => {
  const team = await teamWith(owner, creator);
  const m = await runningTeamMachine(creator, team.id);
  const refused = fails(await teams(owner, { path: `/${team.id}`, method: 'DELETE' }), 409, 'conflict');
  assert.match(refused.message, /1 machine/);
  ok(await act(creator, 'delete', m.id), 202);
  await waitForStatus(creator, m.id, 'terminated', { timeoutMs: 30000 });
  ok(await teams(owner, { path: `/${team.id}`, method: 'DELETE' }));
  const row = await machineRow(m.id);
  assert.deepEqual([row.team_id, row.owner_id], [null, creator.user.id]);
  ok(await getStatus(creator, m.id));
  fails(await getStatus(owner, m.id), 404, 'not_found');
});
