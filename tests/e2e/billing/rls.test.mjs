// The ledger and the samples straight through PostgREST (API.md §4: "Balances, billing
// records, jobs and statuses can be changed only by these paths"). With their own session
// token, users read their own billing_records and machine_metrics and nobody else's, and
// write neither (insert, update, delete, upsert); they cannot move a machine's billing
// clock; the meter, record-metrics' and the pruning functions are the service role's
// only; get-billing and insights over /rpc answer the caller's own data only.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { rest, show, fn, ok, signIn } from '../lib/api.mjs';
import { createRaw, rows, value } from '../lib/machines.mjs';
import { meter, ledger, setAgentToken, postMetrics, sample, agentToken } from '../lib/billing.mjs';
import { waitForStatus } from '../lib/runner.mjs';

let a, b; // A owns a charged machine with samples; B attacks
let ma, mb;
let aRecords; // A's billing records before the attacks (as the superuser sees them)
let aSamples;

const as = (user, path, opts = {}) => rest(path, { ...opts, token: user?.accessToken });
const refused = (res) => assert.ok(res.status >= 400 && res.status < 500, `should be refused (4xx): ${show(res)}`);
const refusedOrEmpty = (res) =>
  assert.ok((res.status >= 400 && res.status < 500) || res.status === 204 || (Array.isArray(res.json) && res.json.length === 0), show(res));
const snapshot = async () => ({
  records: await rows`select * from billing_records where account_id in (${a.user.id}, ${b.user.id}) order by id`,
  samples: await rows`select * from machine_metrics where owner_id in (${a.user.id}, ${b.user.id}) order by machine_id, recorded_at`,
  clocks: await rows`select id, last_billed_at, billed_remainder, billed_remainder_us, last_charged_at from machines where owner_id in (${a.user.id}, ${b.user.id}) order by id`,
  balances: await rows`select id, credit_balance_cents from accounts where id in (${a.user.id}, ${b.user.id}) order by id`,
});
let before0;

before(async () => {
  [a, b] = await Promise.all([signIn(), signIn()]);
  [ma, mb] = (await Promise.all([createRaw(a, { tier: 'dev.small' }), createRaw(b, { tier: 'dev.small' })])).map((r) => ok(r, 201));
  // Only a running machine is metered (its billing clock starts when it runs).
  await waitForStatus(a, ma.id, 'running', { timeoutMs: 30000 });
  const at = await value`select (last_billed_at + interval '48 hours')::text from machines where id = ${ma.id}`;
  assert.equal((await meter(at, a.user.id)).charges, 1, 'A has a charge record');
  const [ta, tb] = await Promise.all([setAgentToken(ma.id), setAgentToken(mb.id)]);
  ok(await postMetrics(ta, [sample(), sample(Math.random, { recordedAt: new Date(Date.now() - 60_000).toISOString() })]), 202);
  ok(await postMetrics(tb, sample()), 202);
  aRecords = await rows`select id from billing_records where account_id = ${a.user.id}`;
  aSamples = await rows`select recorded_at from machine_metrics where machine_id = ${ma.id}`;
  assert.ok(aRecords.length >= 2 && aSamples.length === 2, 'A has records (signup, charge) and samples');
  before0 = await snapshot();
});

test('users read their own billing records and samples, and nobody else\'s', async () => {
  const own = await as(a, '/billing_records?select=id,kind,amount_cents');
  assert.equal(own.status, 200, show(own));
  assert.deepEqual(own.json.map((r) => r.id).sort(), aRecords.map((r) => r.id).sort());
  const ownSamples = await as(a, `/machine_metrics?machine_id=eq.${ma.id}`);
  assert.equal(ownSamples.json.length, 2, show(ownSamples));

  refusedOrEmpty(await as(b, `/billing_records?account_id=eq.${a.user.id}`));
  refusedOrEmpty(await as(b, `/billing_records?machine_id=eq.${ma.id}`));
  refusedOrEmpty(await as(b, `/billing_records?id=eq.${aRecords[0].id}`));
  refusedOrEmpty(await as(b, `/machine_metrics?machine_id=eq.${ma.id}`));
  refusedOrEmpty(await as(b, `/machine_metrics?owner_id=eq.${a.user.id}`));
  const bAll = await as(b, '/billing_records?select=account_id');
  assert.ok(bAll.json.every((r) => r.account_id === b.user.id), show(bAll));
  const bSamples = await as(b, '/machine_metrics?select=owner_id');
  assert.ok(bSamples.json.every((r) => r.owner_id === b.user.id), show(bSamples));
  // Anonymous callers see nothing.
  refusedOrEmpty(await rest('/billing_records'));
  refusedOrEmpty(await rest('/machine_metrics'));
  // Embedding from A's machine as B finds no machine to embed from.
  refusedOrEmpty(await as(b, `/machines?id=eq.${ma.id}&select=id,billing_records(*),machine_metrics(*)`));
});

test('nobody writes billing records or samples through PostgREST: insert, upsert, update, delete', async () => {
  const credit = { account_id: b.user.id, kind: 'credit', amount_cents: 100000, description: 'free money' };
  refused(await as(b, '/billing_records', { method: 'POST', body: credit }));
  refused(await as(b, '/billing_records', { method: 'POST', body: { ...credit, id: aRecords[0].id }, headers: { prefer: 'resolution=merge-duplicates' } }));
  refused(await as(b, '/billing_records', { method: 'POST', body: { ...credit, account_id: a.user.id, kind: 'charge' } }));
  for (const who of [a, b]) {
    refusedOrEmpty(await as(who, `/billing_records?account_id=eq.${who.user.id}`, { method: 'PATCH', body: { amount_cents: 0 }, headers: { prefer: 'return=representation' } }));
    refusedOrEmpty(await as(who, '/billing_records?kind=eq.charge', { method: 'DELETE', headers: { prefer: 'return=representation' } }));
    refusedOrEmpty(await as(who, `/billing_records?id=eq.${aRecords[0].id}`, { method: 'DELETE', headers: { prefer: 'return=representation' } }));
  }
  const s = { machine_id: ma.id, owner_id: a.user.id, recorded_at: new Date().toISOString(), cpu: 1, memory: 1, disk: 1, net_in: 0, net_out: 0 };
  refused(await as(a, '/machine_metrics', { method: 'POST', body: s }));
  refused(await as(b, '/machine_metrics', { method: 'POST', body: { ...s, owner_id: b.user.id } }));
  refusedOrEmpty(await as(a, `/machine_metrics?machine_id=eq.${ma.id}`, { method: 'PATCH', body: { cpu: 99 }, headers: { prefer: 'return=representation' } }));
  refusedOrEmpty(await as(a, `/machine_metrics?machine_id=eq.${ma.id}`, { method: 'DELETE', headers: { prefer: 'return=representation' } }));
  refusedOrEmpty(await as(b, `/machine_metrics?machine_id=eq.${ma.id}`, { method: 'DELETE', headers: { prefer: 'return=representation' } }));
  // Nor the billing clock of their own machine, nor their balance.
  for (const body of [{ last_billed_at: '2999-01-01T00:00:00Z' }, { billed_remainder: 0 }, { billed_remainder_us: 0 }, { last_charged_at: null }, { agent_token_hash: agentToken().hash }]) {
    refusedOrEmpty(await as(a, `/machines?id=eq.${ma.id}`, { method: 'PATCH', body, headers: { prefer: 'return=representation' } }));
  }
  refusedOrEmpty(await as(a, `/accounts?id=eq.${a.user.id}`, { method: 'PATCH', body: { credit_balance_cents: 10 ** 9 }, headers: { prefer: 'return=representation' } }));
  assert.deepEqual(await snapshot(), before0, 'nothing changed');
});

test('the meter, record-metrics and pruning over /rpc are the service role\'s only', async () => {
  const far = new Date(Date.now() + 10 * 365 * 86_400_000).toISOString();
  for (const who of [a, b, null]) {
    refused(await as(who, '/rpc/hangar_meter', { method: 'POST', body: { p_now: far, p_account_id: a.user.id } }));
    refused(await as(who, '/rpc/hangar_meter', { method: 'POST', body: {} }));
    refused(await as(who, '/rpc/hangar_prune_metrics', { method: 'POST', body: {} }));
    refused(await as(who, '/rpc/hangar_record_metrics', { method: 'POST', body: { p_token_hash: agentToken().hash, p_samples: [sample()] } }));
  }
  assert.deepEqual(await snapshot(), before0, 'nothing changed');
});

test('get-billing and insights over /rpc answer the caller\'s own data only', async () => {
  const own = await as(b, '/rpc/hangar_get_billing', { method: 'POST', body: {} });
  assert.equal(own.status, 200, show(own));
  assert.equal(own.json.ok, true, show(own));
  assert.ok(own.json.data.records.every((r) => !aRecords.some((x) => x.id === r.id)), 'none of A\'s records');
  assert.equal(own.json.data.balanceCents, (await ledger(b.user.id)).balance);
  const spy = await as(b, '/rpc/hangar_insights', { method: 'POST', body: { p_machine_id: ma.id, p_period: '7d' } });
  assert.equal(spy.json?.ok, false, show(spy));
  assert.equal(spy.json.error, 'not_found');
  refused(await rest('/rpc/hangar_get_billing', { method: 'POST', body: {} }));
  refused(await rest('/rpc/hangar_insights', { method: 'POST', body: { p_machine_id: ma.id, p_period: '1h' } }));
  // And through the functions: B's view of A's machine is 404.
  assert.equal((await fn('insights', { token: b.accessToken, query: { machineId: ma.id } })).status, 404);
  const billing = ok(await fn('get-billing', { token: b.accessToken }));
  assert.ok(billing.records.every((r) => r.machineId !== ma.id));
  assert.deepEqual(await snapshot(), before0, 'nothing changed');
});
