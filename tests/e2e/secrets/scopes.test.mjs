// Secret scopes (API.md §7): which machines a secret reaches and who writes it, through the
// `secrets` function and straight through PostgREST with users' tokens. An account's
// secrets reach its own machines outside any team, never a team machine it made; a team's
// reach every machine of the team and are written by its owner only (members read their
// names); a project's reach the machines of that project of the same team (or, outside a
// team, of the project's creator) and are written by whoever manages the project; a
// machine's reach it alone. The nearest scope wins a name: machine, project, team or
// account. A member removed from the team reads and writes none of its secrets any more.
// What a job carries is read as delivery reads it (hangar_job_secrets, by id, so the
// winning scope shows), and once through the stack's runner (the webhook it received).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fails, ok, signIn } from '../lib/api.mjs';
import { asUser, createMachine, sql } from '../lib/machines.mjs';
import { newProject } from '../lib/projects.mjs';
import { startRunner, waitFor } from '../lib/runner.mjs';
import { addMember, newTeam, removeMember, rich, teams } from '../lib/teams.mjs';
import { jobSecretIds, listSecrets, newValue, putSecret, secretId, secretRow, secretsFn, watchRunner } from '../lib/secrets.mjs';

/** `member` joins `owner`'s team: invited by account id, and accepting (lib/teams.mjs). */
const join = (owner, teamId, member) => addMember(owner, teamId, member);

let owner, m1, m2, stranger, team, runner;

before(async () => {
  [owner, m1, m2, stranger] = await Promise.all([signIn(), signIn(), signIn(), signIn()]);
  await rich(owner, m1, m2, stranger);
  team = await newTeam(owner);
  await join(owner, team.id, m1);
  await join(owner, team.id, m2);
  await startRunner(); // a no-op when it runs; an earlier file may have left it down
  runner = watchRunner();
});
after(() => runner?.close());

/** The secrets the runner received with a create job (its journal). */
const received = (jobId) => waitFor(() => runner.received(jobId), Boolean, { what: `the runner to journal create job ${jobId}` });
const countIn = async (column, id, name) =>
  Number((await sql`select count(*) from secrets where ${sql(column)} = ${id} and (${name ?? null}::text is null or name = ${name ?? null})`)[0].count);
const rpc = (user, name, body) => asUser(user, `/rpc/${name}`, { method: 'POST', body });

test('a team machine gets its team’s secrets and none of its creator’s account secrets; outside the team, the account’s', { timeout: 60000 }, async () => {
  const v = {
    teamOnly: newValue('team-only'), teamShared: newValue('team-shared'),
    m1Account: newValue('m1-account'), m1Shared: newValue('m1-shared'), ownerAccount: newValue('owner-account'),
  };
  await putSecret(owner, { name: 'TEAM_ONLY', value: v.teamOnly, teamId: team.id });
  const teamShared = await putSecret(owner, { name: 'SHARED', value: v.teamShared, teamId: team.id });
  assert.deepEqual([teamShared.scope, teamShared.teamId, teamShared.id], ['team', team.id, secretId('team', team.id, 'SHARED')]);
  await putSecret(m1, { name: 'ACCOUNT_ONLY', value: v.m1Account });
  await putSecret(m1, { name: 'SHARED', value: v.m1Shared });
  await putSecret(owner, { name: 'OWNER_ACCOUNT', value: v.ownerAccount });

  const inTeam = await createMachine(m1, { teamId: team.id });
  const outside = await createMachine(m1);
  const ownersInTeam = await createMachine(owner, { teamId: team.id });
  assert.deepEqual((await received(inTeam.pendingJob.id)).secrets, { SHARED: v.teamShared, TEAM_ONLY: v.teamOnly },
    'a member’s team machine: the team’s secrets, not the member’s account ones');
  assert.deepEqual((await received(ownersInTeam.pendingJob.id)).secrets, { SHARED: v.teamShared, TEAM_ONLY: v.teamOnly },
    'the owner’s team machine: the same, not the owner’s account ones');
  assert.deepEqual((await received(outside.pendingJob.id)).secrets, { ACCOUNT_ONLY: v.m1Account, SHARED: v.m1Shared },
    'outside the team: the account’s, none of the team’s');
});

test('the nearest scope wins a name: the machine’s, then its project’s, then its team’s', { timeout: 30000 }, async () => {
  const project = await newProject(owner, { teamId: team.id });
  const m = await createMachine(m1, { teamId: team.id, projectId: project.id });
  const bare = await createMachine(m2, { teamId: team.id });
  const job = m.pendingJob.id;
  await putSecret(owner, { name: 'NEAR', value: newValue('near-team'), teamId: team.id });
  await putSecret(owner, { name: 'FAR', value: newValue('far-team'), teamId: team.id });
  await putSecret(m1, { name: 'ACCOUNT_NEAR', value: newValue('account') }); // m1's account: never in a team machine
  assert.equal((await jobSecretIds(job)).NEAR, secretId('team', team.id, 'NEAR'));
  await putSecret(owner, { name: 'NEAR', value: newValue('near-project'), projectId: project.id });
  assert.equal((await jobSecretIds(job)).NEAR, secretId('project', project.id, 'NEAR'), 'the project’s wins over the team’s');
  await putSecret(m1, { name: 'NEAR', value: newValue('near-machine'), machineId: m.id });
  const ids = await jobSecretIds(job);
  assert.equal(ids.NEAR, secretId('machine', m.id, 'NEAR'), 'the machine’s wins over the project’s');
  assert.equal(ids.FAR, secretId('team', team.id, 'FAR'), 'a name only the team has comes from the team');
  assert.equal(ids.ACCOUNT_NEAR, undefined);
  const other = await jobSecretIds(bare.pendingJob.id);
  assert.deepEqual([other.NEAR, other.FAR], [secretId('team', team.id, 'NEAR'), secretId('team', team.id, 'FAR')],
    'another team machine, in no project: the team’s');
});

test('a project’s secrets reach only machines of its own team (outside a team, of its creator), however a machine points at it', { timeout: 30000 }, async () => {
  const theirs = await newProject(stranger);
  await putSecret(stranger, { name: 'STRANGER_PROJECT', value: newValue('stranger-project'), projectId: theirs.id });
  const teamProject = await newProject(owner, { teamId: team.id });
  await putSecret(owner, { name: 'TEAM_PROJECT', value: newValue('team-project'), projectId: teamProject.id });
  const otherTeam = await newTeam(owner);
  const mine = await createMachine(m1);
  const ownersOutside = await createMachine(owner);
  const otherTeams = await createMachine(owner, { teamId: otherTeam.id });
  // No function lets a machine point at such a project; whatever path might, the secrets
  // follow the rule and not the pointer.
  await sql`update machines set project_id = ${theirs.id} where id = ${mine.id}`;
  await sql`update machines set project_id = ${teamProject.id} where id in ${sql([ownersOutside.id, otherTeams.id])}`;
  assert.equal((await jobSecretIds(mine.pendingJob.id)).STRANGER_PROJECT, undefined, 'another account’s project');
  assert.equal((await jobSecretIds(ownersOutside.pendingJob.id)).TEAM_PROJECT, undefined, 'a team project, a machine in no team');
  assert.equal((await jobSecretIds(otherTeams.pendingJob.id)).TEAM_PROJECT, undefined, 'a team project, a machine of another team');
  // The control: a machine of that team in that project gets it.
  const inside = await createMachine(m2, { teamId: team.id, projectId: teamProject.id });
  assert.equal((await jobSecretIds(inside.pendingJob.id)).TEAM_PROJECT, secretId('project', teamProject.id, 'TEAM_PROJECT'));
});

test('team secrets: only the team’s owner writes or deletes them; every member reads their names; a stranger neither', async () => {
  const name = 'OWNER_WRITES';
  fails(await secretsFn(m1, { body: { name, value: newValue('member'), teamId: team.id } }), 403, 'forbidden');
  fails(await secretsFn(stranger, { body: { name, value: newValue('stranger'), teamId: team.id } }), 400, 'validation_error', 'teamId');
  assert.equal(await countIn('team_id', team.id, name), 0, 'nothing written');
  const s = await putSecret(owner, { name, value: newValue('owner') });
  assert.equal(s.scope, 'account', 'without teamId: the owner’s account');
  const t = await putSecret(owner, { name, value: newValue('owner'), teamId: team.id });
  await putSecret(owner, { name, value: newValue('owner-again'), teamId: team.id }, 200);
  assert.equal(await countIn('team_id', team.id, name), 1);

  for (const member of [m1, m2]) {
    assert.ok((await listSecrets(member, { teamId: team.id })).some((x) => x.id === t.id), 'a member lists the team’s secret');
    assert.ok((await listSecrets(member, { scope: 'team' })).some((x) => x.id === t.id));
    const direct = await asUser(member, `/secrets?select=id,name,scope,team_id&id=eq.${t.id}`);
    assert.deepEqual(direct.json, [{ id: t.id, name, scope: 'team', team_id: team.id }], 'and reads it through PostgREST');
  }
  assert.ok(!(await listSecrets(m1)).some((x) => x.id === s.id), 'the owner’s account secret is the owner’s alone');
  assert.deepEqual(await listSecrets(stranger, { teamId: team.id }), []);
  assert.deepEqual((await asUser(stranger, `/secrets?select=id&team_id=eq.${team.id}`)).json, []);
  const listed = await rpc(stranger, 'hangar_list_secrets', { p_team_id: team.id });
  assert.deepEqual([listed.json.ok, listed.json.data.secrets], [true, []]);

  fails(await secretsFn(m1, { method: 'DELETE', id: t.id }), 403, 'forbidden');
  fails(await secretsFn(stranger, { method: 'DELETE', id: t.id }), 404, 'not_found');
  const viaRpc = await rpc(m2, 'hangar_delete_secret', { p_secret_id: t.id });
  assert.deepEqual([viaRpc.status, viaRpc.json.ok, viaRpc.json.error], [200, false, 'forbidden']);
  assert.ok(await secretRow(t.id), 'still there');
  assert.equal(ok(await secretsFn(owner, { method: 'DELETE', id: t.id })).id, t.id);
  assert.equal(await secretRow(t.id), null);
});

test('project secrets: written by the project’s creator or the team’s owner; another member is 403, a stranger 400', async () => {
  const project = await newProject(m1, { teamId: team.id });
  const name = 'PROJECT_KEY';
  const created = await putSecret(m1, { name, value: newValue('creator'), projectId: project.id });
  assert.deepEqual([created.scope, created.projectId, created.id], ['project', project.id, secretId('project', project.id, name)]);
  assert.equal((await putSecret(owner, { name, value: newValue('team-owner'), projectId: project.id }, 200)).id, created.id);
  fails(await secretsFn(m2, { body: { name, value: newValue('member'), projectId: project.id } }), 403, 'forbidden');
  fails(await secretsFn(stranger, { body: { name, value: newValue('stranger'), projectId: project.id } }), 400, 'validation_error', 'projectId');
  assert.ok((await listSecrets(m2, { projectId: project.id })).some((x) => x.id === created.id), 'a member reads the name');
  fails(await secretsFn(m2, { method: 'DELETE', id: created.id }), 403, 'forbidden');
  fails(await secretsFn(stranger, { method: 'DELETE', id: created.id }), 404, 'not_found');
  // A project outside the team is its creator's alone.
  const own = await newProject(m2);
  fails(await secretsFn(owner, { body: { name, value: newValue('owner'), projectId: own.id } }), 400, 'validation_error', 'projectId');
  await putSecret(m2, { name, value: newValue('own'), projectId: own.id });
  assert.equal(await countIn('project_id', project.id), 1);
});

test('machine secrets: written by the machine’s creator or the team’s owner; another member is 403, a stranger 400', async () => {
  const m = await createMachine(m1, { teamId: team.id });
  const name = 'MACHINE_KEY';
  const created = await putSecret(m1, { name, value: newValue('creator'), machineId: m.id });
  assert.equal(created.id, secretId('machine', m.id, name));
  await putSecret(owner, { name, value: newValue('team-owner'), machineId: m.id }, 200);
  fails(await secretsFn(m2, { body: { name, value: newValue('member'), machineId: m.id } }), 403, 'forbidden');
  fails(await secretsFn(stranger, { body: { name, value: newValue('stranger'), machineId: m.id } }), 400, 'validation_error', 'machineId');
  fails(await secretsFn(m2, { method: 'DELETE', id: created.id }), 403, 'forbidden');
  assert.ok((await listSecrets(m2, { machineId: m.id })).some((x) => x.id === created.id), 'a member reads the name');
  assert.deepEqual(await listSecrets(stranger, { machineId: m.id }), []);
});

test('a removed member reads and writes none of the team’s secrets, not even those of the project they created', async () => {
  const project = await newProject(m2, { teamId: team.id });
  const mine = await putSecret(m2, { name: 'LEAVER_PROJECT', value: newValue('leaver'), projectId: project.id });
  const teamSecret = await putSecret(owner, { name: 'LEAVER_TEAM', value: newValue('team'), teamId: team.id });
  assert.ok((await listSecrets(m2)).some((x) => x.id === teamSecret.id));
  ok(await removeMember(owner, team.id, m2.user.id));

  fails(await secretsFn(m2, { body: { name: 'LEAVER_PROJECT', value: newValue('after'), projectId: project.id } }), 400, 'validation_error', 'projectId');
  fails(await secretsFn(m2, { body: { name: 'LEAVER_TEAM', value: newValue('after'), teamId: team.id } }), 400, 'validation_error', 'teamId');
  fails(await secretsFn(m2, { method: 'DELETE', id: mine.id }), 404, 'not_found');
  const viaRpc = await rpc(m2, 'hangar_delete_secret', { p_secret_id: teamSecret.id });
  assert.deepEqual([viaRpc.json.ok, viaRpc.json.error], [false, 'not_found']);
  const seen = (await listSecrets(m2)).filter((x) => x.teamId === team.id || x.projectId === project.id);
  assert.deepEqual(seen, [], 'none of the team’s in GET');
  const direct = await asUser(m2, `/secrets?select=id&or=(team_id.eq.${team.id},project_id.eq.${project.id})`);
  assert.deepEqual(direct.json, [], 'none through PostgREST');
  assert.ok(await secretRow(mine.id), 'the project’s secret stays the project’s');
  // The team's owner still manages the project's secrets.
  await putSecret(owner, { name: 'LEAVER_PROJECT', value: newValue('owner'), projectId: project.id }, 200);
});
