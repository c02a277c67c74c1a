// HTTP fuzz of every function (issue 7, "Suites that must exist and pass": Fuzz). Hostile
// input must never cost anyone service: thousands of generated requests per function
// (mutated bodies, wrong types, deep nesting, broken bytes, odd methods and content types,
// huge headers, malformed tokens, chunked bodies) answer without a single 5xx and always in
// the envelope of API.md §1. One deep `configuration` once jammed the scheduler for every
// tenant, so afterwards a fresh machine must still be delivered and reach `running`.
//
// Seeded: the seed is printed; FUZZ_SEED=<seed> replays the run, FUZZ_ONLY=<function>[:<index>]
// one function or one request. FUZZ_PER_FUNCTION (default 2000), FUZZ_CONCURRENCY (16).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { env, ROOT } from '../lib/env.mjs';
import { sessionToken } from '../lib/jwt.mjs';
import { fn, ok, fails, show, signIn, sleep } from '../lib/api.mjs';
import { createRaw, createMachine, act, listMachines, sshPublicKey } from '../lib/machines.mjs';
import { tick, waitFor, waitForStatus } from '../lib/runner.mjs';
import { newSeed, specs, generate, sendRequest, problems, describe, closeConnections, ODD_METHODS } from '../lib/fuzz.mjs';

const SEED = process.env.FUZZ_SEED || newSeed();
const PER_FUNCTION = Number(process.env.FUZZ_PER_FUNCTION || 2000);
const CONCURRENCY = Number(process.env.FUZZ_CONCURRENCY || 16);
const [ONLY_FN, ONLY_INDEX] = (process.env.FUZZ_ONLY ?? '').split(':');
const POOL_SIGNIN = 6; // exchanges are limited to 10 a minute per client IP
const POOL_SUPABASE = 24; // Supabase Auth users (no exchange), if the functions take them

/** Every function crate under functions/ (the list the fuzz must cover). */
const FUNCTIONS = readdirSync(join(ROOT, 'functions'))
  .filter((n) => existsSync(join(ROOT, 'functions', n, 'Cargo.toml')))
  .sort();

const log = (...a) => console.log('[fuzz]', ...a);
const logSize = () => (env.FUNCTIONS_LOG && existsSync(env.FUNCTIONS_LOG) ? statSync(env.FUNCTIONS_LOG).size : 0);
/** The functions log from byte `from` on, as parsed JSON lines. */
function functionsLogSince(from) {
  if (!env.FUNCTIONS_LOG || !existsSync(env.FUNCTIONS_LOG)) return [];
  const text = readFileSync(env.FUNCTIONS_LOG).subarray(from).toString('utf8');
  return text.split('\n').flatMap((l) => {
    try { return [JSON.parse(l.slice(l.indexOf('{')))]; } catch { return []; }
  });
}

const bare = (method, headers = {}) => ({ method, path: 'health', query: '', headers, body: null, chunked: null });

/** The largest request header (one value, bytes) the server still answers; probed on health. */
async function probeHeaderLimit() {
  const answers = async (n) => {
    const res = await sendRequest(env.FUNCTIONS_URL, bare('GET', { 'x-fuzz-pad': 'p'.repeat(n) }), { timeoutMs: 10000 });
    return !res.error && Boolean(res.headers.get('x-request-id'));
  };
  let lo = 1024, hi = 1024 * 1024;
  if (await answers(hi)) return hi;
  while (hi - lo > 512) {
    const mid = Math.floor((lo + hi) / 2);
    if (await answers(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * The methods that reach a Worker. workerd answers a method it does not know with a plain
 * 501 before any Worker runs (as Cloudflare's edge refuses them): no Worker code can put
 * that answer in the envelope, so the fuzz leaves those methods out and names them.
 */
async function probeMethods() {
  const reach = [], refused = [];
  for (const method of ODD_METHODS) {
    const res = await sendRequest(env.FUNCTIONS_URL, bare(method), { timeoutMs: 10000 });
    if (!res.error && res.headers.get('x-request-id')) reach.push(method);
    else refused.push(`${method} (${res.error ?? `${res.status} ${JSON.stringify(res.text.slice(0, 40))}`})`);
  }
  return { reach, refused };
}

let ctx;
let checker;
const setupNotes = [];

before(async () => {
  log(`seed ${SEED}   (replay: FUZZ_SEED=${SEED}${ONLY_FN ? ` FUZZ_ONLY=${process.env.FUZZ_ONLY}` : ''})`);
  const t0 = Date.now();
  // Signed in before the fuzz: the fuzz spends the exchange limit of this client IP.
  checker = await signIn();
  const refreshUser = await signIn();
  const users = await Promise.all(Array.from({ length: POOL_SIGNIN }, () => signIn()));

  // Supabase Auth tokens (API.md §1: the first call creates the account) widen the pool
  // without exchanges, so the per-user limit (600/min) is not what most requests meet.
  const supabaseUser = () => {
    const email = `fuzz-${randomUUID().slice(0, 8)}@example.com`;
    return sessionToken({ sub: randomUUID(), email, app_metadata: { provider: 'email', providers: ['email'] }, user_metadata: {}, iss: `${env.SUPABASE_URL ?? ''}/auth/v1` });
  };
  const probeToken = supabaseUser();
  const probe = await fn('me', { token: probeToken });
  if (probe.status === 200 && probe.json?.success) {
    const more = await Promise.all(Array.from({ length: POOL_SUPABASE }, async () => {
      const accessToken = supabaseUser();
      const res = await fn('me', { token: accessToken });
      return res.status === 200 ? { accessToken, user: res.json.data } : null;
    }));
    users.push({ accessToken: probeToken, user: probe.json.data }, ...more.filter(Boolean));
  } else {
    setupNotes.push(`Supabase Auth tokens are not taken yet (me answered ${show(probe).slice(0, 160)}); pool = ${users.length} exchanged users`);
  }

  // A machine per pool user (running, so that actions on it reach the state machine).
  const sshKey = sshPublicKey('fuzz@hangar');
  const jobIds = [];
  await Promise.all(users.map(async (u) => {
    const res = await createRaw(u, { name: `fuzz-${randomUUID().slice(0, 6)}` });
    if (res.status === 201) {
      u.machineId = res.json.data.id;
      if (res.json.data.pendingJob?.id) jobIds.push(res.json.data.pendingJob.id);
    } else {
      u.machineId = randomUUID();
      setupNotes.push(`create-machine for a pool user: ${show(res).slice(0, 200)}`);
    }
  }));
  await Promise.all(users.filter((u) => jobIds.length && u.machineId).map((u) =>
    waitForStatus(u, u.machineId, 'running', { timeoutMs: 15000 }).catch((e) => setupNotes.push(`pool machine: ${e.message.slice(0, 200)}`))));
  // One machine deleted at once (actions on a terminated machine).
  let terminatedMachineId;
  const gone = await createRaw(users[0], { name: 'fuzz-gone' });
  if (gone.status === 201) {
    terminatedMachineId = gone.json.data.id;
    await act(users[0], 'delete', terminatedMachineId);
  }
  const page = await listMachines(users[0], { limit: '1', includeTerminated: 'true' });
  ctx = {
    users,
    jobIds: jobIds.length ? jobIds : [randomUUID()],
    terminatedMachineId,
    refreshToken: refreshUser.refreshToken,
    cursor: page.json?.data?.nextCursor ?? undefined,
    sshKey,
    headerLimit: await probeHeaderLimit(),
  };
  const methods = await probeMethods();
  ctx.methods = methods.reach;
  if (methods.refused.length) setupNotes.push(`methods refused by the server before any Worker runs (left out): ${methods.refused.join(', ')}`);
  ctx.specs = specs(ctx);
  log(`setup in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${users.length} users, ${jobIds.length} jobs, header limit ≈ ${ctx.headerLimit} B`);
  for (const n of setupNotes) log(`note: ${n}`);
});

test('every function under functions/ is served by the stack', () => {
  const served = (env.HANGAR_FUNCTIONS ?? '').split(',').filter(Boolean);
  assert.deepEqual(FUNCTIONS.filter((f) => !served.includes(f)), [], `served: ${served.join(', ')}`);
  assert.ok(FUNCTIONS.length >= 21, `functions: ${FUNCTIONS.join(', ')}`);
});

// Before the fuzz, while the rate limits of the pool are untouched.
test('a chunked body is refused as soon as it passes 64 KiB, not after it is read whole', async () => {
  const user = ctx.users[0];
  const targets = [
    ['log-machine-event', { authorization: `Bearer ${user.accessToken}` }],
    ['create-machine', { authorization: `Bearer ${ctx.users[1].accessToken}` }],
    ['exchange', {}],
    ['runner-callback', { 'hangar-signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}` }],
  ];
  const slow = [];
  let tooLarge = 0;
  for (const [name, headers] of targets) {
    // 72 KiB of a JSON string, then the body stays open (no end) until the answer or 8 s.
    let release;
    const held = new Promise((r) => { release = r; });
    let sent = 0;
    const body = new ReadableStream({
      async pull(ctl) {
        if (sent === 0) { ctl.enqueue(new TextEncoder().encode('{"name":"')); sent = 9; return; }
        if (sent >= 72 * 1024) { await held; ctl.close(); return; }
        ctl.enqueue(new Uint8Array(8192).fill(0x61));
        sent += 8192;
      },
    });
    const t0 = Date.now();
    const pending = fetch(`${env.FUNCTIONS_URL}/functions/v1/${name}`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, duplex: 'half',
    }).then(async (r) => ({ status: r.status, headers: r.headers, text: await r.text() }), (e) => ({ error: e.message }));
    const res = await Promise.race([pending, sleep(8000).then(() => null)]);
    const ms = Date.now() - t0;
    release();
    if (res === null) {
      const late = await Promise.race([pending, sleep(15000).then(() => ({ error: 'no answer 15 s after the body ended' }))]);
      slow.push(`${name}: no answer within 8 s while the body stayed open (after it ended: ${late.status ?? late.error})`);
      continue;
    }
    assert.ok(!res.error, `${name}: ${res.error}`);
    let json = null;
    try { json = JSON.parse(res.text); } catch { /* fails() says so */ }
    // Refusing earlier for another reason (a rate limit, a signature) is as good.
    if (res.status === 413) {
      fails({ ...res, json }, 413, 'payload_too_large');
      tooLarge += 1;
    } else {
      assert.ok(res.status >= 400 && res.status < 500, `${name}: ${res.status} ${res.text.slice(0, 200)}`);
      fails({ ...res, json }, res.status, json?.error_code);
    }
    log(`${name}: chunked body over 64 KiB refused with ${res.status} after ${ms} ms, body still open`);
  }
  assert.deepEqual(slow, [], 'issue 7 defect 8: a chunked body must be refused as soon as it passes 64 KiB');
  assert.ok(tooLarge >= 1, 'at least one function should have answered 413 payload_too_large');
});

let fuzzLogStart = 0;

test(`fuzz: ${PER_FUNCTION} generated requests per function, zero 5xx, every answer inside the envelope`, { timeout: 20 * 60_000 }, async () => {
  const fns = ONLY_FN ? [ONLY_FN] : FUNCTIONS;
  // exchange first: its per-IP limit window is over by the time the next file signs in.
  const queue = [];
  const indices = ONLY_INDEX !== undefined && ONLY_INDEX !== '' ? [Number(ONLY_INDEX)] : [...Array(PER_FUNCTION).keys()];
  if (fns.includes('exchange')) for (const i of indices) queue.push(['exchange', i]);
  const rest = fns.filter((f) => f !== 'exchange');
  for (const i of indices) for (const f of rest) queue.push([f, i]);

  const perFn = Object.fromEntries(fns.map((f) => [f, { n: 0, ms: 0, max: 0, statuses: {}, paths: {} }]));
  const statuses = {};
  const kinds = {};
  const byProblem = new Map();
  let failing = 0;
  let clientRefused = 0;
  const serverErrors = [];
  let next = 0;
  let done = 0;
  fuzzLogStart = logSize();
  const t0 = performance.now();
  let lastReport = t0;

  // The stack may run the functions in several workerd processes (FUNCTIONS_URLS): the
  // senders spread over them, so that the fuzz is not bound to one core.
  const bases = (env.FUNCTIONS_URLS || env.FUNCTIONS_URL).split(',');
  async function worker(k) {
    const base = bases[k % bases.length];
    for (;;) {
      const job = queue[next++];
      if (!job) return;
      const [f, i] = job;
      const req = generate(SEED, f, i, ctx);
      const res = await sendRequest(base, req);
      if (res.clientError) {
        // Node would not send it (an invalid header byte): the generator's fault, not the server's.
        clientRefused += 1;
        queue.push([f, i + PER_FUNCTION * 1000 + clientRefused]);
        continue;
      }
      const s = perFn[f];
      s.n += 1;
      s.ms += res.ms;
      s.max = Math.max(s.max, res.ms);
      const key = res.error ? 'error' : String(res.status);
      s.statuses[key] = (s.statuses[key] ?? 0) + 1;
      const p = req.path.split('/').length > 1 ? `${req.path.split('/')[0]}/{…}` : req.path;
      s.paths[p] = (s.paths[p] ?? 0) + 1;
      statuses[key] = (statuses[key] ?? 0) + 1;
      kinds[req.kind] = (kinds[req.kind] ?? 0) + 1;
      done += 1;
      const wrong = problems(req, res);
      if (wrong.length) {
        // A 5xx is keyed by its cause, from the functions log, once the fuzz is over.
        if (res.status >= 500 && wrong.length === 1 && serverErrors.length < 5000) {
          failing += 1;
          serverErrors.push({ req, res, wrong });
          continue;
        }
        for (const w of wrong) {
          const k = w.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<uuid>').replace(/\d+/g, 'N').slice(0, 110);
          const e = byProblem.get(k) ?? { n: 0, fns: new Set(), kinds: new Set(), example: { req, status: res.status, error: res.error, body: res.text?.slice(0, 300), wrong } };
          e.n += 1;
          e.fns.add(f);
          e.kinds.add(req.kind);
          byProblem.set(k, e);
        }
        failing += 1;
      }
      const t = performance.now();
      if (t - lastReport > 15000) {
        lastReport = t;
        log(`${done}/${queue.length} requests, ${((t - t0) / 1000).toFixed(0)} s, ${failing} failing so far`);
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, k) => worker(k)));
  closeConnections();
  const elapsed = (performance.now() - t0) / 1000;

  // What the functions logged about each 5xx (the client sees no internals; the log does).
  const logged = new Map();
  if (serverErrors.length) {
    await sleep(500);
    for (const l of functionsLogSince(fuzzLogStart)) if (l.request_id && l.status >= 500) logged.set(l.request_id, l);
  }
  for (const { req, res, wrong } of serverErrors) {
    const line = logged.get(res.headers.get('x-request-id'));
    const cause = line ? `${line.error_code ?? ''} ${line.error ?? ''}`.trim() : 'not in the functions log';
    const k = `${wrong[0]} (log: ${cause.replace(/\b\d{4,}\b/g, 'N').replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<uuid>').slice(0, 160)})`;
    const e = byProblem.get(k) ?? { n: 0, fns: new Set(), kinds: new Set(), example: { req, status: res.status, body: res.text?.slice(0, 300), wrong: [...wrong, `log: ${cause.slice(0, 300)}`] } };
    e.n += 1;
    e.fns.add(req.fn);
    e.kinds.add(req.kind);
    byProblem.set(k, e);
  }

  // The report.
  log(`${done} requests in ${elapsed.toFixed(1)} s (${(done / elapsed).toFixed(0)}/s, concurrency ${CONCURRENCY}), seed ${SEED}`);
  log('function               requests   avg ms   max ms  statuses');
  for (const [f, s] of Object.entries(perFn)) {
    const st = Object.entries(s.statuses).sort().map(([k, v]) => `${k}:${v}`).join(' ');
    const paths = Object.keys(s.paths).length > 1 ? `  paths ${Object.entries(s.paths).map(([k, v]) => `${k}:${v}`).join(' ')}` : '';
    log(`${f.padEnd(22)} ${String(s.n).padStart(8)} ${(s.ms / Math.max(s.n, 1)).toFixed(1).padStart(8)} ${s.max.toFixed(0).padStart(8)}  ${st}${paths}`);
  }
  log(`status histogram: ${Object.entries(statuses).sort().map(([k, v]) => `${k}:${v}`).join(' ')}`);
  log(`kinds: ${Object.entries(kinds).sort().map(([k, v]) => `${k}:${v}`).join(' ')}`);
  log(`total ${done} requests, ${failing} failing, ${failing ? `${[...byProblem.values()].reduce((a, b) => a + b.n, 0)} problems` : 'no problems'}`);
  if (clientRefused) log(`note: ${clientRefused} generated requests were not sendable (invalid header bytes) and were replaced`);
  if ((statuses['429'] ?? 0) > 0) log(`note: ${statuses['429']} answers were 429 rate_limited (a valid envelope; those requests went no further)`);

  if (!ONLY_FN) for (const f of fns) assert.ok(perFn[f].n >= PER_FUNCTION, `${f}: ${perFn[f].n} requests`);
  if (failing) {
    const top = [...byProblem.entries()].sort((a, b) => b[1].n - a[1].n);
    const kindsOfProblem = top.slice(0, 40)
      .map(([k, e]) => `  ${String(e.n).padStart(6)}  ${k}\n          in ${e.fns.size === fns.length ? 'every function' : [...e.fns].join(', ')}; generators: ${[...e.kinds].join(', ')}`).join('\n');
    // One example per kind of problem, the most frequent first.
    const seen = new Set();
    const examples = top.map(([, e]) => e.example).filter((x) => !seen.has(x) && seen.add(x)).slice(0, 10);
    const first = examples.map((x) => `${describe(x.req, SEED)}\n    → ${x.error ?? `${x.status} ${JSON.stringify(x.body)}`}\n    ✗ ${x.wrong.join('\n    ✗ ')}`).join('\n\n');
    assert.fail(`${failing} of ${done} requests answered outside the contract (seed ${SEED}).\nProblems by kind:\n${kindsOfProblem}\n\nAn offending request per kind:\n${first}`);
  }
});

test('after the fuzz the scheduler still works: a tick succeeds and a new machine reaches running', async () => {
  // The scheduled handler logs its outcome instead of throwing: its log line tells.
  const from = logSize();
  const outcome = await tick();
  log(`scheduler tick (control endpoint): ${JSON.stringify(outcome)}`);
  if (outcome && typeof outcome === 'object' && 'outcome' in outcome) assert.equal(outcome.outcome, 'ok', JSON.stringify(outcome));
  if (env.FUNCTIONS_LOG && existsSync(env.FUNCTIONS_LOG)) {
    const lines = await waitFor(
      () => functionsLogSince(from).filter((l) => l.function === 'scheduler' && String(l.request_id ?? '').startsWith('cron-')),
      (ls) => ls.length > 0,
      { timeoutMs: 10000, what: 'the scheduler tick to log its outcome' },
    );
    const errors = lines.filter((l) => l.level === 'error');
    assert.deepEqual(errors, [], `the scheduler tick failed: ${JSON.stringify(errors).slice(0, 800)}`);
    log(`tick report: ${JSON.stringify(lines.at(-1).report ?? lines.at(-1)).slice(0, 300)}`);
  }
  // The same tick by hand, as an operator would (POST with the service-role key).
  const manual = await fn('scheduler', { method: 'POST', token: env.SUPABASE_SERVICE_ROLE_KEY });
  log(`POST scheduler: ${show(manual).slice(0, 300)}`);
  ok(manual);

  // Scheduler errors the functions logged while the fuzz ran (for the report).
  const during = functionsLogSince(fuzzLogStart).filter((l) => l.function === 'scheduler' && l.level === 'error');
  if (during.length) log(`${during.length} scheduler error lines while the fuzz ran, e.g. ${JSON.stringify(during[0]).slice(0, 300)}`);

  const t0 = Date.now();
  const m = await createMachine(checker, { name: 'after-fuzz' });
  await waitForStatus(checker, m.id, 'running', { timeoutMs: 20000 });
  log(`a fresh machine reached running ${Date.now() - t0} ms after create-machine`);
});
