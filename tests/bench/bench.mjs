// The benchmark: latency of each function through Miniflare (workerd) against the local
// stack, and PostgREST round trips per request, counted by the stack's proxy in front of
// postrust. Prints the figures and exits non-zero when a budget is exceeded.
// Run by scripts/bench.sh (which builds the release profile and starts the stack); not
// part of `make test`: figures are measured here, never asserted as timings in tests.
import { env } from '../e2e/lib/env.mjs';
import { fn, signIn } from '../e2e/lib/api.mjs';
import { setStatus, newName } from '../e2e/lib/machines.mjs';
import { stopRunner, startRunner } from '../e2e/lib/runner.mjs';
import { privyToken } from '../e2e/lib/jwt.mjs';

const N = Number(process.env.BENCH_N || 40);
const BUDGET = {
  roundTrips: 1, // PostgREST calls a function makes before it answers
  p95Ms: Number(process.env.BENCH_P95_BUDGET_MS || 250),
};

const calls = async () => (await fetch(`${env.STACK_CONTROL_URL}/postgrest-calls`)).json();
// Delivery bookkeeping runs after the answer (ctx.waitUntil), so it is counted apart.
const AFTER_ANSWER = new Set(['/api/rpc/hangar_delivery_result', '/rest/v1/rpc/hangar_delivery_result']);
const total = (c) => Object.entries(c).filter(([p]) => !AFTER_ANSWER.has(p)).reduce((a, [, n]) => a + n, 0);
const after = (c) => Object.entries(c).filter(([p]) => AFTER_ANSWER.has(p)).reduce((a, [, n]) => a + n, 0);
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

const results = [];
let failed = false;

// Calls `make(i)` N times in sequence; records latency and the PostgREST calls made
// while each request was in flight (deliveries after the answer are not counted: the
// runner is stopped; the failed delivery's bookkeeping call is reported apart).
async function measure(name, make, expectStatus) {
  const ms = [];
  const trips = [];
  const afterBefore = after(await calls());
  for (let i = 0; i < N; i++) {
    const before = total(await calls());
    const t0 = performance.now();
    const res = await make(i);
    ms.push(performance.now() - t0);
    if (res.status !== expectStatus) throw new Error(`${name}: ${res.status} ${res.text?.slice(0, 200)}`);
    // A request's own PostgREST calls are done when it answers; delivery (after the
    // answer) is excluded by the stopped runner and its failure bookkeeping below.
    trips.push(total(await calls()) - before);
  }
  await new Promise((r) => setTimeout(r, 200)); // let the last background delivery settle
  const background = (after(await calls()) - afterBefore) / N;
  const row = { name, n: N, p50: pct(ms, 50), p95: pct(ms, 95), max: Math.max(...ms), roundTrips: Math.max(...trips), background };
  results.push(row);
  if (row.roundTrips > BUDGET.roundTrips || row.p95 > BUDGET.p95Ms) failed = true;
}

await stopRunner(); // jobs stay in the outbox: no background traffic during measurement
try {
  const user = await signIn();
  const token = user.accessToken;
  await measure('health', () => fn('health'), 200);
  await measure('exchange', () => fn('exchange', { method: 'POST', body: { token: privyToken({ sub: user.sub }) } }), 200);
  await measure('me', () => fn('me', { token }), 200);
  await measure('me PATCH', (i) => fn('me', { method: 'PATCH', token, body: { displayName: `Bench ${i}` } }), 200);
  const created = [];
  await measure('create-machine', async () => {
    const r = await fn('create-machine', { method: 'POST', token, body: { name: newName('bench') } });
    if (r.json?.data?.id) created.push(r.json.data.id);
    return r;
  }, 201);
  await measure('get-user-machines', () => fn('get-user-machines', { token, query: { limit: '20' } }), 200);
  await measure('get-machine-status', (i) => fn('get-machine-status', { token, query: { machineId: created[i] } }), 200);
  for (const id of created) await setStatus(id, 'stopped');
  await measure('start-machine', (i) => fn('start-machine', { method: 'POST', token, body: { machineId: created[i] } }), 202);
  await measure('get-logs', (i) => fn('get-logs', { token, query: { machineId: created[i] } }), 200);
} finally {
  await startRunner();
}

console.log(`\nbenchmark (sequential, n=${N} each; latency in ms through Miniflare/workerd; round trips = PostgREST calls before the answer)`);
console.log('function             p50     p95     max   round trips   after the answer');
for (const r of results) {
  const flag = r.roundTrips > BUDGET.roundTrips || r.p95 > BUDGET.p95Ms ? '  OVER BUDGET' : '';
  console.log(`${r.name.padEnd(18)} ${r.p50.toFixed(1).padStart(6)}  ${r.p95.toFixed(1).padStart(6)}  ${r.max.toFixed(1).padStart(6)}   ${String(r.roundTrips).padStart(5)}         ${r.background ? r.background.toFixed(1) + ' (delivery)' : '-'}${flag}`);
}
console.log(`budgets: round trips <= ${BUDGET.roundTrips}, p95 <= ${BUDGET.p95Ms} ms`);
if (failed) {
  console.error('benchmark: a budget was exceeded');
  process.exit(1);
}
