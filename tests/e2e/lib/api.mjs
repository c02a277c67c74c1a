// HTTP helpers for the functions and PostgREST, plus shared assertions.
// Also the suite's recorder (for final/secrets.test.mjs): every response any test receives
// through fetch, and every agent token the stack's runner journals, go to files in the
// stack's run folder.
import assert from 'node:assert/strict';
import { existsSync, openSync, readdirSync, readFileSync, watch, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { env, signupCredits, ENV_FILE } from './env.mjs';
import { privyToken, newPrivyDid, identityToken } from './jwt.mjs';

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// ---- the recorder -----------------------------------------------------------------------
// Where: $HANGAR_RECORD_DIR, else the folder of stack.env when the stack runs in test mode
// (a fresh folder per run, removed with the stack). A dev stack records nothing unless
// HANGAR_RECORD_DIR is set (its folder outlives runs).
//   responses.jsonl     one line per response: { source, method, url, status, headers, body }
//   agent-tokens.jsonl  one line per create job the runner journaled: { jobId, agentToken }
// The runner deletes a job from its journal (RUNNER_WORKDIR/jobs/<id>.json, the only place
// an agent token is kept in clear) once its final callback is delivered, so the tokens are
// taken while the jobs are there: a watch on that folder in every test process.
export const RECORD_DIR = process.env.HANGAR_RECORD_DIR
  ? resolve(process.env.HANGAR_RECORD_DIR)
  : env.HANGAR_STACK_MODE === 'test' ? dirname(ENV_FILE) : null;
export const RESPONSES_FILE = RECORD_DIR && join(RECORD_DIR, 'responses.jsonl');
export const AGENT_TOKENS_FILE = RECORD_DIR && join(RECORD_DIR, 'agent-tokens.jsonl');
const SOURCE = basename(process.argv[1] ?? 'unknown');

let responsesFd = null;
const appendLine = (fdOf, obj) => {
  try {
    writeSync(fdOf(), `${JSON.stringify(obj)}\n`);
  } catch { /* the run folder is gone (stack stopped): nothing to record into */ }
};
const responsesOut = () => (responsesFd ??= openSync(RESPONSES_FILE, 'a'));

/** Records one response (for requests not made through fetch, e.g. node:http). */
export function recordResponse({ method, url, status, headers, body }) {
  if (!RESPONSES_FILE) return;
  const h = headers instanceof Headers ? Object.fromEntries(headers) : headers ?? {};
  appendLine(responsesOut, { source: SOURCE, method, url: String(url), status, headers: h, body: body ?? '' });
}

const pendingRecords = new Set();
/** Resolves when every response received so far is on disk. */
export const recordsFlushed = () => Promise.allSettled([...pendingRecords]);

// Every fetch of a test process goes through here (fn, rest, service, the runner helpers,
// the control endpoint, and any test calling fetch itself): the caller gets the response
// untouched; a clone's body is recorded.
const realFetch = globalThis.fetch;
if (RESPONSES_FILE && !realFetch.hangarRecorder) {
  const recording = async function fetch(input, init) {
    const res = await realFetch(input, init);
    try {
      const method = String(init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
      const url = input instanceof Request ? input.url : String(input);
      const { status, headers } = res;
      const p = res.clone().text()
        .then((body) => recordResponse({ method, url, status, headers, body }),
          (e) => recordResponse({ method, url, status, headers, body: `<unreadable: ${e.message}>` }))
        .finally(() => pendingRecords.delete(p));
      pendingRecords.add(p);
    } catch { /* never break a test over the recorder */ }
    return res;
  };
  recording.hangarRecorder = true;
  globalThis.fetch = recording;
}

function watchRunnerJournal() {
  const dir = env.RUNNER_WORKDIR && join(env.RUNNER_WORKDIR, 'jobs');
  if (!AGENT_TOKENS_FILE || !dir || !existsSync(dir)) return;
  let fd = null;
  const seen = new Set();
  const take = (name) => {
    if (!name || !/^[^.]+\.json$/.test(name) || seen.has(name)) return;
    let job;
    try { job = JSON.parse(readFileSync(join(dir, name), 'utf8')); } catch { return; } // gone or half-written
    seen.add(name);
    if (typeof job?.agentToken === 'string' && job.agentToken) {
      appendLine(() => (fd ??= openSync(AGENT_TOKENS_FILE, 'a')), { source: SOURCE, jobId: job.jobId ?? name.slice(0, -5), agentToken: job.agentToken });
    }
  };
  const sweep = () => {
    try { for (const n of readdirSync(dir)) take(n); } catch { /* folder gone */ }
  };
  try {
    watch(dir, (_event, name) => take(name)).on('error', () => {}).unref();
  } catch { /* no inotify: the sweeps below still see what stays */ }
  sweep();
  process.on('exit', sweep);
}
watchRunnerJournal();

async function send(url, method, headers, body) {
  const res = await fetch(url, { method, headers, body });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, json, text };
}

const lower = (h = {}) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));

/**
 * Call a function: fn('me', { method, body, token, headers, query, rawBody }) → { status, headers, json, text }.
 * `body` is sent as JSON; `rawBody` as is. The method defaults to POST when there is a body, else GET.
 */
export function fn(name, { method, body, rawBody, token, headers, query } = {}) {
  const url = new URL(`${env.FUNCTIONS_URL}/functions/v1/${name}`);
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
  const h = lower(headers);
  let payload = rawBody;
  if (body !== undefined) {
    payload = JSON.stringify(body);
    h['content-type'] ??= 'application/json';
  }
  if (token) h.authorization = `Bearer ${token}`;
  return send(url, method ?? (payload === undefined ? 'GET' : 'POST'), h, payload);
}

/**
 * Call PostgREST: rest('/accounts?id=eq.x', { method, token, body, headers }).
 * `token` defaults to the anon key; `key` is the apikey header (anon key by default).
 */
export function rest(path, { method = 'GET', token = env.SUPABASE_ANON_KEY, key = env.SUPABASE_ANON_KEY, body, headers } = {}) {
  const h = { apikey: key, ...lower(headers) };
  if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  return send(`${env.POSTGREST_URL}${path}`, method, h, body === undefined ? undefined : JSON.stringify(body));
}

/** PostgREST as service_role (bypasses RLS): the ground truth of the database. */
export const service = (path, opts = {}) =>
  rest(path, { ...opts, token: env.SUPABASE_SERVICE_ROLE_KEY, key: env.SUPABASE_SERVICE_ROLE_KEY });

export async function accountRows(filter) {
  const res = await service(`/accounts?${filter}`);
  assert.equal(res.status, 200, `service-role read of accounts: ${show(res)}`);
  return res.json;
}
export const accountsByDid = (did) => accountRows(`privy_did=eq.${encodeURIComponent(did)}`);
export async function accountById(id) {
  const rows = await accountRows(`id=eq.${id}`);
  assert.equal(rows.length, 1, `account ${id} should exist`);
  return rows[0];
}
export async function assertNoAccount(did) {
  assert.deepEqual(await accountsByDid(did), [], `no account should exist for ${did}`);
}

/** PostgREST refused a request (a 4xx): never a 5xx, which would be a database error leaking. */
export const refused = (res) => res.status >= 400 && res.status < 500;
export const show = (res) => `${res.status} ${res.text.slice(0, 400)}`;

/** A success envelope: checks status, success:true, x-request-id; returns data. */
export function ok(res, status = 200) {
  assert.equal(res.status, status, show(res));
  assert.equal(res.json?.success, true, show(res));
  assert.ok(res.headers.get('x-request-id'), 'x-request-id header');
  return res.json.data;
}

/** An error envelope with the given status and error_code (and details.field when given). */
export function fails(res, status, code, field) {
  assert.equal(res.status, status, show(res));
  const j = res.json;
  assert.ok(j, `error body should be JSON: ${show(res)}`);
  assert.equal(j.success, false, show(res));
  assert.equal(j.error_code, code, show(res));
  assert.equal(typeof j.message, 'string', 'message');
  assert.ok(j.request_id, 'request_id');
  assert.ok(!Number.isNaN(Date.parse(j.timestamp)), `timestamp should be a date: ${j.timestamp}`);
  assert.equal(res.headers.get('x-request-id'), j.request_id, 'x-request-id header = request_id');
  if (field !== undefined) assert.equal(j.details?.field, field, `details.field: ${show(res)}`);
  return j;
}

/** The Account shape of API.md §2. */
export function assertAccount(a) {
  assert.match(a.id, UUID_RE, 'id');
  for (const k of ['displayName', 'photoUrl', 'provider', 'identifier']) {
    assert.ok(a[k] === null || typeof a[k] === 'string', `${k} should be string|null, got ${JSON.stringify(a[k])}`);
  }
  assert.match(a.privyDid, /^did:privy:/, 'privyDid');
  for (const k of ['creditBalanceCents', 'machineCount', 'projectCount']) {
    assert.ok(Number.isInteger(a[k]), `${k} should be an integer, got ${JSON.stringify(a[k])}`);
  }
  for (const k of ['createdAt', 'lastLogin']) assert.ok(!Number.isNaN(Date.parse(a[k])), `${k} should be a date`);
}

/**
 * Exchange a fresh Privy token. Options: sub (default: random), linkedAccounts (sends an identity token).
 * Returns { sub, session, user, accessToken, refreshToken }.
 */
export async function signIn({ sub = newPrivyDid(), linkedAccounts, waitRateLimitMs = 90_000 } = {}) {
  const deadline = Date.now() + waitRateLimitMs;
  for (;;) {
    const body = { token: privyToken({ sub }) };
    if (linkedAccounts) body.identityToken = identityToken(sub, linkedAccounts);
    const res = await fn('exchange', { body });
    // Exchanges are limited per client IP (API.md §1) and every test signs in from 127.0.0.1:
    // a 429 waits for its Retry-After (bounded by waitRateLimitMs; 0 = no wait).
    if (res.status === 429 && Date.now() < deadline) {
      const retry = Number(res.headers.get('retry-after'));
      await sleep(Math.min(Math.max(Number.isFinite(retry) ? retry * 1000 : 1000, 200), Math.max(deadline - Date.now(), 0)));
      continue;
    }
    const session = ok(res);
    return { sub, session, user: session.user, accessToken: session.accessToken, refreshToken: session.refreshToken };
  }
}

export { signupCredits };
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Walks a keyset-paged list to its end: `call(query)` answers one page (`{ <key>: [...],
 * nextCursor }`) for `{ limit, cursor? }`; each item goes through `check`. The ids, page by page.
 */
export async function pageIds(call, key, limit, check = () => {}) {
  const pages = [];
  let cursor;
  do {
    const page = ok(await call({ limit: String(limit), ...(cursor ? { cursor } : {}) }));
    assert.deepEqual(Object.keys(page).sort(), ['nextCursor', key].sort());
    pages.push(page[key].map((item) => { check(item); return item.id; }));
    cursor = page.nextCursor;
  } while (cursor);
  return pages;
}
