// The `secrets` function (API.md §7): PUT (upsert by name within its scope), GET (names
// only, filters), DELETE secrets/{id}; a stranger's project or machine (or two targets) is
// 400 naming the field, validation never quotes a value, the per-account quota, and what a
// stranger sees. The team scope and who may write each scope: scopes.test.mjs. The stored rows are read as the superuser to check the upsert
// re-sealed the value under the same id.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { env } from '../lib/env.mjs';
import { fails, ok, signIn } from '../lib/api.mjs';
import { createMachine, createProject, sql } from '../lib/machines.mjs';
import {
  assertSecret, keyId, listSecrets, newValue, open, putSecret, secretId, secretRow, secretsFn,
} from '../lib/secrets.mjs';

let alice, bob, project, machine;

before(async () => {
  [alice, bob] = await Promise.all([signIn(), signIn()]);
  project = await createProject(alice);
  machine = await createMachine(alice);
});

test('PUT a new account secret → 201, the Secret (no value), its id derived from scope, account and name', async () => {
  const value = newValue('first');
  const s = await putSecret(alice, { name: 'DATABASE_URL', value });
  assert.equal(s.scope, 'account');
  assert.equal(s.id, secretId('account', alice.user.id, 'DATABASE_URL'));
  const row = await secretRow(s.id);
  assert.equal(row.account_id, alice.user.id);
  assert.equal(row.key_id, keyId(env.SECRETS_KEY), 'sealed under SECRETS_KEY');
  assert.equal(Buffer.from(row.nonce, 'base64').length, 12, 'a 96-bit nonce');
  assert.equal(open(env.SECRETS_KEY, s.id, row), value, 'what the Worker sealed (WebCrypto) opens with Node’s AES-GCM');
});

test('PUT the same name again (or POST, as supabase.functions.invoke sends) → 200, the same id, a new nonce and ciphertext; the old value is gone', async () => {
  const first = await putSecret(alice, { name: 'ROTATED', value: newValue('old') });
  const before = await secretRow(first.id);
  const value = newValue('new');
  const again = assertSecret(ok(await secretsFn(alice, { method: 'POST', body: { name: 'ROTATED', value } })));
  assert.equal(again.id, first.id);
  assert.ok(Date.parse(again.updatedAt) >= Date.parse(first.updatedAt));
  const after = await secretRow(first.id);
  assert.notEqual(after.nonce, before.nonce);
  assert.notEqual(after.ciphertext, before.ciphertext);
  assert.equal(open(env.SECRETS_KEY, first.id, after), value);
  assert.equal(Number((await sql`select count(*) from secrets where account_id = ${alice.user.id} and name = 'ROTATED'`)[0].count), 1);
});

test('project and machine scopes: one name per scope target, the same name in each scope is three secrets', async () => {
  const a = await putSecret(alice, { name: 'SHARED', value: newValue('a') });
  const p = await putSecret(alice, { name: 'SHARED', value: newValue('p'), projectId: project.id });
  const m = await putSecret(alice, { name: 'SHARED', value: newValue('m'), machineId: machine.id });
  assert.deepEqual([a.scope, p.scope, m.scope], ['account', 'project', 'machine']);
  assert.equal(p.projectId, project.id);
  assert.equal(m.machineId, machine.id);
  assert.equal(p.id, secretId('project', project.id, 'SHARED'));
  assert.equal(m.id, secretId('machine', machine.id, 'SHARED'));
  assert.equal(new Set([a.id, p.id, m.id]).size, 3);
  // Filters.
  const names = (list) => list.map((s) => `${s.scope}:${s.name}`);
  assert.deepEqual(names(await listSecrets(alice, { projectId: project.id })), ['project:SHARED']);
  assert.deepEqual(names(await listSecrets(alice, { machineId: machine.id })), ['machine:SHARED']);
  const all = await listSecrets(alice);
  all.forEach(assertSecret);
  assert.ok(all.some((s) => s.id === a.id) && all.some((s) => s.id === p.id) && all.some((s) => s.id === m.id));
  assert.deepEqual([...new Set(all.map((s) => s.scope))], ['account', 'project', 'machine'], 'account first, then projects, then machines');
  assert.ok((await listSecrets(alice, { scope: 'account' })).every((s) => s.scope === 'account'));
  assert.deepEqual(await listSecrets(alice, { scope: 'team' }), [], 'no team, no team secrets');
  fails(await secretsFn(alice, { query: { scope: 'global' } }), 400, 'validation_error', 'scope');
  fails(await secretsFn(alice, { query: { teamId: 'nope' } }), 400, 'validation_error', 'teamId');
  fails(await secretsFn(alice, { query: { projectId: 'nope' } }), 400, 'validation_error', 'projectId');
});

test('another user’s project, machine or team (or none, or two of them) → 400 naming the field; nothing is written', async () => {
  const theirs = await createProject(bob);
  const theirMachine = await createMachine(bob);
  const count = async () => Number((await sql`select count(*) from secrets where account_id in (${alice.user.id}, ${bob.user.id})`)[0].count);
  const n = await count();
  fails(await secretsFn(alice, { body: { name: 'X', value: newValue(), projectId: theirs.id } }), 400, 'validation_error', 'projectId');
  fails(await secretsFn(alice, { body: { name: 'X', value: newValue(), machineId: theirMachine.id } }), 400, 'validation_error', 'machineId');
  fails(await secretsFn(alice, { body: { name: 'X', value: newValue(), projectId: crypto.randomUUID() } }), 400, 'validation_error', 'projectId');
  fails(await secretsFn(alice, { body: { name: 'X', value: newValue(), teamId: crypto.randomUUID() } }), 400, 'validation_error', 'teamId');
  fails(await secretsFn(alice, { body: { name: 'X', value: newValue(), projectId: project.id, machineId: machine.id } }), 400, 'validation_error', 'machineId');
  fails(await secretsFn(alice, { body: { name: 'X', value: newValue(), teamId: crypto.randomUUID(), projectId: project.id } }), 400, 'validation_error', 'projectId');
  fails(await secretsFn(alice, { body: { name: 'X', value: newValue(), teamId: crypto.randomUUID(), machineId: machine.id } }), 400, 'validation_error', 'machineId');
  assert.equal(await count(), n);
});

test('bad bodies → 400 naming the field, and a refused value is never quoted back', async () => {
  const value = newValue('refused');
  const cases = [
    [{ value }, 'name'],
    [{ name: 'A' }, 'value'],
    [{ name: 'lower_case', value }, 'name'],
    [{ name: '1ST', value }, 'name'],
    [{ name: 'A'.repeat(65), value }, 'name'],
    [{ name: 'A', value: 8675309 }, 'value'],
    [{ name: 'A', value: { v: value } }, 'value'],
    [{ name: 'A', value: `${value}${'x'.repeat(8192)}` }, 'value'],
    [{ name: 'A', value, scope: 'account' }, 'scope'],
    [{ name: 'A', value, projectId: 'not-a-uuid' }, 'projectId'],
    [{ name: 'A', value, teamId: 17 }, 'teamId'],
  ];
  for (const [body, field] of cases) {
    const res = await secretsFn(alice, { body });
    fails(res, 400, 'validation_error', field);
    assert.ok(!res.text.includes('hangar-test-secret') && !res.text.includes('8675309'), `the answer quotes the value: ${res.text}`);
  }
  fails(await secretsFn(alice, { method: 'PATCH', body: { name: 'A', value } }), 405, 'method_not_allowed');
  fails(await secretsFn(alice, { method: 'DELETE' }), 400, 'validation_error', 'id');
  fails(await secretsFn(alice, { method: 'DELETE', id: 'nope' }), 400, 'validation_error', 'id');
});

test('DELETE: a stranger gets 404 and the secret stays; the owner deletes it (200, then 404)', async () => {
  const s = await putSecret(alice, { name: 'DOOMED', value: newValue('doomed') });
  fails(await secretsFn(bob, { method: 'DELETE', id: s.id }), 404, 'not_found');
  assert.ok(await secretRow(s.id), 'still there');
  const gone = ok(await secretsFn(alice, { method: 'DELETE', id: s.id }));
  assertSecret(gone);
  assert.equal(gone.id, s.id);
  assert.equal(await secretRow(s.id), null);
  fails(await secretsFn(alice, { method: 'DELETE', id: s.id }), 404, 'not_found');
  assert.ok(!(await listSecrets(alice)).some((x) => x.id === s.id));
});

test('a stranger lists none of another account’s secrets, and a filter by their project shows nothing', async () => {
  await putSecret(alice, { name: 'PRIVATE_ONE', value: newValue('private') });
  const mine = await listSecrets(bob);
  assert.ok(!mine.some((s) => s.name === 'PRIVATE_ONE' || s.projectId === project.id || s.machineId === machine.id), JSON.stringify(mine));
  assert.deepEqual(await listSecrets(bob, { projectId: project.id }), []);
});

test('an account keeps at most max_secrets_per_account secrets (403 quota_exceeded); a re-put of one it has still works', async () => {
  const carol = await signIn();
  const limit = Number((await sql`select value from private.settings where name = 'max_secrets_per_account'`)[0].value);
  for (let i = 0; i < limit; i++) await putSecret(carol, { name: `Q_${i}`, value: newValue(`q${i}`) });
  const res = await secretsFn(carol, { body: { name: 'ONE_TOO_MANY', value: newValue() } });
  fails(res, 403, 'quota_exceeded');
  assert.deepEqual([res.json.details.limit, res.json.details.current], [limit, limit]);
  await putSecret(carol, { name: 'Q_0', value: newValue('again') }, 200);
  ok(await secretsFn(carol, { method: 'DELETE', id: secretId('account', carol.user.id, 'Q_1') }));
  await putSecret(carol, { name: 'ONE_TOO_MANY', value: newValue() });
});
