// Rate limits (API.md §1) through the Workers rate-limiting binding, as Miniflare
// honours it. The shared stack's limits are out of reach (a suite signs in hundreds of
// times from one address), so this file starts Workers of its own (the same builds, the
// same database) whose bindings carry small limits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Miniflare } from 'miniflare';
import { env, ROOT, verificationPem } from '../lib/env.mjs';
import { fails, ok, signIn } from '../lib/api.mjs';
import { privyToken } from '../lib/jwt.mjs';
import { createMachine } from '../lib/machines.mjs';
import { setAgentToken } from '../lib/billing.mjs';

const LIMIT = { exchange: 3, perUser: 6, create: 2 };
let mf;
let base;

before(async () => {
  const bindings = { ...env, PRIVY_VERIFICATION_KEY: verificationPem };
  // RATE_LIMIT_BINDINGS: what the Worker must have (as the stack and wrangler.toml say);
  // `required` names one it lacks.
  const worker = (name, ratelimits, required = Object.keys(ratelimits).join(',') || 'none') => ({
    name,
    modules: true,
    scriptPath: `functions/${name}/build/entry.js`,
    modulesRoot: `functions/${name}/build`,
    modulesRules: [
      { type: 'ESModule', include: ['**/*.js'] },
      { type: 'CompiledWasm', include: ['**/*.wasm'] },
    ],
    routes: [`*/functions/v1/${name}*`],
    compatibilityDate: '2026-07-01',
    bindings: { ...bindings, RATE_LIMIT_BINDINGS: required },
    // Counters belong to a namespace (as on Cloudflare): every Worker's RATE_LIMITER shares one.
    ratelimits: Object.fromEntries(Object.entries(ratelimits).map(([k, [namespace_id, limit]]) =>
      [k, { namespace_id, simple: { limit, period: 60 } }])),
  });
  process.chdir(ROOT); // workerd wants module paths below its starting directory
  mf = new Miniflare({
    host: '127.0.0.1',
    port: 0,
    workers: [
      worker('me', { RATE_LIMITER: ['user', LIMIT.perUser] }),
      worker('exchange', { RATE_LIMITER: ['exchange', LIMIT.exchange] }),
      worker('create-machine', { RATE_LIMITER: ['user', LIMIT.perUser], CREATE_RATE_LIMITER: ['create', LIMIT.create] }),
      worker('record-metrics', { RATE_LIMITER: ['agents', LIMIT.perUser] }),
      // Deployed without the binding its configuration requires.
      worker('get-pricing', {}, 'RATE_LIMITER'),
    ],
  });
  base = (await mf.ready).toString().replace(/\/$/, '');
});

after(async () => {
  await mf?.dispose();
});

async function call(name, { method = 'POST', body, token, headers = {} } = {}) {
  const h = { ...headers };
  if (body !== undefined) h['content-type'] = 'application/json';
  if (token) h.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}/functions/v1/${name}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, json, text };
}

// Miniflare counts in fixed windows of the wall clock's minutes (floor(now / 60 s)): a test
// whose requests straddle a minute would see the count start over. Each test starts with
// at least 20 s of its minute left.
async function freshWindow() {
  const left = 60000 - (Date.now() % 60000);
  if (left < 20000) await new Promise((r) => setTimeout(r, left + 100));
}

function limited(res) {
  fails(res, 429, 'rate_limited');
  assert.equal(res.headers.get('retry-after'), '60');
}

test('exchange: a client address gets RATE_LIMIT_EXCHANGE_PER_MIN sign-ins a minute, then 429 with Retry-After', async () => {
  await freshWindow();
  const ip = `203.0.113.${Math.floor(Math.random() * 200) + 1}`;
  for (let i = 0; i < LIMIT.exchange; i++) {
    ok(await call('exchange', { body: { token: privyToken() }, headers: { 'cf-connecting-ip': ip } }));
  }
  limited(await call('exchange', { body: { token: privyToken() }, headers: { 'cf-connecting-ip': ip } }));
  // Refused before any work: not even a malformed body is looked at.
  limited(await call('exchange', { body: {}, headers: { 'cf-connecting-ip': ip } }));
});

test('per user: RATE_LIMIT_PER_MIN requests a minute, counted per user, then 429', async () => {
  const [a, b] = [await signIn(), await signIn()];
  await freshWindow();
  for (let i = 0; i < LIMIT.perUser; i++) ok(await call('me', { method: 'GET', token: a.accessToken }));
  limited(await call('me', { method: 'GET', token: a.accessToken }));
  ok(await call('me', { method: 'GET', token: b.accessToken }));
});

test('create: RATE_LIMIT_CREATE_PER_MIN machine creations a minute per user, then 429 (nothing created)', async () => {
  const user = await signIn();
  await freshWindow();
  for (let i = 0; i < LIMIT.create; i++) {
    ok(await call('create-machine', { body: { name: `rl-${i}` }, token: user.accessToken }), 201);
  }
  limited(await call('create-machine', { body: { name: 'rl-over' }, token: user.accessToken }));
  const me = ok(await call('me', { method: 'GET', token: user.accessToken }));
  assert.equal(me.machineCount, LIMIT.create);
});

// Issue 15, defect 6: each made-up bearer token had a bucket of its own at record-metrics.
test('record-metrics: unverified tokens count on the client address, verified ones on the token', async () => {
  const owner = await signIn();
  const [m1, m2] = [await createMachine(owner), await createMachine(owner)];
  const [t1, t2] = [await setAgentToken(m1.id), await setAgentToken(m2.id)];
  const sample = { cpuUsage: 1, memoryUsage: 2, diskUsage: 3, networkIn: 0, networkOut: 0 };
  const post = (token, ip) => call('record-metrics', { body: sample, token, headers: { 'cf-connecting-ip': ip } });
  await freshWindow();
  const ip = `198.51.100.${Math.floor(Math.random() * 200) + 1}`;
  // Made-up tokens from one address share its bucket: 401 each, then 429 (no more lookups).
  for (let i = 0; i < LIMIT.perUser - 2; i++) fails(await post(`made-up-${i}-${Math.random()}`, ip), 401, 'invalid_token');
  // Two real machines behind the same address: their first reports count on it too…
  assert.equal((await post(t1, ip)).status, 202);
  assert.equal((await post(t2, ip)).status, 202);
  limited(await post(`made-up-last-${Math.random()}`, ip));
  // …then each counts on its own token, whatever the address's bucket says.
  for (let i = 0; i < LIMIT.perUser; i++) assert.equal((await post(t1, ip)).status, 202, `t1 #${i}`);
  limited(await post(t1, ip));
  assert.equal((await post(t2, ip)).status, 202, 'another machine behind the same address is not throttled by the first');
});

test('a Worker deployed without the rate-limiting binding it requires answers 503, never serves unlimited', async () => {
  for (let i = 0; i < 3; i++) {
    const res = await call('get-pricing', { method: 'GET' });
    fails(res, 503, 'unavailable');
  }
});
