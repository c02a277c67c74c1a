// Helpers for the race and fault suites: timed calls with a hard timeout, Postgres stopped
// and started without blocking (pg.sh in a child process), the counting proxy's PostgREST
// fault control, the runner's accepted jobs, waiting for quiescence, small statistics.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ROOT, env } from './env.mjs';
import { sleep } from './api.mjs';
import { rows, sql } from './machines.mjs';
import { control, tick, runnerLog, percentile } from './runner.mjs';

const run = promisify(execFile);

// ---- timed calls ------------------------------------------------------------------------------

/**
 * Calls a function like fn(), but with a hard timeout (the request is aborted) and the
 * time it took: { status, headers, json, text, ms, timedOut, error }. status 0 = no answer.
 */
export async function timedFn(name, { method, body, token, headers = {}, query, timeoutMs = 20000 } = {}) {
  const url = new URL(`${env.FUNCTIONS_URL}/functions/v1/${name}`);
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
  const h = { ...headers };
  let payload;
  if (body !== undefined) {
    payload = JSON.stringify(body);
    h['content-type'] ??= 'application/json';
  }
  if (token) h.authorization = `Bearer ${token}`;
  const t0 = performance.now();
  try {
    const res = await fetch(url, { method: method ?? (payload === undefined ? 'GET' : 'POST'), headers: h, body: payload, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, headers: res.headers, json, text, ms: performance.now() - t0, timedOut: false };
  } catch (e) {
    const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
    return { status: 0, headers: new Headers(), json: null, text: '', ms: performance.now() - t0, timedOut, error: String(e.cause ?? e) };
  }
}

/** True when `res` is the API's envelope (success or error) of API.md §1. */
export function isEnvelope(res) {
  const j = res.json;
  if (!j || typeof j !== 'object') return false;
  if (j.success === true) return 'data' in j;
  return j.success === false && typeof j.error_code === 'string' && typeof j.message === 'string' && !!j.request_id;
}

/** Things no response may carry: PostgREST/Postgres internals, the database URL, secrets. */
export function internalsIn(text) {
  const found = [];
  for (const [label, re] of [
    ['PGRST code', /PGRST\d*/],
    ['SQLSTATE', /SQLSTATE|\b42P01\b|\b08006\b|\b57P0\d\b/],
    ['postgres URL', /postgres(ql)?:\/\//i],
    ['connection error', /ECONNREFUSED|ECONNRESET|connection refused|connection reset/i],
    ['SQL error text', /relation "|does not exist|syntax error at|ERROR: /],
    ['HTML', /<html|<!DOCTYPE/i],
    ['SQL function name', /hangar_[a-z_]+/],
  ]) if (re.test(text)) found.push(label);
  for (const [label, v] of [['DATABASE_URL', env.DATABASE_URL], ['JWT secret', env.SUPABASE_JWT_SECRET], ['service key', env.SUPABASE_SERVICE_ROLE_KEY], ['runner secret', env.RUNNER_SECRET]]) {
    if (v && text.includes(v)) found.push(label);
  }
  return found;
}

// ---- Postgres ----------------------------------------------------------------------------------

/** Stops the stack's Postgres (pg_ctl -m fast, in a child process: the event loop keeps going). */
export const pgStop = () => run('bash', ['tests/stack/pg.sh', 'stop'], { cwd: ROOT, env: { ...process.env } });
/** Starts it again (same port and socket). */
export const pgStart = () => run('bash', ['tests/stack/pg.sh', 'start'], { cwd: ROOT, env: { ...process.env } });

// ---- the counting proxy's fault control (tests/stack/stack.mjs) ----------------------------------

/**
 * Makes the proxy between the functions and PostgREST answer garbage instead of forwarding:
 * mode html-500 | json-500 | text-200 | truncated-200 | shape-200 | reset; `match` limits it to
 * paths containing that text; `count` to the next n requests. Returns the control's answer.
 */
export function postgrestFault(mode, { match, count, marker } = {}) {
  const q = new URLSearchParams({ mode });
  if (match) q.set('match', match);
  if (count !== undefined) q.set('count', String(count));
  if (marker) q.set('marker', marker);
  return control(`/postgrest/fault?${q}`);
}
/** Ends the fault; returns { fault: null, served } (served: garbage answers given). */
export const clearPostgrestFault = () => control('/postgrest/fault?mode=off');

// ---- jobs ----------------------------------------------------------------------------------------

export const ACTIVE = ['queued', 'dispatched', 'running'];
export const LIFECYCLE = ['create', 'start', 'stop', 'restart', 'terminate'];
export const TRANSITIONAL = { provisioning: 'create', starting: 'start', stopping: 'stop', restarting: 'restart', terminating: 'terminate' };

/** Job ids the runner logged as accepted (job_accepted), from RUNNER_LOG. */
export function runnerAccepted() {
  const ids = new Set();
  for (const l of runnerLog()) if (l.event === 'job_accepted') ids.add(l.jobId);
  return ids;
}

/** Jobs of these machines, oldest first. */
export function jobsOfMachines(machineIds) {
  if (!machineIds.length) return Promise.resolve([]);
  return rows`select id, machine_id, owner_id, action, status, attempts, error, fence::int as fence, created_at, updated_at from jobs
              where machine_id in ${sql(machineIds)} order by created_at, id`;
}

/**
 * Ticks the scheduler every `intervalMs` until no job of these machines is queued, dispatched
 * or running; bounded. ticking: false only waits (a tick may also meter usage). Returns { ticks, ms, active } (active: what was still open at the end).
 */
export async function quiesce(machineIds, { timeoutMs = 120000, intervalMs = 500, ticking = true } = {}) {
  const t0 = Date.now();
  let ticks = 0;
  for (;;) {
    const active = (await jobsOfMachines(machineIds)).filter((j) => ACTIVE.includes(j.status));
    if (!active.length || Date.now() - t0 > timeoutMs) return { ticks, ms: Date.now() - t0, active };
    if (ticking) {
      await tick().catch(() => {});
      ticks += 1;
    }
    await sleep(intervalMs);
  }
}

// ---- figures ---------------------------------------------------------------------------------------

/** { n, p50, p95, max } of a list of milliseconds, rounded. */
export function stats(ms) {
  if (!ms.length) return { n: 0, p50: null, p95: null, max: null };
  const r = (v) => Math.round(v);
  return { n: ms.length, p50: r(percentile(ms, 50)), p95: r(percentile(ms, 95)), max: r(Math.max(...ms)) };
}

/** "a×3 b×1" from a list of values, or from an object of counts. */
export function histogram(values) {
  const h = Array.isArray(values) ? values.reduce((m, v) => ({ ...m, [v]: (m[v] ?? 0) + 1 }), {}) : values;
  return Object.entries(h).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}×${v}`).join(' ') || '(none)';
}

/** A seeded PRNG (mulberry32): the same seed, the same sequence of operations. */
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (n) => Math.floor(next() * n);
  next.pick = (xs) => xs[next.int(xs.length)];
  next.weighted = (entries) => {
    const total = entries.reduce((s, [, w]) => s + w, 0);
    let x = next() * total;
    for (const [v, w] of entries) if ((x -= w) < 0) return v;
    return entries[entries.length - 1][0];
  };
  return next;
}



/** Polls the stack runner's /health until it has nothing running or queued; bounded. */
export async function runnerIdle({ timeoutMs = 30000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let h = null;
    try {
      h = await (await fetch(`http://127.0.0.1:${env.RUNNER_PORT}/health`)).json();
    } catch { /* down: nothing runs there */ return null; }
    if ((h.running ?? 0) === 0 && (h.queued ?? 0) === 0) return h;
    if (Date.now() > deadline) throw new Error(`runner still busy after ${timeoutMs} ms: ${JSON.stringify(h)}`);
    await sleep(100);
  }
}
