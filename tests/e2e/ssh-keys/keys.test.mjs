// ssh-keys (API.md §7): the caller's SSH public keys. Every type ssh-keygen makes that
// Hangar takes parses, with the fingerprint `ssh-keygen -lf` prints; bad keys are 400 on
// `publicKey`; a key twice is 409; someone else's keys are 404 and invisible, also through
// PostgREST, and the SQL function reads a key itself (a caller of /rpc gets no more).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { signIn, ok, fails, rest, refused } from '../lib/api.mjs';
import { asUser, sql, value } from '../lib/machines.mjs';
import { sshKeys, addKey, keygen, assertSshKey } from '../lib/ssh-keys.mjs';


const KINDS = [
  ['ed25519', undefined, 'ssh-ed25519', 256],
  ['ecdsa', 256, 'ecdsa-sha2-nistp256', 256],
  ['ecdsa', 384, 'ecdsa-sha2-nistp384', 384],
  ['ecdsa', 521, 'ecdsa-sha2-nistp521', 521],
  ['rsa', 2048, 'ssh-rsa', 2048],
  ['rsa', 3072, 'ssh-rsa', 3072],
  ['rsa', 4096, 'ssh-rsa', 4096],
];

let alice, bob, generated;
before(async () => {
  // Keys first: ssh-keygen runs synchronously (seconds for RSA 4096), and a connection left
  // idle that long may be closed by the server under the client's feet ("fetch failed").
  generated = KINDS.map(([t, b]) => keygen(t, b));
  [alice, bob] = await Promise.all([signIn(), signIn()]);
});

test('every key type parses; type, bits and fingerprint are what ssh-keygen says', async () => {
  // ssh-keygen first (it blocks the event loop for seconds on RSA), then the requests.
  const made = await Promise.all(KINDS.map(async ([, , kind, bits], i) => {
    const k = generated[i];
    assert.equal(k.kind, kind);
    assert.equal(k.bits, bits, `ssh-keygen made a ${bits}-bit ${kind} key`);
    const res = await sshKeys(alice, { body: { name: `  ${kind} ${bits}  `, publicKey: `${k.line}\n` } });
    const key = assertSshKey(ok(res, 201));
    assert.equal(key.fingerprint, k.fingerprint, `${kind}: the fingerprint equals ssh-keygen -lf's`);
    assert.equal(key.type, kind);
    assert.equal(key.bits, bits);
    assert.equal(key.name, `${kind} ${bits}`, 'the name is trimmed');
    assert.equal(key.publicKey, k.line, 'the line is kept (without the newline)');
    assert.match(res.json.message, new RegExp(k.fingerprint.replace(/[+/]/g, '\\$&')));
    return key;
  }));
  // The database computed the same fingerprint, type and size itself.
  for (const key of made) {
    const [row] = await sql`select fingerprint, type, bits, account_id from ssh_keys where id = ${key.id}`;
    assert.deepEqual([row.fingerprint, row.type, row.bits, row.account_id], [key.fingerprint, key.type, key.bits, alice.user.id]);
  }
  const listed = ok(await sshKeys(alice)).sshKeys;
  for (const key of made) assert.ok(listed.some((k) => k.id === key.id && k.fingerprint === key.fingerprint), `${key.type} listed`);
  for (const k of listed) assertSshKey(k);
  const times = listed.map((k) => Date.parse(k.createdAt));
  assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first');
});

test('bad keys are 400 on publicKey (and name on name), and nothing is stored', async () => {
  const ed = keygen('ed25519');
  const [type, blob] = ed.line.split(' ');
  const rsa1024 = keygen('rsa', 1024);
  const dsa = keygen('dsa');
  const rsaBlobAsEd = `ssh-ed25519 ${keygen('rsa', 2048).line.split(' ')[1]} x`;
  const cases = [
    ['RSA of 1024 bits', rsa1024.line, /at least 2048 bits; this one has 1024/],
    ['DSA', dsa.line, /ssh-dss/],
    ['garbage', 'hello', /OpenSSH public key line/],
    ['a type alone', 'ssh-ed25519', /OpenSSH public key line/],
    ['not base64', 'ssh-ed25519 !!!not-base64!!! me', /base64/],
    ['a truncated blob', `${type} ${blob.slice(0, 40)}`, /./],
    ['an RSA blob called ed25519', rsaBlobAsEd, /does not match/],
    ['two keys on two lines', `${ed.line}\n${keygen('ed25519').line}`, /one line/],
    ['an authorized_keys option', `command="sh" ${ed.line}`, /not taken/],
    ['a private key', '-----BEGIN OPENSSH PRIVATE KEY-----', /not taken|OpenSSH public key line/],
    ['a number', 5, /./],
    ['empty', '', /OpenSSH public key line/],
  ];
  for (const [what, publicKey, says] of cases) {
    const res = await sshKeys(bob, { body: { name: 'bad', publicKey } });
    fails(res, 400, 'validation_error', 'publicKey');
    assert.match(res.json.message, says, `${what}: ${res.json.message}`);
  }
  fails(await sshKeys(bob, { body: { publicKey: ed.line } }), 400, 'validation_error', 'name');
  fails(await sshKeys(bob, { body: { name: 'x'.repeat(65), publicKey: ed.line } }), 400, 'validation_error', 'name');
  fails(await sshKeys(bob, { body: { name: 'a\nb', publicKey: ed.line } }), 400, 'validation_error', 'name');
  fails(await sshKeys(bob, { body: { name: 'k', publicKey: ed.line, fingerprint: 'SHA256:x' } }), 400, 'validation_error', 'fingerprint');
  assert.equal(Number(await value`select count(*) from ssh_keys where account_id = ${bob.user.id}`), 0);
});

test('the same key twice is 409 conflict, whatever its name or comment', async () => {
  const k = keygen('ed25519');
  const first = await addKey(alice, k.line, 'laptop');
  const again = await sshKeys(alice, { body: { name: 'laptop again', publicKey: k.line.replace(/ [^ ]+$/, ' other-comment') } });
  fails(again, 409, 'conflict');
  assert.match(again.json.message, /laptop/);
  // Another account may hold the same key.
  const bobs = await addKey(bob, k.line, 'shared');
  assert.equal(bobs.fingerprint, first.fingerprint);
  // Concurrent adds of one key: exactly one is made.
  const k2 = keygen('ecdsa', 256);
  const results = await Promise.all(Array.from({ length: 6 }, () => sshKeys(alice, { body: { name: 'race', publicKey: k2.line } })));
  assert.deepEqual(results.map((r) => r.status).sort(), [201, 409, 409, 409, 409, 409]);
});

test("someone else's key is 404 to delete and invisible; a deleted key is gone", async () => {
  const key = await addKey(alice);
  fails(await sshKeys(bob, { id: key.id, method: 'DELETE' }), 404, 'not_found');
  fails(await sshKeys(bob, { id: randomUUID(), method: 'DELETE' }), 404, 'not_found');
  assert.ok(!ok(await sshKeys(bob)).sshKeys.some((k) => k.id === key.id));
  fails(await sshKeys(alice, { id: 'nope', method: 'DELETE' }), 400, 'validation_error', 'id');
  fails(await sshKeys(alice, { method: 'DELETE' }), 400, 'validation_error', 'id');
  assert.equal((await sshKeys(alice, { id: key.id, method: 'PATCH', body: { name: 'x' } })).status, 405);

  const deleted = ok(await sshKeys(alice, { id: key.id, method: 'DELETE' }));
  assert.equal(deleted.id, key.id);
  assert.ok(!ok(await sshKeys(alice)).sshKeys.some((k) => k.id === key.id));
  fails(await sshKeys(alice, { id: key.id, method: 'DELETE' }), 404, 'not_found');
});

test('PostgREST: users read only their own keys and write none directly', async () => {
  const key = await addKey(alice);
  const mine = await asUser(alice, `/ssh_keys?id=eq.${key.id}`);
  assert.equal(mine.status, 200);
  assert.equal(mine.json.length, 1);
  const theirs = await asUser(bob, `/ssh_keys?id=eq.${key.id}`);
  assert.deepEqual(theirs.json, [], 'RLS hides another account\'s key');
  const anonRead = await rest(`/ssh_keys?id=eq.${key.id}`);
  assert.ok(anonRead.status !== 200 || anonRead.json.length === 0, `anon sees nothing: ${anonRead.status} ${anonRead.text.slice(0, 200)}`);

  const forged = keygen('ed25519');
  const writes = [
    asUser(bob, '/ssh_keys', { method: 'POST', body: { account_id: bob.user.id, name: 'x', public_key: forged.line, fingerprint: forged.fingerprint, type: 'ssh-ed25519', bits: 256 } }),
    asUser(alice, `/ssh_keys?id=eq.${key.id}`, { method: 'PATCH', body: { name: 'renamed', fingerprint: forged.fingerprint } }),
    asUser(alice, `/ssh_keys?id=eq.${key.id}`, { method: 'DELETE' }),
    asUser(bob, `/ssh_keys?id=eq.${key.id}`, { method: 'DELETE' }),
    asUser(alice, '/machine_ssh_keys', { method: 'POST', body: { machine_id: randomUUID(), ssh_key_id: key.id, position: 0 } }),
  ];
  for (const res of await Promise.all(writes)) {
    assert.ok([401, 403, 404, 405].includes(res.status), `a direct write is refused: ${res.status} ${res.text.slice(0, 200)}`);
  }
  const [row] = await sql`select name, fingerprint from ssh_keys where id = ${key.id}`;
  assert.deepEqual([row.name, row.fingerprint], [key.name, key.fingerprint], 'nothing changed');

  // /rpc gets no more than the Worker: SQL reads the key itself.
  const rpc = (user, body) => asUser(user, '/rpc/hangar_create_ssh_key', { method: 'POST', body });
  const weak = await rpc(bob, { p_name: 'weak', p_public_key: keygen('rsa', 1024).line });
  assert.equal(weak.json?.ok, false);
  assert.equal(weak.json.details.field, 'publicKey');
  assert.match(weak.json.message, /2048/);
  const made = await rpc(bob, { p_name: 'direct', p_public_key: forged.line });
  assert.equal(made.json?.ok, true, made.text);
  assert.equal(made.json.data.fingerprint, forged.fingerprint, 'the fingerprint is computed, never taken');
  const dup = await rpc(bob, { p_name: 'again', p_public_key: forged.line });
  assert.equal(dup.json.error, 'conflict');
  const anon = await rest('/rpc/hangar_create_ssh_key', { method: 'POST', body: { p_name: 'x', p_public_key: forged.line } });
  assert.ok(refused(anon) || anon.json?.ok === false, `anon cannot add keys: ${anon.status}`);
  const del = await asUser(alice, '/rpc/hangar_delete_ssh_key', { method: 'POST', body: { p_ssh_key_id: made.json.data.id } });
  assert.equal(del.json.error, 'not_found', 'another account\'s key is not found through /rpc either');
});

test('an account keeps at most max_ssh_keys_per_account keys (403 quota_exceeded)', async () => {
  const carol = await signIn();
  const limit = Number(await value`select value from private.settings where name = 'max_ssh_keys_per_account'`);
  // Fill up to one below the limit straight in the database (fast), then add the last one.
  const filler = Array.from({ length: limit - 1 }, (_, i) => ({
    account_id: carol.user.id, name: `k${i}`, public_key: `ssh-ed25519 AAAA${i}`,
    fingerprint: `SHA256:${String(i).padStart(43, 'A')}`, type: 'ssh-ed25519', bits: 256,
  }));
  await sql`insert into ssh_keys ${sql(filler)}`;
  await addKey(carol);
  const res = await sshKeys(carol, { body: { name: 'one too many', publicKey: keygen('ed25519').line } });
  fails(res, 403, 'quota_exceeded');
  assert.deepEqual([res.json.details.limit, res.json.details.current], [limit, limit]);
});

test('ssh-keys needs a session', async () => {
  fails(await sshKeys({ accessToken: undefined }), 401, 'unauthorized');
  fails(await sshKeys({ accessToken: 'garbage' }, { body: { name: 'x', publicKey: keygen('ed25519').line } }), 401, 'invalid_token');
});

