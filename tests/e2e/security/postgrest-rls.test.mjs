// The session token used directly against PostgREST: RLS shows a user only their own account,
// and a user can change only display_name and photo_url.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { signupCredits } from '../lib/env.mjs';
import { newPrivyDid } from '../lib/jwt.mjs';
import { rest, service, show, fn, ok, signIn, accountById, accountsByDid, refused } from '../lib/api.mjs';

let a, b; // two users
before(async () => { [a, b] = await Promise.all([signIn(), signIn()]); });

const as = (user, path, opts = {}) => rest(path, { ...opts, token: user.accessToken });
const refusedOrEmpty = (res) =>
  assert.ok(refused(res) || (Array.isArray(res.json) && res.json.length === 0) || res.status === 204, show(res));

test('a user sees exactly their own account', async () => {
  const res = await as(a, '/accounts');
  assert.equal(res.status, 200, show(res));
  assert.deepEqual(res.json.map((r) => r.id), [a.user.id]);
  assert.equal(res.json[0].privy_did, a.sub);
});

test('another user\'s account is invisible, also by id', async () => {
  const res = await as(a, `/accounts?id=eq.${b.user.id}`);
  assert.equal(res.status, 200, show(res));
  assert.deepEqual(res.json, []);
  const byDid = await as(a, `/accounts?privy_did=eq.${encodeURIComponent(b.sub)}`);
  assert.deepEqual(byDid.json, []);
});

test('a user cannot raise their own balance or change protected columns', async () => {
  for (const body of [{ credit_balance_cents: 999999 }, { privy_did: newPrivyDid() }, { id: randomUUID() }]) {
    const res = await as(a, `/accounts?id=eq.${a.user.id}`, { method: 'PATCH', body, headers: { prefer: 'return=representation' } });
    refusedOrEmpty(res);
  }
  const row = await accountById(a.user.id);
  assert.equal(row.credit_balance_cents, signupCredits);
  assert.equal(row.privy_did, a.sub);
  assert.equal(ok(await fn('me', { token: a.accessToken })).creditBalanceCents, signupCredits);
});

test('a user cannot change another user\'s account', async () => {
  const res = await as(a, `/accounts?id=eq.${b.user.id}`, {
    method: 'PATCH', body: { display_name: 'pwned' }, headers: { prefer: 'return=representation' },
  });
  refusedOrEmpty(res);
  const row = await accountById(b.user.id);
  assert.notEqual(row.display_name, 'pwned');
  assert.equal(row.credit_balance_cents, signupCredits);
});

test('a user can change their own display_name and photo_url', async () => {
  const res = await as(a, `/accounts?id=eq.${a.user.id}`, {
    method: 'PATCH', body: { display_name: 'Via PostgREST', photo_url: 'https://example.com/p.png' },
  });
  assert.ok(res.status >= 200 && res.status < 300, show(res));
  const me = ok(await fn('me', { token: a.accessToken }));
  assert.equal(me.displayName, 'Via PostgREST');
  assert.equal(me.photoUrl, 'https://example.com/p.png');
});

test('refresh tokens are not readable by users', async () => {
  const all = await service('/refresh_tokens?limit=1');
  assert.equal(all.status, 200, `service role sees refresh_tokens: ${show(all)}`);
  assert.ok(all.json.length > 0, 'refresh_tokens has rows (so the user query below could find some)');
  refusedOrEmpty(await as(a, '/refresh_tokens'));
});

test('a user cannot delete accounts', async () => {
  refusedOrEmpty(await as(a, `/accounts?id=eq.${a.user.id}`, { method: 'DELETE', headers: { prefer: 'return=representation' } }));
  refusedOrEmpty(await as(a, `/accounts?id=eq.${b.user.id}`, { method: 'DELETE', headers: { prefer: 'return=representation' } }));
  await accountById(a.user.id);
  await accountById(b.user.id);
});

test('a user cannot insert accounts', async () => {
  const did = newPrivyDid();
  const res = await as(a, '/accounts', { method: 'POST', body: { privy_did: did, credit_balance_cents: 999999 } });
  assert.ok(refused(res), show(res));
  assert.deepEqual(await accountsByDid(did), []);
});

test('anonymous callers see no accounts', async () => {
  refusedOrEmpty(await rest('/accounts'));
  refusedOrEmpty(await rest('/accounts', { token: null }));
});

test('PostgREST refuses a session signed with another secret', async () => {
  const [h, p] = a.accessToken.split('.');
  const forged = `${h}.${p}.${Buffer.from('x'.repeat(32)).toString('base64url')}`;
  const res = await rest('/accounts', { token: forged });
  assert.equal(res.status, 401, show(res));
});
