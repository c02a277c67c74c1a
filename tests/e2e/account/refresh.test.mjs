// refresh-session (rotation, reuse detection) and logout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { sessionTtl } from '../lib/env.mjs';
import { decode } from '../lib/jwt.mjs';
import { fn, ok, fails, signIn, assertAccount } from '../lib/api.mjs';

const refresh = (refreshToken) => fn('refresh-session', { body: { refreshToken } });

test('refresh rotates both tokens and spends the old refresh token', async () => {
  const a = await signIn();
  const s = ok(await refresh(a.refreshToken));

  assert.equal(s.tokenType, 'bearer');
  assert.equal(s.expiresIn, sessionTtl);
  assertAccount(s.user);
  assert.equal(s.user.id, a.user.id);
  assert.notEqual(s.refreshToken, a.refreshToken);
  assert.notEqual(s.accessToken, a.accessToken);
  assert.equal(decode(s.accessToken).payload.sub, a.user.id);
  assert.equal(ok(await fn('me', { token: s.accessToken })).id, a.user.id, 'the new access token works');

  fails(await refresh(a.refreshToken), 401, 'invalid_token');
});

test('reusing a spent refresh token revokes the whole family', async () => {
  const a = await signIn();
  const r1 = ok(await refresh(a.refreshToken)).refreshToken;
  const r2 = ok(await refresh(r1)).refreshToken;

  fails(await refresh(a.refreshToken), 401, 'invalid_token');
  fails(await refresh(r2), 401, 'invalid_token');
});

test('a family revocation does not touch the same user\'s other sessions', async () => {
  const a = await signIn();
  const b = await signIn({ sub: a.sub });
  ok(await refresh(a.refreshToken));
  fails(await refresh(a.refreshToken), 401, 'invalid_token');
  assert.equal(ok(await refresh(b.refreshToken)).user.id, a.user.id);
});

test('concurrent refreshes with one token yield at most one new session', async () => {
  const a = await signIn();
  const results = await Promise.all([1, 2, 3].map(() => refresh(a.refreshToken)));
  const winners = results.filter((r) => r.status === 200);
  assert.equal(winners.length, 1, results.map((r) => r.status).join(','));
  for (const r of results) if (r.status !== 200) fails(r, 401, 'invalid_token');
});

test('an unknown or garbage refresh token is refused', async () => {
  for (const t of [randomBytes(32).toString('base64url'), randomUUID(), 'garbage', 'a.b.c']) {
    fails(await refresh(t), 401, 'invalid_token');
  }
});

test('an access token is not a refresh token', async () => {
  const a = await signIn();
  fails(await refresh(a.accessToken), 401, 'invalid_token');
});

test('a missing or mistyped refreshToken is a validation error', async () => {
  fails(await fn('refresh-session', { body: {} }), 400, 'validation_error', 'refreshToken');
  fails(await fn('refresh-session', { body: { refreshToken: 42 } }), 400, 'validation_error', 'refreshToken');
});

for (const [name, opts] of [['without a body', {}], ['with an empty JSON body', { body: {} }]]) {
  test(`logout ${name} revokes the session's refresh token`, async () => {
    const a = await signIn();
    const res = await fn('logout', { method: 'POST', token: a.accessToken, ...opts });
    assert.equal(ok(res), null);
    fails(await refresh(a.refreshToken), 401, 'invalid_token');
  });
}

test('logout revokes the refresh family, including rotated tokens', async () => {
  const a = await signIn();
  const s = ok(await refresh(a.refreshToken));
  assert.equal(ok(await fn('logout', { method: 'POST', token: s.accessToken })), null);
  fails(await refresh(s.refreshToken), 401, 'invalid_token');
});

test('logout leaves the user\'s other sessions alone', async () => {
  const a = await signIn();
  const b = await signIn({ sub: a.sub });
  ok(await fn('logout', { method: 'POST', token: a.accessToken }));
  ok(await refresh(b.refreshToken));
});

test('logout without a token is unauthorized', async () => {
  fails(await fn('logout', { method: 'POST' }), 401, 'unauthorized');
});
