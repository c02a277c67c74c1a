// exchange: Privy access token (+ optional identity token) → Session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signupCredits, sessionTtl } from '../lib/env.mjs';
import { privyToken, identityToken, decode, newPrivyDid, newAddress, now } from '../lib/jwt.mjs';
import { fn, ok, fails, signIn, assertAccount, accountsByDid, assertNoAccount, sleep } from '../lib/api.mjs';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

test('a new Privy user gets a session and an account with the signup credits', async () => {
  const sub = newPrivyDid();
  const before = now();
  const s = ok(await fn('exchange', { body: { token: privyToken({ sub }) } }));

  assert.equal(s.tokenType, 'bearer');
  assert.equal(typeof s.accessToken, 'string');
  assert.ok(typeof s.refreshToken === 'string' && s.refreshToken.length >= 16, 'refreshToken');
  assert.equal(s.expiresIn, sessionTtl);
  assertAccount(s.user);
  assert.equal(s.user.privyDid, sub);
  assert.equal(s.user.creditBalanceCents, signupCredits);
  assert.equal(s.user.machineCount, 0);
  assert.equal(s.user.projectCount, 0);

  const { header, payload } = decode(s.accessToken);
  assert.equal(header.alg, 'HS256');
  assert.equal(payload.sub, s.user.id);
  assert.equal(payload.role, 'authenticated');
  assert.equal(payload.aud, 'authenticated');
  assert.ok(payload.iss, 'iss');
  assert.ok(payload.session_id, 'session_id');
  assert.ok(payload.iat >= before - 5 && payload.iat <= now() + 5, 'iat is now');
  assert.equal(payload.exp - payload.iat, sessionTtl);
  assert.equal(s.expiresAt, payload.exp, 'expiresAt = exp of the access token (unix seconds, as supabase-js)');

  const rows = await accountsByDid(sub);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].id, s.user.id);
});

test('a returning user gets the same account, no second grant, and a newer lastLogin', async () => {
  const first = await signIn();
  await sleep(1100);
  const second = await signIn({ sub: first.sub });

  assert.equal(second.user.id, first.user.id);
  assert.equal(second.user.creditBalanceCents, signupCredits);
  assert.equal(second.user.createdAt, first.user.createdAt);
  assert.ok(Date.parse(second.user.lastLogin) > Date.parse(first.user.lastLogin), 'lastLogin moves forward');
  assert.notEqual(second.refreshToken, first.refreshToken);
  assert.notEqual(decode(second.accessToken).payload.session_id, decode(first.accessToken).payload.session_id);
  assert.equal((await accountsByDid(first.sub)).length, 1);
});

test('concurrent first sign-ins of one user create one account', async () => {
  const sub = newPrivyDid();
  const results = await Promise.all([1, 2, 3].map(() => fn('exchange', { body: { token: privyToken({ sub }) } })));
  const ids = new Set(results.map((r) => ok(r).user.id));
  assert.equal(ids.size, 1);
  const rows = await accountsByDid(sub);
  assert.equal(rows.length, 1);
  assert.equal(results[0].json.data.user.creditBalanceCents, signupCredits);
});

const linked = [
  ['wallet', () => { const a = newAddress(); return [[{ type: 'wallet', address: a, chain_type: 'ethereum' }], 'wallet', a]; }],
  ['email', () => { const e = `u${randomBytes(4).toString('hex')}@example.com`; return [[{ type: 'email', address: e }], 'email', e]; }],
  ['google_oauth', () => {
    const e = `g${randomBytes(4).toString('hex')}@gmail.com`;
    return [[{ type: 'google_oauth', email: e, subject: randomBytes(10).toString('hex'), name: 'G User' }], 'google', e];
  }],
];
for (const [type, make] of linked) {
  test(`an identity token with a ${type} linked account sets provider and identifier`, async () => {
    const [accounts, provider, identifier] = make();
    const { user } = await signIn({ linkedAccounts: accounts });
    assert.equal(user.provider, provider);
    assert.equal(user.identifier, identifier);
  });
}

test('an identity token for another sub is rejected and creates no account', async () => {
  const sub = newPrivyDid();
  const body = {
    token: privyToken({ sub }),
    identityToken: identityToken(newPrivyDid(), [{ type: 'email', address: 'x@example.com' }]),
  };
  fails(await fn('exchange', { body }), 401, 'invalid_token');
  await assertNoAccount(sub);
});

test('an identity token signed by another key is rejected', async () => {
  const sub = newPrivyDid();
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const body = {
    token: privyToken({ sub }),
    identityToken: identityToken(sub, [{ type: 'email', address: 'x@example.com' }], {}, privateKey),
  };
  fails(await fn('exchange', { body }), 401, 'invalid_token');
  await assertNoAccount(sub);
});

test('a missing token is a validation error on field "token"', async () => {
  fails(await fn('exchange', { body: {} }), 400, 'validation_error', 'token');
  fails(await fn('exchange', { body: { identityToken: identityToken(newPrivyDid(), []) } }), 400, 'validation_error', 'token');
});

test('an unknown field is rejected', async () => {
  const sub = newPrivyDid();
  fails(await fn('exchange', { body: { token: privyToken({ sub }), credits: 100 } }), 400, 'validation_error', 'credits');
  await assertNoAccount(sub);
});
