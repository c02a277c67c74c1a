// me: read and update the caller's account.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signupCredits } from '../lib/env.mjs';
import { fn, ok, fails, signIn, assertAccount, accountById } from '../lib/api.mjs';

const patch = (token, body) => fn('me', { method: 'PATCH', token, body });

test('GET me returns the caller\'s account', async () => {
  const a = await signIn({ linkedAccounts: [{ type: 'email', address: 'me-test@example.com' }] });
  const me = ok(await fn('me', { token: a.accessToken }));
  assertAccount(me);
  assert.equal(me.id, a.user.id);
  assert.equal(me.privyDid, a.sub);
  assert.equal(me.provider, 'email');
  assert.equal(me.identifier, 'me-test@example.com');
  assert.equal(me.creditBalanceCents, signupCredits);
  assert.equal(me.machineCount, 0);
  assert.equal(me.projectCount, 0);
  assert.equal(me.createdAt, a.user.createdAt);
});

test('PATCH me updates displayName (trimmed) and photoUrl', async () => {
  const a = await signIn();
  const me = ok(await patch(a.accessToken, { displayName: '  Ada Lovelace  ', photoUrl: 'https://example.com/ada.png' }));
  assertAccount(me);
  assert.equal(me.id, a.user.id);
  assert.equal(me.displayName, 'Ada Lovelace');
  assert.equal(me.photoUrl, 'https://example.com/ada.png');
  assert.equal(me.creditBalanceCents, signupCredits);

  const again = ok(await fn('me', { token: a.accessToken }));
  assert.equal(again.displayName, 'Ada Lovelace');
  assert.equal(again.photoUrl, 'https://example.com/ada.png');
  const row = await accountById(a.user.id);
  assert.equal(row.display_name, 'Ada Lovelace');
});

test('PATCH me with only one field leaves the other alone; null clears displayName', async () => {
  const a = await signIn();
  ok(await patch(a.accessToken, { displayName: 'Grace', photoUrl: 'http://example.com/g.png' }));
  assert.equal(ok(await patch(a.accessToken, { displayName: 'Grace H' })).photoUrl, 'http://example.com/g.png');
  const cleared = ok(await patch(a.accessToken, { displayName: null }));
  assert.equal(cleared.displayName, null);
  assert.equal(cleared.photoUrl, 'http://example.com/g.png');
  assert.equal(ok(await fn('me', { token: a.accessToken })).displayName, null);
});

test('a displayName of exactly 64 characters is accepted', async () => {
  const a = await signIn();
  const name = 'x'.repeat(64);
  assert.equal(ok(await patch(a.accessToken, { displayName: name })).displayName, name);
});

test('invalid PATCH bodies are refused and change nothing', async (t) => {
  const a = await signIn();
  ok(await patch(a.accessToken, { displayName: 'Before', photoUrl: 'https://example.com/before.png' }));
  const cases = [
    ['displayName over 64 characters', { displayName: 'y'.repeat(65) }, 'displayName'],
    ['displayName empty after trim', { displayName: '   ' }, 'displayName'],
    ['displayName a number', { displayName: 42 }, 'displayName'],
    ['photoUrl not a URL', { photoUrl: 'not a url' }, 'photoUrl'],
    ['photoUrl javascript:', { photoUrl: 'javascript:alert(1)' }, 'photoUrl'],
    ['photoUrl ftp:', { photoUrl: 'ftp://example.com/a.png' }, 'photoUrl'],
    ['unknown field credits', { credits: 5 }, 'credits'],
    ['creditBalanceCents', { creditBalanceCents: 999999 }, 'creditBalanceCents'],
    ['a valid field next to an unknown one', { displayName: 'After', credits: 5 }, 'credits'],
    ['a valid field next to an invalid one', { displayName: 'After', photoUrl: 'nope' }, 'photoUrl'],
  ];
  for (const [name, body, field] of cases) {
    await t.test(name, async () => {
      fails(await patch(a.accessToken, body), 400, 'validation_error', field);
    });
  }
  const me = ok(await fn('me', { token: a.accessToken }));
  assert.equal(me.displayName, 'Before');
  assert.equal(me.photoUrl, 'https://example.com/before.png');
  assert.equal(me.creditBalanceCents, signupCredits);
});

test('PATCH me without a token is unauthorized', async () => {
  fails(await fn('me', { method: 'PATCH', body: { displayName: 'x' } }), 401, 'unauthorized');
});
