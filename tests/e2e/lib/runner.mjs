// Helpers for the provisioning tests (API.md §5): the stack's control endpoint (runner
// outage, scheduler tick), webhook/callback signatures, bounded waiting, jobs and machines
// written straight into the database, the runner's JSON log, and a runner of our own.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { env } from './env.mjs';
import { fn, ok, show, sleep } from './api.mjs';
import { sql, value, rows, getStatus, newName } from './machines.mjs';

export const MAX_ATTEMPTS = Number(env.RUNNER_MAX_ATTEMPTS || 5);
export const RETRY_BASE_MS = Number(env.RUNNER_RETRY_BASE_MS || 200);
export const CALLBACK_URL = `${env.FUNCTIONS_URL}/functions/v1/runner-callback`;

// ---- the stack's control endpoint ----------------------------------------------------------

/** POST {STACK_CONTROL_URL}{path}; asserts 200, returns the JSON answer. */
export async function post(url) {
  const res = await fetch(url, { method: 'POST' });
  const text = await res.text();
  assert.equal(res.status, 200, `POST ${url}: ${res.status} ${text.slice(0, 300)}`);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
export const control = (path) => post(`${env.STACK_CONTROL_URL}${path}`);
/**
 * A runner outage (the stack's simulate runner stops; its port is closed). Outages are
 * counted: files that run at the same time may each want one (tests/e2e/machines).
 */
export const stopRunner = () => control('/runner/stop');
/** The end of this outage (same port, same working directory): up once none is left. */
export const startRunner = () => control('/runner/start');
/** Runs the scheduler cron once; its answer (the worker's scheduled() outcome). */
export const tick = () => control('/scheduled/scheduler');

// ---- signatures ------------------------------------------------------------------------------

export const nowSecs = () => Math.floor(Date.now() / 1000);

/** Each direction signs in its own context, so a body signed for one never verifies for the other. */
export const CONTEXT = { webhook: 'hangar-webhook', callback: 'hangar-callback' };

/** `t=<t>,v1=<hex HMAC-SHA256(secret, "<context>.<t>.<raw>")>` (a callback's, unless told). */
export function signature(raw, t = nowSecs(), secret = env.RUNNER_SECRET, context = CONTEXT.callback) {
  const v1 = createHmac('sha256', secret).update(`${context}.${t}.${raw}`).digest('hex');
  return `t=${t},v1=${v1}`;
}

/**
 * Sends a runner callback. `body` is an object (serialised once) or a raw string.
 * Options: t (signature time), header (exact header value; null = no header), secret.
 * Returns the fn() response plus { raw, header } to replay it.
 */
export async function callback(body, { t, header, secret } = {}) {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const sig = header === undefined ? signature(raw, t, secret) : header;
  const headers = { 'content-type': 'application/json' };
  if (sig !== null) headers['hangar-signature'] = sig;
  const res = await fn('runner-callback', { rawBody: raw, headers, method: 'POST' });
  return Object.assign(res, { raw, header: sig });
}

/**
 * Claims a job as runner `runnerId` (API.md §5, "Claims"), as a runner does before it runs
 * it; returns the answer's data ({ claimed, fence, leaseSeconds, reason?, status }).
 */
export async function claim(jobId, { runnerId = 'e2e-by-hand', ...opts } = {}) {
  const res = await callback({ jobId, status: 'claimed', runnerId }, opts);
  assert.equal(res.status, 200, `claim of ${jobId}: ${res.status} ${res.text}`);
  return res.json.data;
}

/** POSTs a signed job webhook to a runner; the response as { status, json, text }. */
export async function sendWebhook(url, body, { t, secret } = {}) {
  const raw = JSON.stringify(body);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'hangar-signature': signature(raw, t, secret, CONTEXT.webhook) },
    body: raw,
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

// ---- bounded waiting -------------------------------------------------------------------------

/**
 * Polls `probe()` until `done(value)` holds; throws after `timeoutMs` with `what` and the
 * last value seen. Returns the last value.
 */
export async function waitFor(probe, done, { timeoutMs = 15000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await probe();
    if (await done(last)) return last;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(last)?.slice(0, 800)}`);
    }
    await sleep(intervalMs);
  }
}

/** get-machine-status as `user` (asserting 200). */
export async function machineStatus(user, machineId) {
  return ok(await getStatus(user, machineId));
}

/**
 * Polls get-machine-status until the machine is `status`. Fails at once when it reaches a
 * status in `failOn` (default: error, unless error is what we wait for).
 */
export async function waitForStatus(user, machineId, status, { timeoutMs = 15000, intervalMs = 100, failOn } = {}) {
  failOn ??= status === 'error' ? [] : ['error'];
  return waitFor(
    () => machineStatus(user, machineId),
    (m) => {
      if (failOn.includes(m.status) && m.status !== status) {
        throw new Error(`machine ${machineId} went to ${m.status} while waiting for ${status}: ${JSON.stringify(m).slice(0, 1200)}`);
      }
      return m.status === status;
    },
    { timeoutMs, intervalMs, what: `machine ${machineId} to be ${status}` },
  );
}

/** get-job as `user` (asserting 200). */
export async function getJob(user, jobId) {
  return ok(await fn('get-job', { token: user.accessToken, query: { jobId } }));
}

/** Polls get-job until the job is finished (succeeded or failed); returns the Job. */
export function waitForJob(user, jobId, { timeoutMs = 15000, intervalMs = 100 } = {}) {
  return waitFor(() => getJob(user, jobId), (j) => j.status === 'succeeded' || j.status === 'failed', {
    timeoutMs, intervalMs, what: `job ${jobId} to finish`,
  });
}

/** get-logs as `user`, newest first. */
export async function logsOf(user, machineId, limit = 500) {
  return ok(await fn('get-logs', { token: user.accessToken, query: { machineId, limit: String(limit) } })).events;
}

// ---- the database as the superuser (sql: lib/machines.mjs) ---------------------------------------

/** A machine row owned by `ownerId`, straight into the table; returns its id. */
export async function insertMachine(ownerId, { name = newName('rt'), status = 'provisioning', tier = 'dev.small', provider = 'aws', region = 'us-east-1', image = 'ubuntu-22.04', configuration = {}, ipAddress = null, providerInstanceId = null } = {}) {
  return value`insert into machines (owner_id, name, status, tier, provider, region, image, configuration, ip_address, provider_instance_id)
    values (${ownerId}, ${name}, ${status}, ${tier}, ${provider}, ${region}, ${image},
            ${sql.json(configuration)}, ${ipAddress}, ${providerInstanceId}) returning id`;
}

/** A job the stack's own delivery will not touch (next_attempt_at an hour away); its id. */
export async function insertJob(machineId, ownerId, action, { params = {}, status = 'queued' } = {}) {
  return value`insert into jobs (machine_id, owner_id, action, params, status, next_attempt_at)
    values (${machineId}, ${ownerId}, ${action}, ${sql.json(params)}, ${status}, now() + interval '1 hour') returning id`;
}

/** The webhook body the Workers would send for a job (private.delivery_json + callbackUrl). */
export async function deliveryBody(jobId, { agentToken } = {}) {
  const body = await value`select private.delivery_json(j) from jobs j where j.id = ${jobId}`;
  body.callbackUrl = CALLBACK_URL;
  if (agentToken !== undefined) body.agentToken = agentToken;
  return body;
}

export async function jobRow(id) {
  const [row] = await rows`select * from jobs where id = ${id}`;
  return row ?? null;
}

export const newAgentToken = () => randomBytes(24).toString('base64url');

// ---- the runner's log (RUNNER_LOG: one JSON object per line) ------------------------------------

/** Every JSON line of a runner log file (other lines skipped). */
export function runnerLog(file = env.RUNNER_LOG) {
  assert.ok(file && existsSync(file), `RUNNER_LOG ${file} should exist`);
  const out = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try { out.push(JSON.parse(line)); } catch { /* a partial line */ }
  }
  return out;
}

/** { accepted, duplicate } per job id, from the runner's job_accepted / job_duplicate lines. */
export function deliveriesPerJob(lines) {
  const per = new Map();
  for (const l of lines) {
    if (l.event !== 'job_accepted' && l.event !== 'job_duplicate') continue;
    const c = per.get(l.jobId) ?? { accepted: 0, duplicate: 0 };
    c[l.event === 'job_accepted' ? 'accepted' : 'duplicate'] += 1;
    per.set(l.jobId, c);
  }
  return per;
}

// ---- a runner of our own -------------------------------------------------------------------------

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts RUNNER_BIN with `vars` (besides PATH, HOME, RUNNER_SECRET, RUNNER_LISTEN on a free
 * port) and waits for /health. Returns { url, port, child, lines (parsed JSON log), stderr,
 * stop() }.
 */
export async function spawnRunner(vars = {}) {
  const port = await freePort();
  const child = spawn(env.RUNNER_BIN, [], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, RUNNER_SECRET: env.RUNNER_SECRET, RUNNER_LISTEN: `127.0.0.1:${port}`, ...vars },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const r = { url: `http://127.0.0.1:${port}/`, port, child, lines: [], stderr: [] };
  createInterface({ input: child.stdout }).on('line', (l) => {
    try { r.lines.push(JSON.parse(l)); } catch { r.stderr.push(l); }
  });
  createInterface({ input: child.stderr }).on('line', (l) => r.stderr.push(l));
  const exited = new Promise((res) => child.once('exit', res));
  r.stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
  };
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`runner exited (${child.exitCode}): ${r.stderr.join('\n').slice(0, 2000)}`);
    try {
      if ((await fetch(`${r.url}health`)).ok) return r;
    } catch { /* not yet */ }
    await sleep(50);
  }
  await r.stop();
  throw new Error(`runner did not answer /health within 10 s: ${r.stderr.join('\n').slice(0, 2000)}`);
}

// ---- figures ---------------------------------------------------------------------------------------

export function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export { show };
