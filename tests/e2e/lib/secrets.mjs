// Helpers for the secrets tests (API.md §7): the `secrets` function, test values that the
// final scan recognises, the sealing format done again in Node (AES-256-GCM, the row id
// as associated data, the key id and the row id derived as the Worker derives them), what
// the stack's runner received (its journal), and scans of the database and the logs.
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { env } from './env.mjs';
import { fn, ok, service, show } from './api.mjs';
import { sql } from './machines.mjs';

// ---- the function ----------------------------------------------------------------------------

/** The `secrets` function as `user`: secretsFn(user, { method, id, body, query }). */
export const secretsFn = (user, { method, id, body, query } = {}) =>
  fn(id ? `secrets/${id}` : 'secrets', { token: user.accessToken, method: method ?? (body === undefined ? 'GET' : 'PUT'), body, query });

/** PUT, asserting 201 (new) or 200 (replaced); the Secret. */
export async function putSecret(user, body, status = 201) {
  const res = await secretsFn(user, { body });
  return assertSecret(ok(res, status));
}

/** GET, asserting 200; the list. */
export async function listSecrets(user, query) {
  return ok(await secretsFn(user, { query })).secrets;
}

export const SECRET_KEYS = ['id', 'name', 'scope', 'teamId', 'projectId', 'machineId', 'updatedAt'];
export const SCOPES = ['account', 'team', 'project', 'machine'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A Secret: exactly its metadata keys, never a value. */
export function assertSecret(s) {
  assert.deepEqual(Object.keys(s).sort(), [...SECRET_KEYS].sort(), `a Secret has exactly ${SECRET_KEYS.join(', ')}: ${JSON.stringify(s)}`);
  assert.match(s.id, UUID);
  assert.match(s.name, /^[A-Z_][A-Z0-9_]{0,63}$/);
  assert.ok(SCOPES.includes(s.scope), s.scope);
  assert.equal(s.teamId !== null, s.scope === 'team', JSON.stringify(s));
  assert.equal(s.projectId !== null, s.scope === 'project', JSON.stringify(s));
  assert.equal(s.machineId !== null, s.scope === 'machine', JSON.stringify(s));
  assert.ok(!Number.isNaN(Date.parse(s.updatedAt)), s.updatedAt);
  return s;
}

// ---- test values -----------------------------------------------------------------------------

/**
 * Every value a test stores starts with this marker, which final/secrets.test.mjs looks for
 * in everything the suite recorded: a value may appear nowhere but in what the runner got.
 */
export const VALUE_MARKER = 'hangar-test-secret-';

/** A fresh test value (awkward characters included: quotes, $(…), a newline). */
export const newValue = (label = 'v') =>
  `${VALUE_MARKER}${label}-${randomBytes(12).toString('base64url')} it's "quoted" $(id)\nsecond line`;

/** The forms a careless encoder would leave a value in (plain, base64, base64url, hex). */
export function forms(value) {
  const b = Buffer.from(value);
  // The first line alone too: a log that cuts at the newline still leaks.
  return [value, value.split('\n')[0], b.toString('base64'), b.toString('base64url'), b.toString('hex')];
}

// ---- the format, in Node ---------------------------------------------------------------------

const keyBytes = (b64) => Buffer.from(b64, 'base64');

/** The id stored beside each ciphertext: 16 hex digits of SHA-256("hangar-secrets-key-id:" ‖ key). */
export const keyId = (b64) =>
  createHash('sha256').update('hangar-secrets-key-id:').update(keyBytes(b64)).digest('hex').slice(0, 16);

/** A secret's row id: version 8 from SHA-256("hangar-secret-id:<scope>:<target>:<name>"). */
export function secretId(scope, target, name) {
  const b = createHash('sha256').update(`hangar-secret-id:${scope}:${target}:${name}`).digest().subarray(0, 16);
  b[6] = (b[6] & 0x0f) | 0x80;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The 16 bytes of a UUID: the associated data of its row. */
const uuidBytes = (id) => Buffer.from(id.replace(/-/g, ''), 'hex');

/** Seals as the Worker does: { ciphertext, nonce, keyId } (base64, ciphertext ‖ tag). */
export function seal(keyB64, id, value) {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', keyBytes(keyB64), nonce);
  c.setAAD(uuidBytes(id));
  const out = Buffer.concat([c.update(value, 'utf8'), c.final(), c.getAuthTag()]);
  return { ciphertext: out.toString('base64'), nonce: nonce.toString('base64'), keyId: keyId(keyB64) };
}

/** Opens a stored value with Node's AES-GCM; throws when it does not authenticate. */
export function open(keyB64, id, { ciphertext, nonce }) {
  const raw = Buffer.from(ciphertext, 'base64');
  const d = createDecipheriv('aes-256-gcm', keyBytes(keyB64), Buffer.from(nonce, 'base64'));
  d.setAAD(uuidBytes(id));
  d.setAuthTag(raw.subarray(raw.length - 16));
  return Buffer.concat([d.update(raw.subarray(0, raw.length - 16)), d.final()]).toString('utf8');
}

/**
 * The secrets a create or deploy job would carry, as delivery reads them (the service role's
 * hangar_job_secrets, sealed): { NAME: secret id }, so a test sees which scope won a name.
 */
export async function jobSecretIds(jobId) {
  const res = await service('/rpc/hangar_job_secrets', { method: 'POST', body: { p_job_id: jobId } });
  assert.equal(res.status, 200, show(res));
  assert.equal(res.json.ok, true, show(res));
  return Object.fromEntries(res.json.data.map((s) => [s.name, s.id]));
}

/** The stored row of a secret (as the superuser). */
export async function secretRow(id) {
  const [row] = await sql`select * from secrets where id = ${id}`;
  return row ?? null;
}

// ---- what the stack's runner received ---------------------------------------------------------

/**
 * Watches the stack's runner journal (RUNNER_WORKDIR/jobs/<jobId>.json: the webhook body as
 * the runner accepted it, signature verified, kept until the job's final report is
 * delivered). received(jobId) is that body, once seen. Start it before the jobs are sent.
 */
export function watchRunner() {
  const dir = join(env.RUNNER_WORKDIR ?? '', 'jobs');
  assert.ok(env.RUNNER_WORKDIR && existsSync(dir), `the runner's journal ${dir} exists`);
  const bodies = new Map();
  const take = (name) => {
    if (!name || !/^[^.]+\.json$/.test(name) || bodies.has(name.slice(0, -5))) return;
    try {
      const body = JSON.parse(readFileSync(join(dir, name), 'utf8'));
      if (body?.jobId) bodies.set(body.jobId, body);
    } catch { /* gone, or not whole yet: the next event or sweep */ }
  };
  const sweep = () => {
    try { for (const n of readdirSync(dir)) take(n); } catch { /* gone */ }
  };
  const watcher = watch(dir, (_e, name) => take(name));
  watcher.on('error', () => {});
  sweep();
  return {
    received: (jobId) => { sweep(); return bodies.get(jobId) ?? null; },
    close: () => watcher.close(),
  };
}

// ---- scans -------------------------------------------------------------------------------------

/**
 * Every row of every table in `public` and `private`, as JSON text (bytea as \x hex), searched
 * in Node for each needle (never sent to the database, whose log could keep a parameter).
 * Returns the hits: [{ table, needle }].
 */
export async function scanDatabase(needles) {
  const tables = await sql`
    select table_schema as schema, table_name as name from information_schema.tables
    where table_schema in ('public', 'private') and table_type = 'BASE TABLE' order by 1, 2`;
  assert.ok(tables.some((t) => t.name === 'secrets'), 'the secrets table is among those scanned');
  const hits = [];
  for (const t of tables) {
    const lines = await sql`select row_to_json(x)::text as line from ${sql(t.schema)}.${sql(t.name)} x`;
    for (const { line } of lines) {
      for (const n of needles) if (line.includes(n)) hits.push({ table: `${t.schema}.${t.name}`, needle: n.slice(0, 24) });
    }
  }
  return { tables: tables.length, hits };
}

/** The lines of the stack's logs (functions, postrust, runner) holding a needle. */
export function scanLogs(needles) {
  const hits = [];
  const files = { functions: env.FUNCTIONS_LOG, postrust: env.POSTRUST_LOG, runner: env.RUNNER_LOG };
  for (const [label, file] of Object.entries(files)) {
    assert.ok(file && existsSync(file), `the ${label} log (${file}) is a file of this test stack`);
    readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      for (const n of needles) if (line.includes(n)) hits.push({ log: label, line: i + 1, needle: n.slice(0, 24) });
    });
  }
  return hits;
}

/** The functions log lines that hold `text`. */
export const functionsLogLines = (text) =>
  readFileSync(env.FUNCTIONS_LOG, 'utf8').split('\n').filter((l) => l.includes(text));

export { show };
