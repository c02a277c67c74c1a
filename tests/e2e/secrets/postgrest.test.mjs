// The secrets table attacked through PostgREST directly (API.md §7): a user reads the
// metadata of their own secrets only (column grants: never the ciphertext, nonce or key
// id, not even their own), writes nothing straight into the table, cannot call the
// service role's functions, and cannot store a ciphertext at all: hangar_put_secret is the
// service role's (the secrets Worker's), and refuses a user's token as data. Called as the
// service role, it still refuses an id not derived for its row, or text that is not sealed.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { env } from '../lib/env.mjs';
import { rest, service, show, signIn } from '../lib/api.mjs';
import { asUser, createMachine, sql } from '../lib/machines.mjs';
import { newValue, putSecret, seal, secretId, secretRow } from '../lib/secrets.mjs';

let alice, bob, secret, row;

before(async () => {
  [alice, bob] = await Promise.all([signIn(), signIn()]);
  secret = await putSecret(alice, { name: 'API_TOKEN', value: newValue('rest') });
  row = await secretRow(secret.id);
});

const refused = (res) => res.status >= 400 && res.status < 500;

test('the owner reads the metadata columns of their own secrets, and no other column', async () => {
  const meta = await asUser(alice, `/secrets?select=id,name,scope,project_id,machine_id,updated_at&id=eq.${secret.id}`);
  assert.equal(meta.status, 200, show(meta));
  assert.deepEqual(meta.json.map((r) => [r.id, r.name, r.scope]), [[secret.id, 'API_TOKEN', 'account']]);
  for (const select of ['ciphertext', 'nonce', 'key_id', 'account_id', 'created_at', '*', 'id,ciphertext']) {
    const res = await asUser(alice, `/secrets?select=${select}&id=eq.${secret.id}`);
    assert.ok(refused(res), `select=${select} must be refused: ${show(res)}`);
    assert.ok(!res.text.includes(row.ciphertext) && !res.text.includes(row.nonce), `select=${select} answered sealed data`);
  }
  // A filter on a column that is not granted is refused as well (no guessing by filter).
  assert.ok(refused(await asUser(alice, `/secrets?select=id&ciphertext=like.A*`)));
});

test('another user and anon see no row of it', async () => {
  const theirs = await asUser(bob, `/secrets?select=id,name&id=eq.${secret.id}`);
  assert.equal(theirs.status, 200, show(theirs));
  assert.deepEqual(theirs.json, []);
  const anon = await rest(`/secrets?select=id,name`);
  assert.ok(refused(anon) || (anon.status === 200 && anon.json.length === 0), show(anon));
});

test('no direct writes: insert, update and delete through PostgREST change nothing', async () => {
  const forged = seal(env.SECRETS_KEY, secretId('account', alice.user.id, 'FORGED'), 'forged');
  const ins = await asUser(alice, '/secrets', { method: 'POST', body: {
    id: secretId('account', alice.user.id, 'FORGED'), account_id: alice.user.id, name: 'FORGED',
    ciphertext: forged.ciphertext, nonce: forged.nonce, key_id: forged.keyId } });
  assert.ok(refused(ins), show(ins));
  for (const [method, path, body] of [
    ['PATCH', `/secrets?id=eq.${secret.id}`, { name: 'RENAMED' }],
    ['PATCH', `/secrets?id=eq.${secret.id}`, { machine_id: (await createMachine(bob)).id }],
    ['DELETE', `/secrets?id=eq.${secret.id}`, undefined],
  ]) {
    const res = await asUser(bob, path, { method, body });
    assert.ok(refused(res) || (res.status < 300 && (!Array.isArray(res.json) || res.json.length === 0)), `${method} by bob: ${show(res)}`);
    const own = await asUser(alice, path, { method, body });
    assert.ok(refused(own), `${method} by the owner must be refused too: ${show(own)}`);
  }
  const now = await secretRow(secret.id);
  assert.deepEqual([now.name, now.ciphertext, now.nonce, now.machine_id], [row.name, row.ciphertext, row.nonce, null]);
  assert.equal(Number((await sql`select count(*) from secrets where name = 'FORGED'`)[0].count), 0);
});

test('the service role’s functions (sealed values for delivery and rotation) are refused to users', async () => {
  const job = (await sql`select id from jobs limit 1`)[0]?.id ?? crypto.randomUUID();
  for (const [fnName, body] of [
    ['hangar_job_secrets', { p_job_id: job }],
    ['hangar_stale_secrets', { p_key_id: '0000000000000000', p_ring: '0000000000000000:1111111111111111', p_limit: 10 }],
    ['hangar_reencrypt_secrets', { p_rows: [], p_unopenable: [{ id: secret.id, old: {} }], p_ring: '0000000000000000:1111111111111111' }],
  ]) {
    const res = await asUser(alice, `/rpc/${fnName}`, { method: 'POST', body });
    assert.ok(refused(res), `${fnName}: ${show(res)}`);
    assert.ok(!res.text.includes(row.ciphertext), `${fnName} answered sealed data`);
  }
});

test('hangar_put_secret with a user’s token: refused (forbidden, as data) whatever it carries; nothing is stored', async () => {
  const id = secretId('account', alice.user.id, 'API_TOKEN');
  // What a jammer sends: a ciphertext of their own making, under a key id they choose, for
  // a row id derived correctly; and the same with the Worker's own key (a user never has it).
  const forged = { ciphertext: Buffer.from('x'.repeat(40)).toString('base64'), nonce: 'AAAAAAAAAAAAAAAA', keyId: '0123456789abcdef' };
  const sealed = seal(env.SECRETS_KEY, id, 'x');
  const calls = [];
  for (const s of [forged, sealed]) {
    const base = { p_id: id, p_name: 'API_TOKEN', p_ciphertext: s.ciphertext, p_nonce: s.nonce, p_key_id: s.keyId };
    calls.push([alice, base], [alice, { ...base, p_account_id: alice.user.id }], [bob, { ...base, p_account_id: alice.user.id }],
      [bob, { ...base, p_id: secretId('account', bob.user.id, 'FORGED'), p_name: 'FORGED' }]);
  }
  for (const [who, body] of calls) {
    const res = await asUser(who, '/rpc/hangar_put_secret', { method: 'POST', body });
    assert.equal(res.status, 200, show(res));
    assert.deepEqual([res.json.ok, res.json.error], [false, 'forbidden'], show(res));
  }
  const anon = await rest('/rpc/hangar_put_secret', { method: 'POST', body: calls[0][1] });
  assert.ok(refused(anon), show(anon));
  const now = await secretRow(secret.id);
  assert.deepEqual([now.ciphertext, now.nonce, now.key_id], [row.ciphertext, row.nonce, row.key_id], 'nothing was written');
  assert.equal(Number((await sql`select count(*) from secrets where name = 'FORGED'`)[0].count), 0);
});

test('hangar_put_secret as the service role: an id not derived from scope, target and name, or unsealed text, is refused', async () => {
  const put = (args) => service('/rpc/hangar_put_secret', { method: 'POST', body: args });
  const sealed = seal(env.SECRETS_KEY, secret.id, 'x');
  const base = { p_account_id: alice.user.id, p_name: 'API_TOKEN', p_ciphertext: sealed.ciphertext, p_nonce: sealed.nonce, p_key_id: sealed.keyId };
  // For Bob, aimed at Alice's row id (to overwrite or squat it): refused, her row unchanged.
  const squat = await put({ ...base, p_account_id: bob.user.id, p_id: secret.id });
  assert.equal(squat.status, 200, show(squat));
  assert.deepEqual([squat.json.ok, squat.json.error, squat.json.details?.field], [false, 'validation_error', 'id']);
  const other = await put({ ...base, p_id: crypto.randomUUID() });
  assert.deepEqual([other.json.ok, other.json.details?.field], [false, 'id'], show(other));
  const plain = await put({ ...base, p_id: secret.id, p_ciphertext: 'my plaintext secret value' });
  assert.deepEqual([plain.json.ok, plain.json.details?.field], [false, 'value'], show(plain));
  const nobody = await put({ ...base, p_account_id: crypto.randomUUID(), p_id: secret.id });
  assert.deepEqual([nobody.json.ok, nobody.json.error], [false, 'invalid_token'], show(nobody));
  const two = await put({ ...base, p_id: secret.id, p_team_id: crypto.randomUUID(), p_project_id: crypto.randomUUID() });
  assert.deepEqual([two.json.ok, two.json.details?.field], [false, 'projectId'], show(two));
  const now = await secretRow(secret.id);
  assert.equal(now.ciphertext, row.ciphertext, 'nothing was written');
});
