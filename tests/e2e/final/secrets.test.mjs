// No secret leaks (issue 7, "Suites that must exist and pass": Secrets). Runs last (the
// suite's `final` phase, after every other file) and scans what the whole suite produced:
//   (a) every response any test received (recorded by lib/api.mjs into the run folder),
//   (b) every log line of the run: the functions (workerd), postrust, the runner, Postgres,
//       and the reports the runner set aside (RUNNER_WORKDIR/rejected),
//   (c) what users can read back later: stored events and job outcomes,
// for the JWT secret, the service-role key, the runner secret, the secrets keys, every stored
// secret value (tests/e2e/secrets mark theirs), every refresh token the suite
// was issued (allowed only in the one response that issued it) and every agent token the
// runner received (allowed nowhere: only in the runner's own journal, which is not scanned).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { env } from '../lib/env.mjs';
import { fn, ok, signIn, RECORD_DIR, RESPONSES_FILE, AGENT_TOKENS_FILE, recordsFlushed } from '../lib/api.mjs';
import { createMachine, sql } from '../lib/machines.mjs';
import { waitForStatus } from '../lib/runner.mjs';
import { VALUE_MARKER } from '../lib/secrets.mjs';

const log = (...a) => console.log('[secrets]', ...a);
const B64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Finds needles in text. Tokens (base64url, ≥ 16 chars; there are hundreds) are looked up in
 * runs of base64url characters: at every position, by the 16 characters there, then whole;
 * the few others by indexOf.
 */
const KEY = 16;
class Scanner {
  constructor(needles) {
    this.plain = [];
    this.byKey = new Map(); // the first KEY characters → the tokens that start with them
    this.tokens = 0;
    for (const n of needles) {
      if (!n.value || n.value.length < 8) continue;
      if (n.value.length >= KEY && B64URL.test(n.value)) {
        const key = n.value.slice(0, KEY);
        const same = (this.byKey.get(key) ?? []).filter((x) => x.value !== n.value); // the last one of a value counts
        if (same.length === (this.byKey.get(key) ?? []).length) this.tokens += 1;
        same.push(n);
        this.byKey.set(key, same);
      } else {
        this.plain.push(n);
      }
    }
  }
  get size() {
    return this.plain.length + this.tokens;
  }
  /** The needles found in `text` (each once). */
  scan(text) {
    const found = new Set();
    for (const n of this.plain) if (text.includes(n.value)) found.add(n);
    if (this.tokens) {
      for (const [run] of text.matchAll(RUN)) {
        for (let i = 0; i + KEY <= run.length; i++) {
          const candidates = this.byKey.get(run.slice(i, i + KEY));
          if (candidates) for (const n of candidates) if (run.startsWith(n.value, i)) found.add(n);
        }
      }
    }
    return [...found];
  }
}
const RUN = new RegExp(`[A-Za-z0-9_-]{${KEY},}`, 'g');

async function* lines(file) {
  const rl = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const l of rl) yield l;
}

/** One text line per row (as JSON), for a SELECT (an sql fragment) of any size. */
async function tableRows(select) {
  return (await sql`select row_to_json(t)::text as line from (${select}) t`).map((r) => r.line);
}

/** The configured secrets, and the forms a careless log line would hold them in. */
function configSecrets() {
  const out = [];
  for (const name of ['SUPABASE_JWT_SECRET', 'SUPABASE_SERVICE_ROLE_KEY', 'RUNNER_SECRET', 'SECRETS_KEY', 'SECRETS_KEY_PREVIOUS']) {
    const v = env[name];
    if (!v) {
      assert.ok(name === 'SECRETS_KEY_PREVIOUS', `${name} is not in stack.env`);
      continue;
    }
    out.push({ kind: name, value: v });
    out.push({ kind: `${name} (base64)`, value: Buffer.from(v).toString('base64').replace(/=+$/, '') });
    out.push({ kind: `${name} (hex)`, value: Buffer.from(v).toString('hex') });
  }
  // The secret values the suite stored (tests/e2e/secrets): each starts with this marker,
  // and none may appear anywhere scanned (only the runner's journal holds them).
  out.push({ kind: 'a stored secret value', value: VALUE_MARKER });
  // The service-role key's signature alone identifies it.
  const sig = env.SUPABASE_SERVICE_ROLE_KEY?.split('.')[2];
  if (sig) out.push({ kind: 'SUPABASE_SERVICE_ROLE_KEY (signature)', value: sig });
  return out;
}

let own; // what this file's own traffic must have recorded

test('own traffic is recorded: a sign-in, a refresh and a machine (so that the scan is never empty)', async () => {
  assert.ok(RECORD_DIR, 'nothing records responses: run through `node tests/stack/stack.mjs test` (or set HANGAR_RECORD_DIR)');
  const a = await signIn();
  const refreshed = ok(await fn('refresh-session', { body: { refreshToken: a.refreshToken } }));
  const m = await createMachine(a, { name: 'secrets-scan' });
  await waitForStatus(a, m.id, 'running', { timeoutMs: 20000 });
  await recordsFlushed();
  own = { refreshTokens: [a.refreshToken, refreshed.refreshToken], createJobId: m.pendingJob?.id, machineId: m.id };
});

test('no response, log line, event or job outcome of the suite holds a secret, a refresh token or an agent token', async () => {
  assert.ok(own, 'the recording step above failed');
  await recordsFlushed();
  assert.ok(RESPONSES_FILE && existsSync(RESPONSES_FILE), `no responses were recorded (${RESPONSES_FILE})`);

  // ---- the responses: collect the refresh tokens and who issued them ----
  const responses = [];
  const bySource = {};
  for await (const line of lines(RESPONSES_FILE)) {
    if (!line) continue;
    let r;
    try { r = JSON.parse(line); } catch { continue; } // a line cut by a killed process
    responses.push(r);
    bySource[r.source] = (bySource[r.source] ?? 0) + 1;
  }
  assert.ok(responses.length > 0, 'nothing was recorded: the recorder in lib/api.mjs is broken');
  const issued = new Map(); // refresh token → index of the response that issued it
  responses.forEach((r, i) => {
    let path = '';
    try { path = new URL(r.url).pathname; } catch { return; }
    if (!/\/functions\/v1\/(exchange|refresh-session)$/.test(path)) return;
    let token;
    try { token = JSON.parse(r.body)?.data?.refreshToken; } catch { return; }
    if (typeof token === 'string' && token) issued.set(token, i);
  });
  for (const t of own.refreshTokens) assert.ok(issued.has(t), 'a refresh token this file received was not recorded');

  // ---- the agent tokens the runner journaled ----
  const agent = new Map(); // token → jobId
  if (AGENT_TOKENS_FILE && existsSync(AGENT_TOKENS_FILE)) {
    for await (const line of lines(AGENT_TOKENS_FILE)) {
      try {
        const { jobId, agentToken } = JSON.parse(line);
        if (agentToken) agent.set(agentToken, jobId);
      } catch { /* cut line */ }
    }
  }
  const jobsDir = env.RUNNER_WORKDIR && join(env.RUNNER_WORKDIR, 'jobs');
  if (jobsDir && existsSync(jobsDir)) {
    for (const n of readdirSync(jobsDir).filter((n) => /^[^.]+\.json$/.test(n))) {
      try {
        const j = JSON.parse(readFileSync(join(jobsDir, n), 'utf8'));
        if (j.agentToken) agent.set(j.agentToken, j.jobId);
      } catch { /* gone meanwhile */ }
    }
  }
  assert.ok(
    [...agent.values()].includes(own.createJobId),
    `the agent token of this file's own create job ${own.createJobId} was not collected from the runner's journal (${jobsDir})`,
  );

  const secrets = configSecrets();
  const refreshNeedles = [...issued.keys()].map((value) => ({ kind: 'refresh token', value }));
  const agentNeedles = [...agent].map(([value, jobId]) => ({ kind: `agent token (job ${jobId})`, value }));
  const everything = new Scanner([...secrets, ...refreshNeedles, ...agentNeedles]);
  const leaks = [];
  let leakCount = 0;
  // The excerpt ends where the secret starts: the report itself must not leak it.
  const leak = (where, needle, text) => {
    leakCount += 1;
    if (leaks.length >= 50) return;
    const at = text.indexOf(needle.value);
    leaks.push(`${needle.kind} in ${where}: …${text.slice(Math.max(0, at - 100), Math.max(0, at)).replace(/\s+/g, ' ')}<HERE>`);
  };

  // (a) responses: headers and body.
  responses.forEach((r, i) => {
    const text = `${JSON.stringify(r.headers)}\n${r.body}`;
    for (const n of everything.scan(text)) {
      if (n.kind === 'refresh token' && issued.get(n.value) === i) continue; // the response that issued it
      leak(`the response to ${r.method} ${r.url.slice(0, 120)} (${r.status}, recorded by ${r.source})`, n, text);
    }
  });

  // (b) logs.
  const logFiles = [
    ['functions', env.FUNCTIONS_LOG],
    ['postrust', env.POSTRUST_LOG],
    ['runner', env.RUNNER_LOG],
    ['postgres', env.PG_LOG],
  ];
  const verbose = Boolean(process.env.HANGAR_STACK_VERBOSE);
  const logCounts = {};
  for (const [label, file] of logFiles) {
    if (!file || !existsSync(file)) {
      // HANGAR_STACK_VERBOSE sends the stack's logs to its stdout instead of files.
      assert.ok(verbose || label === 'postgres', `the ${label} log (${file || 'not in stack.env'}) is missing`);
      logCounts[label] = 'not a file';
      continue;
    }
    let n = 0;
    for await (const line of lines(file)) {
      n += 1;
      for (const needle of everything.scan(line)) leak(`the ${label} log, line ${n}`, needle, line);
    }
    logCounts[label] = n;
  }
  assert.ok(verbose || logCounts.functions > 0, 'the functions log is empty: nothing to scan');
  const rejectedDir = env.RUNNER_WORKDIR && join(env.RUNNER_WORKDIR, 'rejected');
  let rejected = 0;
  if (rejectedDir && existsSync(rejectedDir)) {
    for (const f of readdirSync(rejectedDir)) {
      const p = join(rejectedDir, f);
      if (!statSync(p).isFile()) continue;
      rejected += 1;
      const text = readFileSync(p, 'utf8');
      for (const needle of everything.scan(text)) leak(`the runner's rejected report ${f}`, needle, text);
    }
  }

  // (c) what users read back: events (get-logs) and job outcomes (get-job).
  const stored = {};
  for (const [label, select] of [
    ['machine_events', sql`select * from machine_events`],
    ['jobs', sql`select id, action, status, params, result, error from jobs`],
  ]) {
    const rows = await tableRows(select);
    stored[label] = rows.length;
    rows.forEach((row) => {
      for (const needle of everything.scan(row)) leak(`${label} row ${row.slice(0, 60)}`, needle, row);
    });
  }

  // Coverage: the create jobs the runner accepted, and the agent tokens collected of them.
  let creates = 0, collected = 0;
  const tokenJobs = new Set(agent.values());
  if (env.RUNNER_LOG && existsSync(env.RUNNER_LOG)) {
    for await (const line of lines(env.RUNNER_LOG)) {
      if (!line.includes('"job_accepted"')) continue;
      try {
        const l = JSON.parse(line);
        if (l.event === 'job_accepted' && l.action === 'create') {
          creates += 1;
          if (tokenJobs.has(l.jobId)) collected += 1;
        }
      } catch { /* not JSON */ }
    }
  }

  log(`responses scanned: ${responses.length} (${Object.entries(bySource).sort().map(([k, v]) => `${k} ${v}`).join(', ')})`);
  log(`log lines scanned: ${Object.entries(logCounts).map(([k, v]) => `${k} ${v}`).join(', ')}; runner rejected reports: ${rejected}`);
  log(`stored rows scanned: ${Object.entries(stored).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  log(`secrets checked: ${everything.size} = ${secrets.length} forms of the configured secrets + ${refreshNeedles.length} refresh tokens + ${agentNeedles.length} agent tokens`);
  log(`agent tokens collected for ${collected} of the ${creates} create jobs the runner accepted${creates > collected ? ' (the rest finished while no test process watched the journal)' : ''}`);
  assert.equal(leakCount, 0, `${leakCount} leaks:\n  ${leaks.join('\n  ')}`);
});
