// A stranger to a team (API.md §1, §7: 404, never 403): every function that takes an id
// answers 404 for the team, its members, its machines, their jobs and its projects (a
// function this file does not know is tried by path and id too, so a new one is covered);
// PostgREST shows them nothing of the team's tables or of what hangs off its machines,
// and neither they nor a member can write the team tables past the functions. Afterwards
// everything of the team's is exactly as it was. The members' own reads are the control:
// the rows exist, and a member sees them.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { fn, ok, fails, show, signIn, refused } from '../lib/api.mjs';
import { asUser, createMachine, rows } from '../lib/machines.mjs';
import { waitForJob } from '../lib/runner.mjs';
import { newProject } from '../lib/projects.mjs';
import { postMetrics, sample, setAgentToken } from '../lib/billing.mjs';
import { functionNames } from '../lib/tenant.mjs';
import { teams, teamWith, runningTeamMachine, rich } from '../lib/teams.mjs';

let owner, member, stranger;
let team, project, machine, job, deployment;

before(async () => {
  [owner, member, stranger] = await Promise.all([signIn(), signIn(), signIn()]);
  await rich(owner, member, stranger);
  team = await teamWith(owner, member);
  project = await newProject(owner, { teamId: team.id });
  machine = await runningTeamMachine(member, team.id, { projectId: project.id });
  const dep = ok(await fn('deploy-protocol', { token: member.accessToken, body: { machineId: machine.id, protocolConfig: { name: 'geth', version: '1' } } }), 202);
  [job, deployment] = [dep.job, dep.deploymentId];
  await waitForJob(member, job.id, { timeoutMs: 30000 });
  ok(await postMetrics(await setAgentToken(machine.id), sample()), 202);
  await createMachine(stranger); // the stranger has rows of their own: the empties below are not a dead session's
});

/** Everything of the team's, as the superuser sees it (the billing clock left out: the meter may run). */
const snapshot = async () => ({
  team: await rows`select * from teams where id = ${team.id}`,
  members: await rows`select * from team_members where team_id = ${team.id} order by account_id`,
  invitations: await rows`select * from team_invitations where team_id = ${team.id} order by id`,
  project: await rows`select * from projects where id = ${project.id}`,
  machine: await rows`select id, owner_id, team_id, project_id, name, status, tier from machines where id = ${machine.id}`,
  jobs: await rows`select id, action, status from jobs where machine_id = ${machine.id} order by created_at`,
  events: await rows`select id from machine_events where machine_id = ${machine.id} and event_type <> 'job.delivery_failed' order by id`,
  deployments: await rows`select * from protocol_deployments where machine_id = ${machine.id}`,
});

const notFound = (label) => (res) => {
  assert.notEqual(res.status, 403, `${label}: 403 instead of 404: ${show(res)}`);
  fails(res, 404, 'not_found');
};

test('every function: the team, its members, machine, jobs and project are 404 for a stranger; nothing changes', { timeout: 120000 }, async () => {
  const before = await snapshot();
  const t = stranger.accessToken;
  const m = { machineId: machine.id };
  const known = {
    'get-machine-status': [{ query: m }],
    'get-logs': [{ query: m }],
    'insights': [{ query: m }],
    'get-job': [{ query: { jobId: job.id } }],
    'start-machine': [{ body: m }], 'stop-machine': [{ body: m }], 'restart-machine': [{ body: m }],
    'delete-machine': [{ body: m }, { method: 'DELETE', body: m }],
    'deploy-protocol': [{ body: { ...m, protocolConfig: { name: 'evil', version: '1' } } }],
    'send-command': [{ body: { ...m, command: 'cat', args: ['/etc/shadow'] } }],
    'log-machine-event': [{ body: { ...m, eventType: 'pwned' } }],
    'update-machine': [{ method: 'PATCH', body: { ...m, name: 'pwned' } }, { method: 'PATCH', body: { ...m, tier: 'dev.xlarge' } }],
    'instances': [{ path: `/${machine.id}` }, { path: `/${machine.id}`, method: 'PATCH', body: { name: 'pwned' } }],
    'projects': [{ path: `/${project.id}` }, { path: `/${project.id}`, method: 'PATCH', body: { name: 'pwned' } },
      { path: `/${project.id}`, method: 'DELETE', query: { cascade: 'true' } }],
    'teams': [{ path: `/${team.id}` }, { path: `/${team.id}`, method: 'PATCH', body: { name: 'pwned' } },
      { path: `/${team.id}`, method: 'DELETE' }, { path: `/${team.id}/members` },
      { path: `/${team.id}/members`, body: { identifier: stranger.user.id } },
      { path: `/${team.id}/members/${member.user.id}`, method: 'DELETE' },
      { path: `/${team.id}/members/${stranger.user.id}`, method: 'DELETE' },
      { path: `/${team.id}/join`, method: 'POST' }],
  };
  let calls = 0;
  for (const [name, attempts] of Object.entries(known)) {
    for (const { path = '', ...opts } of attempts) {
      notFound(`${name}${path}`)(await fn(`${name}${path}`, { ...opts, token: t }));
      calls++;
    }
  }
  // Functions this file does not name (those that take no id, and any added later): the
  // team's ids by path and in the usual fields. None fails (5xx), and none answers with
  // anything of the team's but the id it was sent.
  const ids = [team.id, machine.id, project.id, job.id, deployment];
  const secrets = [...ids, owner.user.id, member.user.id, team.name, project.name, machine.name];
  const leaks = (sent, res) => secrets.filter((x) => x !== sent && res.text.includes(x));
  for (const name of functionNames().filter((n) => !(n in known))) {
    for (const id of ids) {
      for (const [target, opts] of [[`${name}/${id}`, { method: 'GET' }], [`${name}/${id}`, { method: 'DELETE' }],
        [name, { query: { id, teamId: id, machineId: id } }]]) {
        const res = await fn(target, { ...opts, token: t });
        calls++;
        assert.ok(res.status < 500, `${target}: ${show(res)}`);
        assert.deepEqual(leaks(id, res), [], `${target} answers with the team's: ${show(res)}`);
      }
    }
  }
  // Lists and creates that name the team: empty, or 400 on the field.
  assert.deepEqual(ok(await fn('get-user-machines', { token: t, query: { teamId: team.id } })).machines, []);
  assert.ok(!ok(await fn('get-user-machines', { token: t })).machines.some((x) => x.id === machine.id));
  assert.ok(!ok(await teams(stranger)).teams.some((x) => x.id === team.id));
  assert.ok(!ok(await fn('projects', { token: t })).projects.some((p) => p.id === project.id));
  fails(await fn('create-machine', { token: t, body: { name: 'x', teamId: team.id } }), 400, 'validation_error', 'teamId');
  fails(await fn('create-machine', { token: t, body: { name: 'x', projectId: project.id } }), 400, 'validation_error', 'projectId');
  fails(await fn('projects', { token: t, body: { name: 'x', teamId: team.id } }), 400, 'validation_error', 'teamId');
  console.log(`figure: ${calls} stranger calls on the team's ids`);
  assert.deepEqual(await snapshot(), before, 'nothing of the team\'s changed');
});

const TABLES = () => [
  ['teams', `id=eq.${team.id}`], ['team_members', `team_id=eq.${team.id}`], ['projects', `id=eq.${project.id}`],
  ['machines', `id=eq.${machine.id}`], ['machine_events', `machine_id=eq.${machine.id}`], ['jobs', `machine_id=eq.${machine.id}`],
  ['protocol_deployments', `machine_id=eq.${machine.id}`], ['machine_metrics', `machine_id=eq.${machine.id}`],
];

test('PostgREST: a stranger reads nothing of the team\'s tables, by id or in full; a member reads them all', async () => {
  for (const [table, filter] of TABLES()) {
    const mine = await asUser(member, `/${table}?${filter}`);
    assert.ok(Array.isArray(mine.json) && mine.json.length >= 1, `the member reads ${table}: ${show(mine)}`);
    const byId = await asUser(stranger, `/${table}?${filter}`);
    assert.equal(byId.status, 200, show(byId));
    assert.deepEqual(byId.json, [], `the stranger reads ${table} by id`);
    const all = await asUser(stranger, `/${table}?select=*`);
    assert.equal(all.status, 200, show(all));
    const ids = new Set([team.id, machine.id, project.id]);
    const theirs = all.json.filter((r) => [r.id, r.team_id, r.machine_id].some((v) => ids.has(v)));
    assert.deepEqual(theirs, [], `the stranger's full read of ${table} holds nothing of the team's`);
  }
  // Embedding from a table the stranger reads.
  const emb = await asUser(stranger, '/machines?select=id,teams(*),projects(*)');
  assert.ok(refused(emb) || emb.json.every((r) => !r.teams && (!r.projects || r.projects.id !== project.id)), show(emb));
});

test('PostgREST: nobody writes the team tables directly, not a stranger, not a member, not the owner', async () => {
  const before = await snapshot();
  const repr = { prefer: 'return=representation' };
  const refusedOrEmpty = (res, label) =>
    assert.ok(refused(res) || (Array.isArray(res.json) && res.json.length === 0), `${label}: ${show(res)}`);
  for (const [who, user] of [['stranger', stranger], ['member', member], ['owner', owner]]) {
    refusedOrEmpty(await asUser(user, '/team_members', { method: 'POST', body: { team_id: team.id, account_id: stranger.user.id, role: 'owner' }, headers: repr }), `${who} inserts a member`);
    refusedOrEmpty(await asUser(user, '/team_invitations', { method: 'POST', body: { team_id: team.id, identifier: user.user.id, invited_by: owner.user.id }, headers: repr }), `${who} inserts an invitation`);
    refusedOrEmpty(await asUser(user, `/team_members?team_id=eq.${team.id}`, { method: 'PATCH', body: { role: 'owner' }, headers: repr }), `${who} promotes`);
    refusedOrEmpty(await asUser(user, `/team_members?team_id=eq.${team.id}`, { method: 'DELETE', headers: repr }), `${who} deletes members`);
    refusedOrEmpty(await asUser(user, '/teams', { method: 'POST', body: { name: 'direct', owner_id: user.user.id }, headers: repr }), `${who} inserts a team`);
    refusedOrEmpty(await asUser(user, `/teams?id=eq.${team.id}`, { method: 'PATCH', body: { owner_id: user.user.id, name: 'pwned' }, headers: repr }), `${who} takes the team`);
    refusedOrEmpty(await asUser(user, `/teams?id=eq.${team.id}`, { method: 'DELETE', headers: repr }), `${who} deletes the team`);
    refusedOrEmpty(await asUser(user, `/machines?id=eq.${machine.id}`, { method: 'PATCH', body: { team_id: null, owner_id: user.user.id }, headers: repr }), `${who} moves the machine out`);
  }
  // The stranger cannot put a project or their machine into the team through PostgREST.
  refusedOrEmpty(await asUser(stranger, '/projects', { method: 'POST', body: { name: 'sneak', team_id: team.id }, headers: repr }), 'stranger inserts a team project');
  assert.deepEqual(await rows`select id from projects where team_id = ${team.id} and owner_id = ${stranger.user.id}`, []);
  // Nor through /rpc: the functions refuse as the `teams` function does.
  for (const [fnName, body] of [
    ['hangar_get_team', { p_team_id: team.id }],
    ['hangar_list_team_members', { p_team_id: team.id }],
    ['hangar_invite_team_member', { p_team_id: team.id, p_identifier: stranger.user.id }],
    ['hangar_join_team', { p_team_id: team.id }],
    ['hangar_remove_team_member', { p_team_id: team.id, p_account_id: member.user.id }],
    ['hangar_update_team', { p_team_id: team.id, p_name: 'pwned' }],
    ['hangar_delete_team', { p_team_id: team.id }],
  ]) {
    const r = await asUser(stranger, `/rpc/${fnName}`, { method: 'POST', body });
    assert.equal(r.status, 200, show(r));
    assert.deepEqual([r.json.ok, r.json.error], [false, 'not_found'], `${fnName}: ${show(r)}`);
  }
  assert.deepEqual(await snapshot(), before, 'nothing of the team\'s changed');
});
