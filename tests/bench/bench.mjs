// Latency and PostgREST round trips of the release Workers, against the local stack's
// database (postrust + PostgreSQL), and the same PostgREST calls made directly.
//
// Run by scripts/bench.sh inside the stack (`stack.mjs test tests/bench/bench.mjs`); not
// part of `make test`: figures are measured here, never asserted as timings in tests.
//
// The path of a function call:  client → workerd (Miniflare) → counting proxy → postrust
// The direct call:              client →                       counting proxy → postrust
// The proxy (started here, in front of the stack's postrust) counts each function call's
// PostgREST requests and records the first one; the direct call replays that request
// (for writes, on a twin row, so that the database does the same work). Added latency =
// function − direct, at p50 and p99. The Workers are the release builds (copied to
// BENCH_RUST_DIR by scripts/bench.sh), in a Miniflare of this process, so that a
// concurrent `make test` rebuilding functions/*/build cannot swap them mid-run.
//
// Env: BENCH_N (requests per function, default 100), BENCH_P99_BUDGET_MS (250),
// BENCH_RUST_DIR (default .local/bench/rust), BENCH_OUT (JSON results).
import { createServer, request as httpRequest, Agent } from 'node:http';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { Miniflare } from 'miniflare';
import { parse as parseToml } from 'smol-toml';
import { env, ROOT } from '../e2e/lib/env.mjs';
import { privyToken } from '../e2e/lib/jwt.mjs';
import { newName, setBalance, setMachineLimit, setStatus, sql } from '../e2e/lib/machines.mjs';
import { sample, setAgentToken } from '../e2e/lib/billing.mjs';
import { startRunner, stopRunner } from '../e2e/lib/runner.mjs';

const N = Number(process.env.BENCH_N || 100);
const WARMUP = 5;
const BUDGET = { roundTrips: 1, p99Ms: Number(process.env.BENCH_P99_BUDGET_MS || 250) };
const RUST_DIR = process.env.BENCH_RUST_DIR || join(ROOT, '.local', 'bench', 'rust');
const say = (m) => process.stderr.write(`[bench] ${m}\n`);

// ---- HTTP: one keep-alive client for both paths (node:http, no fetch wrappers) -----------
const agent = new Agent({ keepAlive: true, maxSockets: 4 });
function send(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) }, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, text, json });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// ---- the counting proxy in front of the stack's postrust -----------------------------------
const upstream = new URL(env.POSTGREST_URL); // postrust, direct
const upstreamAgent = new Agent({ keepAlive: true, maxSockets: 16 });
// Delivery bookkeeping runs after the answer (ctx.waitUntil): counted apart.
const AFTER_ANSWER = /\/rpc\/hangar_delivery_result$/;
const proxyLog = { calls: 0, after: 0, first: null };
// The headers a replay sends: the Worker's own, less those of its connection and framing.
const replayable = (h) => Object.fromEntries(Object.entries(h).filter(([k]) => !['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive'].includes(k)));
const proxy = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const path = new URL(req.url, 'http://proxy').pathname;
    if (AFTER_ANSWER.test(path)) proxyLog.after += 1;
    else {
      proxyLog.calls += 1;
      proxyLog.first ??= { method: req.method, url: req.url, headers: replayable(req.headers), body: body.toString() };
    }
    const headers = { ...req.headers, host: upstream.host };
    const out = httpRequest({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, agent: upstreamAgent }, (up) => {
      res.writeHead(up.statusCode, up.headers);
      up.pipe(res);
    });
    out.on('error', (e) => {
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `proxy: ${e.message}` }));
    });
    out.end(body);
  });
});
await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
// Transparent: the same paths as postrust (…/api/rpc/<fn> on the local stack).
const proxyOrigin = `http://127.0.0.1:${proxy.address().port}`;
const proxyBase = `${proxyOrigin}${upstream.pathname.replace(/\/$/, '')}`;

// ---- the release Workers in Miniflare --------------------------------------------------
const FUNCTIONS = ['health', 'exchange', 'me', 'create-machine', 'get-user-machines', 'get-machine-status', 'start-machine', 'get-logs',
  // Money and monitoring (API.md §4).
  'projects', 'get-pricing', 'get-billing', 'add-credits', 'record-metrics', 'insights'];
const wrangler = parseToml(readFileSync(join(ROOT, 'wrangler.toml'), 'utf8'));
process.chdir(ROOT); // workerd refuses module paths that climb out of its starting directory
const bindings = { ...env, POSTGREST_URL: proxyBase };
if (env.PRIVY_VERIFICATION_KEY_FILE) bindings.PRIVY_VERIFICATION_KEY = readFileSync(resolve(ROOT, env.PRIVY_VERIFICATION_KEY_FILE), 'utf8');
const workers = FUNCTIONS.map((n) => {
  const dir = relative(ROOT, join(RUST_DIR, n));
  if (!existsSync(join(dir, 'entry.js'))) throw new Error(`${dir}/entry.js: no release build (scripts/bench.sh copies them)`);
  const e = wrangler.env?.[n] ?? {};
  return {
    name: `bench-${n}`,
    modules: true,
    scriptPath: join(dir, 'entry.js'),
    modulesRoot: dir,
    modulesRules: [{ type: 'ESModule', include: ['**/*.js'] }, { type: 'CompiledWasm', include: ['**/*.wasm'] }],
    routes: [`*/functions/v1/${n}*`],
    compatibilityDate: e.compatibility_date ?? wrangler.compatibility_date,
    compatibilityFlags: e.compatibility_flags ?? wrangler.compatibility_flags ?? [],
    bindings,
    // The production bindings, with limits no benchmark reaches.
    ratelimits: Object.fromEntries((e.ratelimits ?? []).map((rl) => [rl.name, { namespace_id: String(rl.namespace_id), simple: { limit: 1_000_000, period: 60 } }])),
  };
});
const mf = new Miniflare({
  host: '127.0.0.1',
  port: 0,
  workers,
  handleRuntimeStdio(stdout, stderr) {
    stdout.resume();
    stderr.resume();
  },
});
const base = (await mf.ready).toString().replace(/\/$/, '');

function call(name, { method = 'GET', token, body, query } = {}) {
  const url = new URL(`${base}/functions/v1/${name}`);
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return send(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}
const direct = (rec, body = rec.body) => send(`${proxyOrigin}${rec.url}`, { method: rec.method, headers: rec.headers, body });

// ---- measurement ----------------------------------------------------------------------------
/** Puts a machine in a project (or none), as the superuser: setup, not measured. */
const setProject = (machineId, projectId) => sql`update machines set project_id = ${projectId} where id = ${machineId}`;
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
const results = [];
let failed = false;

/**
 * N calls of `make(i)` in sequence (after WARMUP unmeasured ones), each followed by the
 * direct replay of its first PostgREST request (`twin(body, i, res)` rewrites the body of
 * a write so that it acts on another row). `done(res, i)` sees each function answer,
 * `doneDirect(res, i)` each direct one.
 */
async function measure(name, make, expect, { twin, done, doneDirect } = {}) {
  const fnMs = [], directMs = [], trips = [];
  const afterBefore = proxyLog.after;
  for (let i = -WARMUP; i < N; i++) {
    proxyLog.calls = 0;
    proxyLog.first = null;
    const t0 = performance.now();
    const res = await make(i);
    const t1 = performance.now();
    if (res.status !== expect) throw new Error(`${name}: ${res.status} ${res.text.slice(0, 300)}`);
    const calls = proxyLog.calls;
    const rec = proxyLog.first;
    if (!rec) throw new Error(`${name}: no PostgREST request`);
    done?.(res, i);
    const t2 = performance.now();
    const d = await direct(rec, twin ? twin(rec.body, i, res) : rec.body);
    const t3 = performance.now();
    if (d.status !== 200 || d.json?.ok !== true) throw new Error(`${name} direct: ${d.status} ${d.text.slice(0, 300)}`);
    doneDirect?.(d, i);
    if (i < 0) continue;
    fnMs.push(t1 - t0);
    directMs.push(t3 - t2);
    trips.push(calls);
  }
  await new Promise((r) => setTimeout(r, 200)); // the last background delivery settles
  const added = fnMs.map((ms, i) => ms - directMs[i]);
  const row = {
    name, n: N,
    p50: pct(fnMs, 50), p99: pct(fnMs, 99),
    directP50: pct(directMs, 50), directP99: pct(directMs, 99),
    addedP50: pct(fnMs, 50) - pct(directMs, 50), addedP99: pct(fnMs, 99) - pct(directMs, 99),
    addedPairedP50: pct(added, 50),
    roundTrips: Math.max(...trips),
    background: (proxyLog.after - afterBefore) / (N + WARMUP),
  };
  row.over = row.roundTrips > BUDGET.roundTrips || row.p99 > BUDGET.p99Ms;
  failed ||= row.over;
  results.push(row);
  say(`${name}: p50 ${row.p50.toFixed(2)} ms (direct ${row.directP50.toFixed(2)} ms)`);
}

await stopRunner(); // jobs stay in the outbox: no runner traffic while measuring
try {
  // A user of its own: signed in through the release exchange.
  const signed = await call('exchange', { method: 'POST', body: { token: privyToken() } });
  if (signed.status !== 200) throw new Error(`sign-in: ${signed.status} ${signed.text.slice(0, 300)}`);
  const token = signed.json.data.accessToken;
  const did = signed.json.data.user.privyDid;
  const accountId = signed.json.data.user.id;
  // Room for 2 × (N + warm-up) machines and projects (the function's and the direct call's);
  // the bench has a stack of its own, so the global project limit may go up.
  const projectLimit = () => sql`update private.settings set value = 100000 where name = 'max_projects_per_account'`;
  for (const [what, set] of [['machine limit', () => setMachineLimit(accountId, 100_000)], ['project limit', projectLimit],
    ['balance', () => setBalance(accountId, 1_000_000_000)]]) {
    try { await set(); } catch (e) { say(`could not raise the ${what}: ${e.message}`); }
  }
  const M = N + WARMUP;
  const at = (list, i) => list[i + WARMUP];

  await measure('health', () => call('health'), 200);
  await measure('exchange', () => call('exchange', { method: 'POST', body: { token: privyToken({ sub: did }) } }), 200, {
    // A refresh token hash is unique: the direct call stores another one.
    twin: (body) => body.replace(/"p_refresh_hash":"[0-9a-f]*"/, `"p_refresh_hash":"${randomBytes(32).toString('hex')}"`),
  });
  await measure('me', () => call('me', { token }), 200);
  await measure('me PATCH', (i) => call('me', { method: 'PATCH', token, body: { displayName: `Bench ${i + WARMUP}` } }), 200);
  const created = [], twins = [];
  await measure('create-machine', () => call('create-machine', { method: 'POST', token, body: { name: newName('bench') } }), 201, {
    twin: (body) => body.replace(/"p_name":"[^"]*"/, `"p_name":"${newName('twin')}"`),
    done: (res) => created.push(res.json.data.id),
    doneDirect: (d) => twins.push(d.json.data.machine.id),
  });
  if (created.length !== M || twins.length !== M) throw new Error('create-machine: missing ids');
  await measure('get-user-machines', () => call('get-user-machines', { token, query: { limit: '20' } }), 200);
  await measure('get-machine-status', (i) => call('get-machine-status', { token, query: { machineId: at(created, i) } }), 200);
  for (const id of [...created, ...twins]) await setStatus(id, 'stopped');
  await measure('start-machine', (i) => call('start-machine', { method: 'POST', token, body: { machineId: at(created, i) } }), 202, {
    twin: (body, i) => body.replace(at(created, i), at(twins, i)),
  });
  await measure('get-logs', (i) => call('get-logs', { token, query: { machineId: at(created, i) } }), 200);

  // ---- money and monitoring (API.md §4) ----
  const projects = [], projectTwins = [];
  await measure('projects POST', (i) => call('projects', { method: 'POST', token, body: { name: `bench ${i + WARMUP}`, description: 'bench' } }), 201, {
    done: (res) => projects.push(res.json.data.id),
    doneDirect: (d) => projectTwins.push(d.json.data.id),
  });
  if (projects.length !== M || projectTwins.length !== M) throw new Error('projects POST: missing ids');
  // Half of the machines in the projects, so that the counts count something.
  for (let i = 0; i < M; i++) await setProject(created[i], projects[i]);
  await measure('projects GET', () => call('projects', { token }), 200);
  await measure('projects/{id} GET', (i) => call(`projects/${at(projects, i)}`, { token }), 200);
  await measure('projects/{id} PATCH', (i) => call(`projects/${at(projects, i)}`, { method: 'PATCH', token, body: { name: `renamed ${i + WARMUP}` } }), 200, {
    twin: (body, i) => body.replace(at(projects, i), at(projectTwins, i)),
  });
  for (let i = 0; i < M; i++) await setProject(created[i], null);
  await measure('projects/{id} DELETE', (i) => call(`projects/${at(projects, i)}`, { method: 'DELETE', token }), 200, {
    twin: (body, i) => body.replace(at(projects, i), at(projectTwins, i)),
  });
  await measure('get-pricing', () => call('get-pricing'), 200);
  await measure('add-credits', () => call('add-credits', { method: 'POST', token: env.SUPABASE_SERVICE_ROLE_KEY, body: { userId: accountId, amountCents: 1, description: 'bench' } }), 201);
  await measure('get-billing', () => call('get-billing', { token, query: { limit: '50' } }), 200);
  // The agent of one machine (its token written as the delivery would write its hash):
  // one sample per call, dated on arrival (the direct replay stores another one).
  const agentToken = await setAgentToken(created[0]);
  await measure('record-metrics', () => call('record-metrics', { method: 'POST', token: agentToken, body: sample() }), 202);
  await measure('insights 1h', () => call('insights', { token, query: { machineId: created[0], period: '1h' } }), 200);
  await measure('insights 7d', () => call('insights', { token, query: { machineId: created[0], period: '7d' } }), 200);
} finally {
  await startRunner();
  await mf.dispose();
  proxy.close();
  agent.destroy();
  upstreamAgent.destroy();
}

const f = (v) => v.toFixed(2).padStart(7);
console.log(`\nLatency (sequential, n=${N} each after ${WARMUP} warm-up; ms). Function: client → workerd (release build) → counting proxy → postrust;`);
console.log('direct: the same PostgREST request (writes on a twin row), client → counting proxy → postrust. added = function − direct.');
console.log(`${'function'.padEnd(20)}    p50     p99 │ direct p50     p99 │ added p50     p99 │ round trips  after the answer`);
for (const r of results) {
  console.log(`${r.name.padEnd(20)}${f(r.p50)} ${f(r.p99)} │    ${f(r.directP50)} ${f(r.directP99)} │   ${f(r.addedP50)} ${f(r.addedP99)} │ ${String(r.roundTrips).padStart(7)}      ${r.background ? `${r.background.toFixed(1)} (delivery)` : '-'}${r.over ? '  OVER BUDGET' : ''}`);
}
console.log(`budgets: round trips <= ${BUDGET.roundTrips}, p99 <= ${BUDGET.p99Ms} ms`);
if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(results, null, 2));
if (failed) {
  console.error('benchmark: a budget was exceeded');
  process.exit(1);
}
process.exit(0);
