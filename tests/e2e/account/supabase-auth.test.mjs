// Supabase Auth accounts (API.md §1): a Supabase Auth access token (HS256 with the JWT
// secret, role and aud `authenticated`, a new sub) calls the functions without exchange;
// the first call that needs the account creates it (id = sub, provider and identifier from
// the token) with the signup credits and one `signup` billing record, exactly once however
// many first calls race. The signup grant of exchange (Privy) is recorded the same way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { env } from '../lib/env.mjs';
import { fn, ok, fails, rest, show, signIn, signupCredits, refused } from '../lib/api.mjs';
import { sessionToken } from '../lib/jwt.mjs';
import { createMachine, rows, newName } from '../lib/machines.mjs';
import { waitForStatus } from '../lib/runner.mjs';
import { projects, supabaseUser, signupSetting } from '../lib/projects.mjs';

const accountRows = (id) => rows`select id, privy_did, provider, identifier, credit_balance_cents from accounts where id = ${id}`;
const signupRecords = (id) => rows`select kind, amount_cents, description, machine_id from billing_records where account_id = ${id} and kind = 'signup'`;

test('the signup credits of first use are configured in the database, equal to SIGNUP_CREDITS_CENTS', async () => {
  assert.equal(await signupSetting(), signupCredits, 'private.settings signup_credits_cents = the stack\'s SIGNUP_CREDITS_CENTS');
});

test('the first call creates the account (id = sub, provider, identifier, signup credits, one signup record); later calls reuse it', async () => {
  const u = supabaseUser();
  assert.deepEqual(await accountRows(u.sub), []);
  const me = ok(await fn('me', { token: u.accessToken }));
  assert.equal(me.id, u.sub);
  assert.equal(me.privyDid, null);
  assert.equal(me.provider, 'email');
  assert.equal(me.identifier, u.claims.email);
  assert.equal(me.creditBalanceCents, await signupSetting());
  assert.deepEqual([me.machineCount, me.projectCount], [0, 0]);
  assert.ok(!Number.isNaN(Date.parse(me.createdAt)));

  const again = ok(await fn('me', { token: u.accessToken }));
  assert.deepEqual(again, me);
  assert.equal((await accountRows(u.sub)).length, 1);
  const records = await signupRecords(u.sub);
  assert.deepEqual(records, signupCredits > 0
    ? [{ kind: 'signup', amount_cents: signupCredits, description: 'Signup credits', machine_id: null }]
    : []);
});

test('10 concurrent first calls create one account with the signup credits exactly once', async () => {
  const u = supabaseUser();
  const results = await Promise.all(Array.from({ length: 10 }, () => fn('me', { token: u.accessToken })));
  for (const r of results) assert.equal(ok(r).id, u.sub);
  const balances = new Set(results.map((r) => r.json.data.creditBalanceCents));
  assert.deepEqual([...balances], [signupCredits]);
  const [row] = await accountRows(u.sub);
  assert.equal(row.credit_balance_cents, signupCredits);
  assert.equal((await accountRows(u.sub)).length, 1);
  assert.equal((await signupRecords(u.sub)).length, signupCredits > 0 ? 1 : 0);
});

test('10 concurrent first calls to different functions (me, me PATCH, create-machine, projects) still create one account', { timeout: 30000 }, async () => {
  const u = supabaseUser({ app_metadata: { provider: 'github', providers: ['github'] } });
  const calls = [
    () => fn('me', { token: u.accessToken }),
    () => fn('me', { method: 'PATCH', token: u.accessToken, body: { displayName: 'Octo Cat' } }),
    () => fn('create-machine', { token: u.accessToken, body: { name: newName('sb') } }),
    () => projects(u, { body: { name: newName('p') } }),
  ];
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => calls[i % calls.length]()));
  for (const r of results) assert.ok([200, 201].includes(r.status), show(r));
  const [row] = await accountRows(u.sub);
  assert.deepEqual([row.provider, row.identifier, row.privy_did], ['github', u.claims.email, null]);
  assert.equal(row.credit_balance_cents, signupCredits, 'created machines are not charged at create: the balance is the grant');
  assert.equal((await accountRows(u.sub)).length, 1);
  assert.equal((await signupRecords(u.sub)).length, signupCredits > 0 ? 1 : 0);
  const me = ok(await fn('me', { token: u.accessToken }));
  assert.deepEqual([me.machineCount, me.projectCount, me.displayName], [2, 2, 'Octo Cat']);
});

test('a Supabase Auth user signs in and creates a machine that runs', { timeout: 30000 }, async () => {
  const u = supabaseUser();
  const m = await createMachine(u);
  assert.equal(m.status, 'provisioning');
  await waitForStatus(u, m.id, 'running');
  const me = ok(await fn('me', { token: u.accessToken }));
  assert.deepEqual([me.id, me.machineCount, me.creditBalanceCents], [u.sub, 1, signupCredits]);
});

test('a phone sign-in: provider phone, identifier the phone number', async () => {
  const phone = `1555${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
  const u = supabaseUser({ email: '', phone, app_metadata: { provider: 'phone', providers: ['phone'] } });
  const me = ok(await fn('me', { token: u.accessToken }));
  assert.deepEqual([me.provider, me.identifier], ['phone', phone]);
});

test('straight at PostgREST, the token makes the account the same way (one round trip)', async () => {
  const u = supabaseUser();
  const res = await rest('/rpc/hangar_me', { method: 'POST', token: u.accessToken, body: {} });
  assert.equal(res.status, 200, show(res));
  assert.equal(res.json.ok, true, show(res));
  assert.equal(res.json.data.id, u.sub);
  assert.equal(res.json.data.creditBalanceCents, signupCredits);
  // The signup record is the user's to read, and only theirs.
  const mine = await rest('/billing_records?select=kind,amount_cents,account_id', { token: u.accessToken });
  assert.equal(mine.status, 200, show(mine));
  assert.deepEqual(mine.json, signupCredits > 0 ? [{ kind: 'signup', amount_cents: signupCredits, account_id: u.sub }] : []);
});

test('no account is made for a Hangar session whose account is gone, for anon, or for a token PostgREST refuses', async () => {
  // A session minted by exchange names its account; a sub with no account is not a new user.
  const ghost = randomUUID();
  fails(await fn('me', { token: sessionToken({ sub: ghost, iss: 'hangar', session_id: randomUUID() }) }), 404, 'not_found');
  assert.deepEqual(await accountRows(ghost), []);
  fails(await fn('me', { token: env.SUPABASE_ANON_KEY }), 401, 'invalid_token');
  const wrongSecret = supabaseUser();
  const forged = sessionToken({ ...wrongSecret.claims }, 'not-the-project-secret-but-long-enough-012345');
  fails(await fn('me', { token: forged }), 401, 'invalid_token');
  assert.deepEqual(await accountRows(wrongSecret.sub), []);
  const anon = await rest('/rpc/hangar_me', { method: 'POST', body: {} });
  assert.ok(refused(anon), show(anon));
});

test('exchange (Privy) writes one signup record for a new account, none on later sign-ins', async () => {
  const first = await signIn();
  const again = await signIn({ sub: first.sub });
  assert.equal(again.user.id, first.user.id);
  assert.deepEqual(await signupRecords(first.user.id), signupCredits > 0
    ? [{ kind: 'signup', amount_cents: signupCredits, description: 'Signup credits', machine_id: null }]
    : []);
});

test('billing records are read-only for users: no insert, update or delete through PostgREST', async () => {
  const u = await signIn();
  const repr = { prefer: 'return=representation' };
  const ins = await rest('/billing_records', { method: 'POST', token: u.accessToken, headers: repr,
    body: { account_id: u.user.id, kind: 'credit', amount_cents: 100000, description: 'free money' } });
  assert.ok(refused(ins), show(ins));
  const upd = await rest(`/billing_records?account_id=eq.${u.user.id}`, { method: 'PATCH', token: u.accessToken, headers: repr, body: { amount_cents: 999999 } });
  assert.ok(refused(upd) || (Array.isArray(upd.json) && upd.json.length === 0), show(upd));
  const del = await rest(`/billing_records?account_id=eq.${u.user.id}`, { method: 'DELETE', token: u.accessToken, headers: repr });
  assert.ok(refused(del) || (Array.isArray(del.json) && del.json.length === 0), show(del));
  assert.deepEqual(await signupRecords(u.user.id), signupCredits > 0
    ? [{ kind: 'signup', amount_cents: signupCredits, description: 'Signup credits', machine_id: null }]
    : []);
  const [row] = await accountRows(u.user.id);
  assert.equal(row.credit_balance_cents, signupCredits);
});

// Issue 15, defect 9: each anonymous sign-in was worth the signup credits.
test('an anonymous Supabase sign-in (is_anonymous) gets an account without signup credits, through the functions and /rpc', async () => {
  for (const call of [
    (u) => fn('me', { token: u.accessToken }),
    (u) => rest('/rpc/hangar_me', { method: 'POST', token: u.accessToken, body: {} }),
  ]) {
    const u = supabaseUser({ is_anonymous: true, email: '', app_metadata: { provider: 'anonymous', providers: ['anonymous'] } });
    const res = await call(u);
    assert.equal(res.status, 200, show(res));
    const [row] = await accountRows(u.sub);
    assert.equal(row?.credit_balance_cents, 0, 'no signup credits');
    assert.deepEqual(await signupRecords(u.sub), [], 'no signup record');
    // It can still be given credits, and buy machines with them, like any account.
    ok(await fn('add-credits', { token: env.SUPABASE_SERVICE_ROLE_KEY, body: { userId: u.sub, amountCents: 500, description: 'bought' } }), 201);
    assert.equal(ok(await fn('me', { token: u.accessToken })).creditBalanceCents, 500);
  }
  // A non-anonymous sign-in still gets them.
  const named = supabaseUser({ is_anonymous: false });
  assert.equal(ok(await fn('me', { token: named.accessToken })).creditBalanceCents, await signupSetting());
});
