// get-pricing (API.md §3, §4): the tiers and their prices without signing in, read from
// the tiers table (the one source the balance checks use). The hourly price is the
// monthly one over 730 hours, rounded up to the cent: 730 hours never cost less than a month.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env } from '../lib/env.mjs';
import { fn, ok, fails, signIn } from '../lib/api.mjs';
import { rows, TIERS } from '../lib/machines.mjs';
import { supabaseUser } from '../lib/projects.mjs';

const TIER_KEYS = ['cpu', 'diskGb', 'id', 'memoryMb', 'pricePerHourCents', 'pricePerMonthCents'];

test('without a token: 200 with every tier of the contract, in USD', async () => {
  const data = ok(await fn('get-pricing'));
  assert.deepEqual(Object.keys(data).sort(), ['currency', 'tiers']);
  assert.equal(data.currency, 'USD');
  assert.deepEqual(data.tiers.map((t) => t.id), Object.keys(TIERS), 'the four tiers, cheapest first');
  for (const t of data.tiers) {
    assert.deepEqual(Object.keys(t).sort(), TIER_KEYS);
    const { cpu, memoryMb, diskGb, pricePerMonthCents } = TIERS[t.id];
    assert.deepEqual({ cpu: t.cpu, memoryMb: t.memoryMb, diskGb: t.diskGb, pricePerMonthCents: t.pricePerMonthCents },
      { cpu, memoryMb, diskGb, pricePerMonthCents }, t.id);
    for (const k of ['memoryMb', 'diskGb', 'pricePerMonthCents', 'pricePerHourCents']) assert.ok(Number.isInteger(t[k]), `${t.id}.${k}`);
  }
});

test('the 730-hour rule: hourly = ceil(monthly / 730); 730 hours cost at least the month and less than a month plus 730 cents', async () => {
  const { tiers } = ok(await fn('get-pricing'));
  for (const t of tiers) {
    assert.equal(t.pricePerHourCents, Math.ceil(t.pricePerMonthCents / 730), t.id);
    assert.ok(t.pricePerHourCents * 730 >= t.pricePerMonthCents, `${t.id}: 730 h cover the month`);
    assert.ok((t.pricePerHourCents - 1) * 730 < t.pricePerMonthCents, `${t.id}: rounded up by less than a cent an hour`);
  }
  assert.deepEqual(tiers.map((t) => t.pricePerHourCents), [1, 2, 4, 7]);
});

test('the prices are the tiers table\'s (what the balance checks use)', async () => {
  const { tiers } = ok(await fn('get-pricing'));
  const table = await rows`select id, price_per_month_cents, price_per_hour_cents, memory_mb, disk_gb, cpu from tiers order by price_per_month_cents, id`;
  assert.deepEqual(tiers.map((t) => [t.id, t.pricePerMonthCents, t.pricePerHourCents, t.memoryMb, t.diskGb, t.cpu]),
    table.map((r) => [r.id, Number(r.price_per_month_cents), Number(r.price_per_hour_cents), r.memory_mb, r.disk_gb, Number(r.cpu)]));
});

test('the same answer with any token and over POST (a read, API.md §1); DELETE is 405; a sub-path is 404; OPTIONS is 204', async () => {
  const anon = ok(await fn('get-pricing'));
  const user = await signIn();
  assert.deepEqual(ok(await fn('get-pricing', { token: user.accessToken })), anon);
  assert.deepEqual(ok(await fn('get-pricing', { token: supabaseUser().accessToken })), anon);
  assert.deepEqual(ok(await fn('get-pricing', { token: env.SUPABASE_ANON_KEY })), anon);
  assert.deepEqual(ok(await fn('get-pricing', { body: {} })), anon);
  fails(await fn('get-pricing', { method: 'DELETE' }), 405, 'method_not_allowed');
  fails(await fn('get-pricing/dev.small'), 404, 'not_found');
  const pre = await fn('get-pricing', { method: 'OPTIONS', headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'GET' } });
  assert.equal(pre.status, 204);
  assert.match(pre.headers.get('access-control-allow-methods'), /GET/);
});
