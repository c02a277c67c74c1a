// add-credits (API.md §4): an operator adds credits with the service-role key; a user's
// token is 403, through the function and through /rpc. The answer is the BillingRecord;
// the balance and the record are written together, so concurrent additions add up exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { env } from '../lib/env.mjs';
import { fn, ok, fails, rest, show, signIn, signupCredits, refused } from '../lib/api.mjs';
import { rows, value } from '../lib/machines.mjs';
import { addCredits, assertBillingRecord, supabaseUser } from '../lib/projects.mjs';

const balance = async (id) => Number(await value`select credit_balance_cents from accounts where id = ${id}`);
const creditRecords = (id) => rows`select id, amount_cents, description from billing_records where account_id = ${id} and kind = 'credit' order by created_at, id`;

test('the service-role key adds credits: 201 with the BillingRecord; balance and ledger move together', async () => {
  const u = await signIn();
  const res = await addCredits({ userId: u.user.id, amountCents: 2500, description: '  Welcome bonus  ' });
  const r = ok(res, 201);
  assertBillingRecord(r);
  assert.deepEqual(
    { kind: r.kind, amountCents: r.amountCents, description: r.description, machineId: r.machineId, periodStart: r.periodStart, periodEnd: r.periodEnd },
    { kind: 'credit', amountCents: 2500, description: 'Welcome bonus', machineId: null, periodStart: null, periodEnd: null });
  assert.match(res.json.message, new RegExp(`balance is ${signupCredits + 2500} cents`));
  assert.equal(await balance(u.user.id), signupCredits + 2500);
  assert.deepEqual(await creditRecords(u.user.id), [{ id: r.id, amount_cents: 2500, description: 'Welcome bonus' }]);
  assert.equal(ok(await fn('me', { token: u.accessToken })).creditBalanceCents, signupCredits + 2500);
  // The user reads the record as their own.
  const mine = await rest(`/billing_records?id=eq.${r.id}&select=kind,amount_cents`, { token: u.accessToken });
  assert.deepEqual(mine.json, [{ kind: 'credit', amount_cents: 2500 }], show(mine));
  // The upper bound is allowed.
  ok(await addCredits({ userId: u.user.id, amountCents: 10_000_000, description: 'Max' }), 201);
  assert.equal(await balance(u.user.id), signupCredits + 2500 + 10_000_000);
});

test('a user token is 403 (its own account or another), anon 403, no token 401; nothing changes', async () => {
  const [u, other] = await Promise.all([signIn(), signIn()]);
  const sb = supabaseUser();
  ok(await fn('me', { token: sb.accessToken }));
  for (const [who, token] of [['user', u.accessToken], ['Supabase Auth user', sb.accessToken], ['anon key', env.SUPABASE_ANON_KEY]]) {
    for (const userId of [u.user.id, other.user.id]) {
      fails(await addCredits({ userId, amountCents: 100, description: `by ${who}` }, { token }), 403, 'forbidden');
    }
  }
  fails(await fn('add-credits', { body: { userId: u.user.id, amountCents: 100, description: 'x' } }), 401, 'unauthorized');
  // Straight at PostgREST: the SQL function is the service role's only.
  for (const token of [u.accessToken, sb.accessToken, undefined]) {
    const r = await rest('/rpc/hangar_add_credits', { method: 'POST', token, body: { p_user_id: u.user.id, p_amount_cents: 100000, p_description: 'pwned' } });
    assert.ok(refused(r), show(r));
  }
  assert.equal(await balance(u.user.id), signupCredits);
  assert.equal(await balance(other.user.id), signupCredits);
  assert.deepEqual(await creditRecords(u.user.id), []);
});

test('bad amounts, descriptions and ids are 400 naming the field; an unknown account is 404', async () => {
  const u = await signIn();
  const body = (over) => ({ userId: u.user.id, amountCents: 100, description: 'ok', ...over });
  for (const amountCents of [0, -1, -500, 10_000_001, 2.5, '100', null, 1e20, true]) {
    fails(await addCredits(body({ amountCents })), 400, 'validation_error', 'amountCents');
  }
  const { amountCents: _a, ...noAmount } = body();
  fails(await addCredits(noAmount), 400, 'validation_error', 'amountCents');
  for (const description of ['', '   ', 'x'.repeat(201), 'two\nlines', 5, null]) {
    fails(await addCredits(body({ description })), 400, 'validation_error', 'description');
  }
  for (const userId of ['nope', 7, null]) fails(await addCredits(body({ userId })), 400, 'validation_error', 'userId');
  fails(await addCredits(body({ kind: 'charge' })), 400, 'validation_error', 'kind');
  fails(await addCredits(body({ userId: randomUUID() })), 404, 'not_found');
  fails(await fn('add-credits', { method: 'POST', token: env.SUPABASE_SERVICE_ROLE_KEY }), 400, 'validation_error', 'userId');
  fails(await fn('add-credits', { method: 'GET', token: env.SUPABASE_SERVICE_ROLE_KEY }), 405, 'method_not_allowed');
  assert.equal(await balance(u.user.id), signupCredits);
  assert.deepEqual(await creditRecords(u.user.id), []);
});

test('20 concurrent additions add up to the cent, one record each', async () => {
  const u = await signIn();
  const amounts = Array.from({ length: 20 }, (_, i) => 100 + i);
  const results = await Promise.all(amounts.map((amountCents, i) => addCredits({ userId: u.user.id, amountCents, description: `batch ${i}` })));
  results.forEach((r) => ok(r, 201));
  const sum = amounts.reduce((s, n) => s + n, 0);
  assert.equal(await balance(u.user.id), signupCredits + sum);
  const records = await creditRecords(u.user.id);
  assert.equal(records.length, 20);
  assert.equal(records.reduce((s, r) => s + Number(r.amount_cents), 0), sum);
  // balance = signup + credits − charges (no charges yet)
  const [ledger] = await rows`select coalesce(sum(case kind when 'charge' then -amount_cents else amount_cents end), 0)::bigint as total
    from billing_records where account_id = ${u.user.id}`;
  assert.equal(Number(ledger.total), await balance(u.user.id));
});
