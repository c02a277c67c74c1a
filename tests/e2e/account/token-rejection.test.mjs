// Tokens that must be refused: every case answers 401 with the error envelope and creates no account.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { env, privyKey, verificationPem } from '../lib/env.mjs';
import { privyToken, privyClaims, sessionToken, sessionClaims, es256, hs256, algNone, newPrivyDid, now } from '../lib/jwt.mjs';
import { fn, ok, fails, signIn, assertNoAccount, assertAccount } from '../lib/api.mjs';

const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const past = { iat: now() - 7200, exp: now() - 3600 };

// Each builds a Privy-ish token for `sub`.
const badPrivyTokens = {
  'an expired token': ['token_expired', (sub) => privyToken({ sub, ...past })],
  'a token signed by another P-256 key': ['invalid_token', (sub) => privyToken({ sub }, otherKey)],
  'a token whose payload was altered after signing': ['invalid_token', (sub) => {
    const [h, , s] = privyToken({ sub: newPrivyDid() }).split('.');
    return [h, Buffer.from(JSON.stringify(privyClaims({ sub }))).toString('base64url'), s].join('.');
  }],
  'an alg:none token': ['invalid_token', (sub) => algNone(privyClaims({ sub }))],
  'an HS256 token keyed with the public key PEM (key confusion)': ['invalid_token', (sub) => hs256(privyClaims({ sub }), verificationPem)],
  'an HS256 token keyed with the JWT secret': ['invalid_token', (sub) => hs256(privyClaims({ sub }), env.SUPABASE_JWT_SECRET)],
  'a token for another app (aud)': ['invalid_token', (sub) => privyToken({ sub, aud: 'some-other-app' })],
  'a token from another issuer': ['invalid_token', (sub) => privyToken({ sub, iss: 'evil.example' })],
  'a token with no exp': ['invalid_token', (sub) => privyToken({ sub, exp: undefined })],
  'a valid signature in DER instead of JOSE form': ['invalid_token', (sub) => {
    const [h, p] = privyToken({ sub }).split('.');
    return `${h}.${p}.${sign('sha256', Buffer.from(`${h}.${p}`), privyKey).toString('base64url')}`;
  }],
};

for (const [name, [code, make]] of Object.entries(badPrivyTokens)) {
  test(`exchange refuses ${name}`, async () => {
    const sub = newPrivyDid();
    fails(await fn('exchange', { body: { token: make(sub) } }), 401, code);
    await assertNoAccount(sub);
  });
}

test('exchange refuses a session token (from a prior exchange) as the Privy token', async () => {
  const { accessToken } = await signIn();
  fails(await fn('exchange', { body: { token: accessToken } }), 401, 'invalid_token');
});

test('exchange refuses garbage', async () => {
  fails(await fn('exchange', { body: { token: 'not-a-jwt' } }), 401, 'invalid_token');
});

// me: tokens for an existing account, each broken in one way.
let account;
before(async () => { account = (await signIn()).user; });

const badSessions = {
  'a Privy access token': ['invalid_token', () => privyToken({ sub: account.privyDid })],
  'an expired session': ['token_expired', () => sessionToken({ sub: account.id, ...past })],
  'a session signed with another secret': ['invalid_token', () => sessionToken({ sub: account.id }, 'not-the-secret-not-the-secret-123')],
  'an alg:none session': ['invalid_token', () => algNone(sessionClaims({ sub: account.id }))],
  'a session with the wrong aud': ['invalid_token', () => sessionToken({ sub: account.id, aud: 'anon' })],
  'an ES256 session signed by the Privy key': ['invalid_token', () => es256(sessionClaims({ sub: account.id }))],
  'a malformed token': ['invalid_token', () => 'abc.def'],
};
for (const [name, [code, make]] of Object.entries(badSessions)) {
  test(`me refuses ${name}`, async () => {
    fails(await fn('me', { token: make() }), 401, code);
  });
}

test('me without Authorization is unauthorized', async () => {
  fails(await fn('me'), 401, 'unauthorized');
});

test('me refuses the anon key as Bearer', async () => {
  fails(await fn('me', { token: env.SUPABASE_ANON_KEY }), 401, 'invalid_token');
});

test('me accepts a Supabase-Auth-style token for an existing account', async () => {
  const me = ok(await fn('me', { token: sessionToken({ sub: account.id, email: 'a@example.com' }) }));
  assertAccount(me);
  assert.equal(me.id, account.id);
  assert.equal(me.privyDid, account.privyDid);
});
