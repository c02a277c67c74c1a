// get-billing (API.md §4): { balanceCents, records: BillingRecord[], usage: { period,
// totalCents, machines: [{ machineId, hours, cents }] }, nextCursor } in one round trip;
// its query is checked (400 naming the field); cursor pages never repeat or skip a record.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { fn, ok, fails, signIn, signupCredits, UUID_RE } from '../lib/api.mjs';
import { createRaw, value } from '../lib/machines.mjs';
import { meter, addCredits } from '../lib/billing.mjs';
import { waitForStatus } from '../lib/runner.mjs';

let fresh, busy;
let busyMachine;

const billing = (user, query = {}) => fn('get-billing', { token: user.accessToken, query });
const thisMonth = () => new Date().toISOString().slice(0, 7);

before(async () => {
  [fresh, busy] = await Promise.all([signIn(), signIn()]);
  busyMachine = ok(await createRaw(busy, { tier: 'dev.medium' }), 201);
  // Settled first: the meter skips a machine whose row a runner callback holds (it never
  // waits on a transition, and charges it at the next run), which would move the first
  // charge below into the month after.
  await waitForStatus(busy, busyMachine.id, 'running');
  for (let i = 0; i < 5; i++) await addCredits(busy.user.id, 2000 + i, `credit ${i}`); // more than two months cost
  // A charge up to a minute before the month after next, then three of about 24 h in it.
  const start = await value`select (date_trunc('month', now()) + interval '2 months')::text`;
  await meter(await value`select (${start}::timestamptz - interval '1 minute')::text`, busy.user.id);
  for (let d = 1; d <= 3; d++) {
    await meter(await value`select (${start}::timestamptz + make_interval(days => ${d}))::text`, busy.user.id);
  }
});

test('a new account: its balance, the signup record, an empty month', async () => {
  const data = ok(await billing(fresh));
  assert.deepEqual(Object.keys(data).sort(), ['balanceCents', 'nextCursor', 'records', 'usage']);
  assert.equal(data.balanceCents, signupCredits);
  assert.equal(data.records.length, 1);
  const [r] = data.records;
  assert.match(r.id, UUID_RE);
  assert.equal(r.kind, 'signup');
  assert.equal(r.amountCents, signupCredits);
  assert.equal(r.machineId, null);
  assert.ok(!Number.isNaN(Date.parse(r.createdAt)));
  assert.deepEqual(data.usage, { period: thisMonth(), totalCents: 0, machines: [] });
  assert.equal(data.nextCursor, null);
});

test('usage of a month: hours and cents per machine; records in pages newest first', async () => {
  const period = await value`select to_char(date_trunc('month', now()) + interval '2 months', 'YYYY-MM')`;
  const data = ok(await billing(busy, { period }));
  assert.equal(data.usage.period, period);
  assert.equal(data.usage.machines.length, 1);
  const [u] = data.usage.machines;
  assert.equal(u.machineId, busyMachine.id);
  assert.equal(u.cents, data.usage.totalCents);
  // dev.medium: 1200 cents a month of 730 h. Whole cents are charged, the rest carried.
  assert.ok(u.hours > 72 && u.hours < 72.02, `hours ${u.hours}`);
  assert.ok(Math.abs(u.cents - (u.hours * 1200) / 730) < 1, `${u.cents} cents for ${u.hours} h`);
  assert.deepEqual(ok(await billing(busy)).usage.machines, [], 'nothing this month');

  // 1 signup + 5 credits + 4 charges, in pages of 2.
  const seen = [];
  let cursor;
  let pages = 0;
  do {
    const page = ok(await billing(busy, { limit: '2', ...(cursor ? { cursor } : {}) }));
    assert.ok(page.records.length <= 2);
    seen.push(...page.records);
    cursor = page.nextCursor;
    pages++;
  } while (cursor);
  assert.equal(seen.length, 10);
  assert.equal(pages, 5);
  assert.equal(new Set(seen.map((r) => r.id)).size, 10);
  assert.deepEqual(seen.map((r) => r.kind).sort(), ['charge', 'charge', 'charge', 'charge', 'credit', 'credit', 'credit', 'credit', 'credit', 'signup']);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i - 1].createdAt >= seen[i].createdAt, 'newest first');
  const charge = seen.find((r) => r.kind === 'charge');
  assert.equal(charge.machineId, busyMachine.id);
  assert.ok(Date.parse(charge.periodStart) < Date.parse(charge.periodEnd));
  assert.match(charge.description, /dev\.medium/);
});

test('a bad query is 400 naming the field (in the query or a POST body); no token is 401; DELETE is 405', async () => {
  for (const [query, field] of [
    [{ limit: '0' }, 'limit'], [{ limit: '101' }, 'limit'], [{ limit: 'ten' }, 'limit'],
    [{ cursor: 'garbage' }, 'cursor'], [{ cursor: Buffer.from('{"ts":"x","id":"y"}').toString('base64url') }, 'cursor'],
    [{ period: '2026-13' }, 'period'], [{ period: '2026-1' }, 'period'], [{ period: 'last' }, 'period'],
  ]) {
    fails(await billing(fresh, query), 400, 'validation_error', field);
  }
  fails(await fn('get-billing'), 401, 'unauthorized');
  fails(await fn('get-billing', { token: fresh.accessToken, body: { limit: 0 } }), 400, 'validation_error', 'limit');
  fails(await fn('get-billing', { token: fresh.accessToken, method: 'DELETE' }), 405, 'method_not_allowed');
});

test('these functions have no sub-paths: 404', async () => {
  fails(await fn(`get-billing/${fresh.user.id}`, { token: fresh.accessToken }), 404, 'not_found');
  fails(await fn(`insights/${fresh.user.id}`, { token: fresh.accessToken }), 404, 'not_found');
  fails(await fn(`record-metrics/${fresh.user.id}`, { method: 'POST', body: {} }), 404, 'not_found');
});
