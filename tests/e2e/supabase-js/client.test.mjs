// supabase-js as the real client (issue 11): a frontend written the way the seeds write it.
// Every function through `supabase.functions.invoke(name, { body })` (its default method,
// POST, reads included) and in its GET/PATCH/DELETE form where it has one; errors read from
// the envelope through `FunctionsHttpError`; the caller's own rows through `supabase.from()`
// under RLS.
//
// Two clients, as a frontend has them: `hangar` at FUNCTIONS_URL (invoke calls
// `<url>/functions/v1/<name>`), and `db` at the Supabase origin (`<url>/rest/v1`, which the
// stack's PostgREST proxy maps onto postrust: SUPABASE_REST_ORIGIN).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, FunctionsHttpError } from '@supabase/supabase-js';
import { env } from '../lib/env.mjs';
import { privyToken, newPrivyDid } from '../lib/jwt.mjs';
import { signIn, UUID_RE } from '../lib/api.mjs';
import { setAgentToken, sample } from '../lib/billing.mjs';
import { waitForStatus } from '../lib/runner.mjs';

const options = (token) => ({
  auth: { persistSession: false, autoRefreshToken: false },
  global: token ? { headers: { Authorization: `Bearer ${token}` } } : {},
});
const hangarAs = (token) => createClient(env.FUNCTIONS_URL, env.SUPABASE_ANON_KEY, options(token));
const dbAs = (token) => createClient(env.SUPABASE_REST_ORIGIN, env.SUPABASE_ANON_KEY, options(token));

/** invoke, then the envelope: `data.data` on success; the error envelope from the Response. */
async function invoke(client, name, opts = {}) {
  const { data, error } = await client.functions.invoke(name, opts);
  if (error) {
    assert.ok(error instanceof FunctionsHttpError, `${name}: ${error.name}: ${error.message}`);
    const envelope = await error.context.json();
    return { ok: false, status: error.context.status, envelope };
  }
  assert.equal(data.success, true, `${name}: ${JSON.stringify(data)}`);
  return { ok: true, data: data.data, envelope: data };
}
const okData = (r, what) => {
  assert.ok(r.ok, `${what}: ${r.status} ${JSON.stringify(r.envelope)}`);
  return r.data;
};

let user, hangar, db, machine;
before(async () => {
  user = await signIn();
  hangar = hangarAs(user.accessToken);
  db = dbAs(user.accessToken);
});

test('sign-in through invoke: exchange, refresh-session, me (POST and GET), me PATCH, logout', async () => {
  const anon = hangarAs(null);
  const session = okData(await invoke(anon, 'exchange', { body: { token: privyToken({ sub: newPrivyDid() }) } }), 'exchange');
  assert.match(session.user.id, UUID_RE);
  const client = hangarAs(session.accessToken);
  const viaPost = okData(await invoke(client, 'me'), 'me (POST, invoke\'s default)');
  const viaGet = okData(await invoke(client, 'me', { method: 'GET' }), 'me GET');
  assert.equal(viaPost.id, session.user.id);
  assert.equal(viaGet.id, session.user.id);
  const patched = okData(await invoke(client, 'me', { method: 'PATCH', body: { displayName: 'Invoked' } }), 'me PATCH');
  assert.equal(patched.displayName, 'Invoked');
  const refreshed = okData(await invoke(anon, 'refresh-session', { body: { refreshToken: session.refreshToken } }), 'refresh-session');
  assert.ok(refreshed.accessToken);
  okData(await invoke(hangarAs(refreshed.accessToken), 'logout', { body: {} }), 'logout');
});

test('machines through invoke: create, list and status (POST and GET), the lifecycle, update, logs, jobs', { timeout: 60000 }, async () => {
  const created = okData(await invoke(hangar, 'create-machine', { body: { name: 'from-invoke', tier: 'dev.small' } }), 'create-machine');
  machine = created.machine ?? created;
  assert.match(machine.id, UUID_RE);
  await waitForStatus(user, machine.id, 'running');

  for (const method of [undefined, 'GET']) {
    const list = okData(await invoke(hangar, method ? 'get-user-machines?limit=10' : 'get-user-machines', { method, body: method ? undefined : { limit: 10 } }), `get-user-machines ${method ?? 'POST'}`);
    assert.ok(JSON.stringify(list).includes(machine.id), 'the list has the machine');
    const status = okData(await invoke(hangar, method ? `get-machine-status?machineId=${machine.id}` : 'get-machine-status',
      { method, body: method ? undefined : { machineId: machine.id } }), `get-machine-status ${method ?? 'POST'}`);
    assert.equal(status.id, machine.id);
    const logs = okData(await invoke(hangar, method ? `get-logs?machineId=${machine.id}` : 'get-logs', { method, body: method ? undefined : { machineId: machine.id } }), 'get-logs');
    assert.ok(JSON.stringify(logs).includes('machine.create_requested'));
    okData(await invoke(hangar, method ? `get-recent-logs?machineId=${machine.id}` : 'get-recent-logs', { method, body: method ? undefined : { machineId: machine.id } }), 'get-recent-logs');
    okData(await invoke(hangar, method ? `instances/${machine.id}` : `instances/${machine.id}`, { method: 'GET' }), 'instances/{id} GET');
  }

  const event = okData(await invoke(hangar, 'log-machine-event', { body: { machineId: machine.id, eventType: 'seed.note', details: 'Event description' } }), 'log-machine-event with a string');
  assert.equal(event.details, 'Event description');
  const deployed = okData(await invoke(hangar, 'deploy-protocol', { body: { machineId: machine.id, protocolConfig: { name: 'My Protocol', version: '1.0' } } }), 'deploy-protocol "My Protocol"');
  const job = okData(await invoke(hangar, 'get-job', { body: { jobId: deployed.job.id } }), 'get-job (POST)');
  assert.equal(job.id, deployed.job.id);
  okData(await invoke(hangar, `get-job?jobId=${deployed.job.id}`, { method: 'GET' }), 'get-job GET');
  okData(await invoke(hangar, 'send-command', { body: { machineId: machine.id, command: 'uptime' } }), 'send-command');
  okData(await invoke(hangar, 'restart-machine', { body: { machineId: machine.id } }), 'restart-machine');
  await waitForStatus(user, machine.id, 'running');
  okData(await invoke(hangar, 'stop-machine', { body: { machineId: machine.id } }), 'stop-machine');
  await waitForStatus(user, machine.id, 'stopped');
  const renamed = okData(await invoke(hangar, 'update-machine', { method: 'PATCH', body: { machineId: machine.id, name: 'renamed-by-invoke' } }), 'update-machine');
  assert.equal((renamed.machine ?? renamed).name, 'renamed-by-invoke');
  okData(await invoke(hangar, 'start-machine', { body: { machineId: machine.id } }), 'start-machine');
  await waitForStatus(user, machine.id, 'running');
});

test('errors come back as FunctionsHttpError with the envelope: 400 naming the field, 404, 405, 401', async () => {
  const bad = await invoke(hangar, 'create-machine', { body: { name: 'bad/name' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.envelope.error_code, 'validation_error');
  assert.equal(bad.envelope.details.field, 'name');
  assert.ok(bad.envelope.request_id);
  const missing = await invoke(hangar, 'get-machine-status', { body: { machineId: '00000000-0000-4000-8000-000000000000' } });
  assert.deepEqual([missing.status, missing.envelope.error_code], [404, 'not_found']);
  const wrongMethod = await invoke(hangar, 'start-machine', { method: 'DELETE' });
  assert.deepEqual([wrongMethod.status, wrongMethod.envelope.error_code], [405, 'method_not_allowed']);
  const noToken = await invoke(createClient(env.FUNCTIONS_URL, env.SUPABASE_ANON_KEY, options(null)), 'get-user-machines');
  assert.equal(noToken.status, 401, 'the anon key is not a user');
});

test('projects, pricing, billing, insights, metrics, teams, ssh keys and secrets through invoke', { timeout: 30000 }, async () => {
  assert.ok(machine, 'the machine of the machines test');
  const project = okData(await invoke(hangar, 'projects', { body: { name: `invoked-${Date.now()}` } }), 'projects POST');
  okData(await invoke(hangar, 'projects', { method: 'GET' }), 'projects GET');
  okData(await invoke(hangar, `projects/${project.id}`, { method: 'PATCH', body: { name: 'renamed' } }), 'projects/{id} PATCH');
  okData(await invoke(hangar, `projects/${project.id}`, { method: 'DELETE' }), 'projects/{id} DELETE');
  for (const method of [undefined, 'GET']) {
    const prices = okData(await invoke(hangar, 'get-pricing', { method }), `get-pricing ${method ?? 'POST'}`);
    assert.ok(prices.tiers.length > 0);
    const bill = okData(await invoke(hangar, 'get-billing', { method }), `get-billing ${method ?? 'POST'}`);
    assert.equal(typeof bill.balanceCents, 'number');
    okData(await invoke(hangar, method ? `insights?machineId=${machine.id}&period=1h` : 'insights', { method, body: method ? undefined : { machineId: machine.id, period: '1h' } }), 'insights');
    const health = okData(await invoke(hangar, 'health', { method }), `health ${method ?? 'POST'}`);
    assert.equal(health.status, 'healthy');
  }
  const agent = hangarAs(await setAgentToken(machine.id));
  okData(await invoke(agent, 'record-metrics', { body: sample() }), 'record-metrics with the agent token');
  const team = okData(await invoke(hangar, 'teams', { body: { name: 'Invoked team' } }), 'teams POST');
  okData(await invoke(hangar, `teams/${team.id}/members`, { method: 'GET' }), 'teams/{id}/members GET');
  // An invitation, accepted by its invitee through their own client, who then leaves.
  const invitee = await signIn();
  const inviteeClient = hangarAs(invitee.accessToken);
  const { invitation } = okData(await invoke(hangar, `teams/${team.id}/members`, { body: { identifier: invitee.user.id } }), 'teams/{id}/members POST (invite)');
  const pending = okData(await invoke(inviteeClient, 'teams/invitations', { method: 'GET' }), 'teams/invitations GET');
  assert.deepEqual(pending.invitations.map((i) => [i.id, i.teamName]), [[invitation.id, 'Invoked team']]);
  assert.equal(okData(await invoke(inviteeClient, `teams/${team.id}/join`, { method: 'POST' }), 'teams/{id}/join POST').accountId, invitee.user.id);
  okData(await invoke(inviteeClient, `teams/${team.id}/members/${invitee.user.id}`, { method: 'DELETE' }), 'teams/{id}/members/{accountId} DELETE (leave)');
  const declined = okData(await invoke(hangar, `teams/${team.id}/members`, { body: { identifier: invitee.user.id } }), 'invite again').invitation;
  okData(await invoke(inviteeClient, `teams/invitations/${declined.id}`, { method: 'DELETE' }), 'teams/invitations/{id} DELETE (decline)');
  okData(await invoke(hangar, `teams/${team.id}`, { method: 'DELETE' }), 'teams/{id} DELETE');
  okData(await invoke(hangar, 'ssh-keys', { method: 'GET' }), 'ssh-keys GET');
  const secret = okData(await invoke(hangar, 'secrets', { body: { name: 'INVOKED_TOKEN', value: 'not-a-real-secret' } }), 'secrets POST (= PUT)');
  assert.equal(secret.name, 'INVOKED_TOKEN');
  assert.ok(!JSON.stringify(secret).includes('not-a-real-secret'), 'the value never comes back');
  okData(await invoke(hangar, 'secrets', { method: 'GET' }), 'secrets GET');
  okData(await invoke(hangar, `secrets/${secret.id}`, { method: 'DELETE' }), 'secrets/{id} DELETE');
  const docs = await hangar.functions.invoke('docs', { method: 'GET' });
  assert.equal(docs.error, null);
  assert.equal(docs.data.openapi?.startsWith('3.1'), true, 'docs answers the OpenAPI document as JSON');
});

test('operators through invoke with the service-role key: add-credits, scheduler; a user token is 403', async () => {
  const operator = hangarAs(env.SUPABASE_SERVICE_ROLE_KEY);
  const record = okData(await invoke(operator, 'add-credits', { body: { userId: user.user.id, amountCents: 500, description: 'invoke' } }), 'add-credits');
  assert.equal(record.amountCents, 500);
  okData(await invoke(operator, 'scheduler', { body: {} }), 'scheduler');
  const refused = await invoke(hangar, 'add-credits', { body: { userId: user.user.id, amountCents: 500, description: 'self' } });
  assert.deepEqual([refused.status, refused.envelope.error_code], [403, 'forbidden']);
});

test('supabase.from() reads the caller\'s own rows under RLS, and cannot write status or credits', async () => {
  assert.ok(machine, 'the machine of the machines test');
  const other = await signIn();
  const { data: mine, error } = await db.from('machines').select('id, status, owner_id');
  assert.equal(error, null, JSON.stringify(error));
  assert.ok(mine.some((m) => m.id === machine.id));
  assert.ok(mine.every((m) => m.owner_id === user.user.id), 'only the caller\'s machines');
  const { data: theirs } = await dbAs(other.accessToken).from('machines').select('id').eq('id', machine.id);
  assert.deepEqual(theirs, [], 'another user sees nothing');
  const { data: events } = await db.from('machine_events').select('event_type').eq('machine_id', machine.id);
  assert.ok(events.length > 0);
  const { data: account } = await db.from('accounts').select('id, credit_balance_cents').single();
  assert.equal(account.id, user.user.id);
  const { error: statusWrite } = await db.from('machines').update({ status: 'terminated' }).eq('id', machine.id).select();
  assert.ok(statusWrite, 'status is not writable by a user');
  await db.from('accounts').update({ credit_balance_cents: 999999999 }).eq('id', user.user.id);
  const { data: after } = await db.from('accounts').select('credit_balance_cents').single();
  assert.equal(after.credit_balance_cents, account.credit_balance_cents, 'credits unchanged');
});
