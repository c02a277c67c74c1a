// Helpers for the billing and metrics tests (API.md §4): the meter called as the service
// role (at any `now`, limited to one account so that other test files' accounts are never
// charged for a future moment), the ledger as the database holds it, credits through
// add-credits, agent tokens and samples.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { env } from './env.mjs';
import { fn, ok, service, show } from './api.mjs';
import { rows, sql, value } from './machines.mjs';

/** One cent in the meter's units: 730 h of µs (migrations/20261130002000_metering_schema.sql). */
export const UNITS_PER_CENT = 730n * 3600n * 1_000_000n;

/**
 * hangar_meter through PostgREST with the service key: charges up to `now` (a Date, an ISO
 * string, a Postgres timestamptz text, or null for the database's clock) for `accountId`'s machines only; returns the
 * outcome's data ({ at, charges, chargedCents, stopped: [machineId], deliveries }).
 */
export async function meter(now, accountId) {
  assert.ok(accountId, 'meter() is always limited to one account in the tests');
  const p_now = now instanceof Date ? now.toISOString() : now;
  // now === null: the database's own clock (p_now left out: the function's default).
  const body = p_now === null ? { p_account_id: accountId } : { p_now, p_account_id: accountId };
  const res = await service('/rpc/hangar_meter', { method: 'POST', body });
  assert.equal(res.status, 200, `hangar_meter: ${show(res)}`);
  assert.equal(res.json?.ok, true, `hangar_meter: ${show(res)}`);
  return res.json.data;
}

/**
 * The account's ledger as the database holds it, read in one statement (one snapshot):
 * { balance, signup, credits, charges, records } (numbers, cents).
 */
export async function ledger(accountId) {
  const [l] = await rows`
    select a.credit_balance_cents::bigint as balance,
      coalesce((select sum(amount_cents) from billing_records where account_id = a.id and kind = 'signup'), 0)::bigint as signup,
      coalesce((select sum(amount_cents) from billing_records where account_id = a.id and kind = 'credit'), 0)::bigint as credits,
      coalesce((select sum(amount_cents) from billing_records where account_id = a.id and kind = 'charge'), 0)::bigint as charges,
      (select count(*) from billing_records where account_id = a.id)::int as records
    from accounts a where a.id = ${accountId}`;
  assert.ok(l, `account ${accountId} exists`);
  return Object.fromEntries(Object.entries(l).map(([k, v]) => [k, Number(v)]));
}

/** add-credits with the service key (asserting 201); returns the BillingRecord. */
export async function addCredits(userId, amountCents, description = 'test credits') {
  return ok(await fn('add-credits', { token: env.SUPABASE_SERVICE_ROLE_KEY, body: { userId, amountCents, description } }), 201);
}

/** The machine's billing clock: { lastBilledAt (µs BigInt), remainder (BigInt units), remainderUs, lastChargedAt, status }. */
export async function clockOf(machineId) {
  const [r] = await sql`select status, (extract(epoch from last_billed_at) * 1000000)::bigint::text as w,
      billed_remainder::text as u, billed_remainder_us::text as us, last_billed_at::text as w_text
    from machines where id = ${machineId}`;
  return { status: r.status, lastBilledAt: r.w === null ? null : BigInt(r.w), lastBilledAtText: r.w_text, remainder: BigInt(r.u), remainderUs: BigInt(r.us) };
}

/** Σ of a machine's charge records (cents, Number). */
export const chargedTo = async (machineId) =>
  Number(await value`select coalesce(sum(amount_cents), 0)::bigint from billing_records where machine_id = ${machineId} and kind = 'charge'`);

// ---- agents ---------------------------------------------------------------------------------------

/** A new agent token and its hash as the Worker stores it (hex SHA-256). */
export function agentToken() {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: createHash('sha256').update(token).digest('hex') };
}

/** Gives a machine an agent token we know (its create job's token went to the runner only). */
export async function setAgentToken(machineId) {
  const t = agentToken();
  await sql`update machines set agent_token_hash = ${t.hash} where id = ${machineId}`;
  return t.token;
}

/** POST record-metrics with `token` as the bearer; `body` a sample, an array, or raw text. */
export const postMetrics = (token, body, { query, headers } = {}) =>
  fn('record-metrics', {
    method: 'POST',
    token,
    query,
    headers,
    ...(typeof body === 'string' ? { rawBody: body, headers: { 'content-type': 'application/json', ...headers } } : { body }),
  });

/** A sample with values drawn from `rnd()` (0..1). */
export function sample(rnd = Math.random, extra = {}) {
  const pct = () => Math.round(rnd() * 10000) / 100;
  return {
    cpuUsage: pct(),
    memoryUsage: pct(),
    diskUsage: pct(),
    networkIn: Math.floor(rnd() * 5e6),
    networkOut: Math.floor(rnd() * 5e6),
    ...extra,
  };
}

/** A small deterministic PRNG (mulberry32), so that a failing run can be replayed by its seed. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
