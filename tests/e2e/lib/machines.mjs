// Helpers for the machine tests (API.md §3): the database as the superuser (psql), the
// state machine as data, machine creation, shape assertions.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { env } from './env.mjs';
import { fn, ok, rest, show, UUID_RE } from './api.mjs';

// ---- the database as the superuser ---------------------------------------------------

const run = promisify(execFile);
const PSQL = env.PG_BIN && existsSync(join(env.PG_BIN, 'psql')) ? join(env.PG_BIN, 'psql') : 'psql';

/** A SQL literal: 'text' with quotes doubled, or null. Objects become jsonb literals. */
export function lit(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'object') return `${lit(JSON.stringify(v))}::jsonb`;
  return `'${String(v).replace(/'/g, "''")}'`;
}

/** Runs SQL as the superuser (DATABASE_URL); returns psql's unaligned, tuples-only output. */
export async function sql(query) {
  try {
    const { stdout } = await run(PSQL, [env.DATABASE_URL, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-Atc', query], {
      env: { ...process.env, PGCONNECT_TIMEOUT: '10' },
    });
    return stdout.trim();
  } catch (e) {
    throw new Error(`psql failed: ${e.stderr || e.message}\n  query: ${query}`);
  }
}

/** The rows of a SELECT as JSON objects (snake_case columns). */
export async function rows(select) {
  return JSON.parse(await sql(`select coalesce(json_agg(t), '[]'::json) from (${select}) t`));
}

export async function machineRow(id) {
  const [row] = await rows(`select * from machines where id = ${lit(id)}`);
  return row ?? null;
}

/** Jobs of a machine, oldest first. */
export const jobsOf = (machineId) =>
  rows(`select * from jobs where machine_id = ${lit(machineId)} order by created_at, id`);

/** Events of a machine, newest first. */
export const eventsOf = (machineId) =>
  rows(`select * from machine_events where machine_id = ${lit(machineId)} order by created_at desc, id desc`);

/**
 * { jobs, events } counts of a machine, in one query. Delivery bookkeeping events
 * (`job.delivery_failed`, written when the stopped runner refuses a webhook) are not
 * the transition's own and are left out.
 */
export async function counts(machineId) {
  const out = await sql(
    `select (select count(*) from jobs where machine_id = ${lit(machineId)}) || ',' ||
            (select count(*) from machine_events where machine_id = ${lit(machineId)}
               and event_type <> 'job.delivery_failed')`,
  );
  const [jobs, events] = out.split(',').map(Number);
  return { jobs, events };
}

export const countMachines = async (ownerId) =>
  Number(await sql(`select count(*) from machines where owner_id = ${lit(ownerId)}`));

export const setBalance = (accountId, cents) =>
  sql(`update accounts set credit_balance_cents = ${Number(cents)} where id = ${lit(accountId)}`);

/** An operator's per-account machine limit (accounts.max_machines), for tests that need many machines. */
export const setMachineLimit = (accountId, n) =>
  sql(`update accounts set max_machines = ${Number(n)} where id = ${lit(accountId)}`);

export const OPEN_JOB_STATUSES = ['queued', 'dispatched', 'running'];

/**
 * Puts a machine into `status` directly in the database (there is no runner yet).
 *   instanceId  provider_instance_id to set (default 'i-test', so that delete goes to
 *               `terminating`); null clears it.
 *   jobs        what the machine's open jobs (queued/dispatched/running) become, as if the
 *               runner had handled them: default 'succeeded' when an instance id is set
 *               ('running' for `provisioning`: the runner is still creating it), and left
 *               alone when instanceId is null (a never-provisioned machine). null: leave alone.
 */
export async function setStatus(id, status, { instanceId = 'i-test', jobs } = {}) {
  if (jobs === undefined) jobs = instanceId === null ? null : status === 'provisioning' ? 'running' : 'succeeded';
  const stmts = [
    `update machines set status = ${lit(status)}, provider_instance_id = ${lit(instanceId)} where id = ${lit(id)}`,
  ];
  if (jobs) {
    stmts.push(
      `update jobs set status = ${lit(jobs)} where machine_id = ${lit(id)} and status in (${OPEN_JOB_STATUSES.map(lit).join(', ')})`,
    );
  }
  await sql(`begin; ${stmts.join('; ')}; commit;`);
  const row = await machineRow(id);
  assert.equal(row?.status, status, `setStatus(${id}, ${status}) did not take`);
}

// ---- the contract as data --------------------------------------------------------------

export const TIERS = {
  'dev.small': { cpu: 0.5, memoryMb: 1024, diskGb: 10, pricePerMonthCents: 600 },
  'dev.medium': { cpu: 1, memoryMb: 2048, diskGb: 20, pricePerMonthCents: 1200 },
  'dev.large': { cpu: 2, memoryMb: 4096, diskGb: 40, pricePerMonthCents: 2400 },
  'dev.xlarge': { cpu: 4, memoryMb: 8192, diskGb: 80, pricePerMonthCents: 4800 },
};
export const hourlyCents = (tier) => Math.ceil(TIERS[tier].pricePerMonthCents / 730);

export const DEFAULT_REGIONS = { aws: 'us-east-1', gcp: 'us-central1', azure: 'eastus' };
export const DEFAULT_PROVIDER = env.DEFAULT_PROVIDER || 'aws';

export const STATUSES = ['provisioning', 'starting', 'running', 'stopping', 'stopped', 'restarting', 'error', 'terminating', 'terminated'];
export const ACTIONS = ['start', 'stop', 'restart', 'delete'];

/** Actions allowed from each status (what a 409's details.allowed lists). */
export const ALLOWED = {
  provisioning: ['delete'],
  starting: ['delete'],
  running: ['stop', 'restart', 'delete'],
  stopping: ['delete'],
  stopped: ['start', 'delete'],
  restarting: ['delete'],
  error: ['start', 'delete'],
  terminating: [],
  terminated: [],
};
/** Statuses where an action is a no-op answered 200 with no job. */
export const IDEMPOTENT = {
  start: ['running', 'starting'],
  stop: ['stopped', 'stopping'],
  restart: ['restarting'],
  delete: ['terminating', 'terminated'],
};
export const MOVES_TO = { start: 'starting', stop: 'stopping', restart: 'restarting', delete: 'terminating' };
export const JOB_ACTION = { start: 'start', stop: 'stop', restart: 'restart', delete: 'terminate' };

/** What the contract says `action` on a machine in `status` does: 'move' | 'noop' | 'refuse'. */
export function expectedOutcome(action, status) {
  if (IDEMPOTENT[action].includes(status)) return 'noop';
  if (ALLOWED[status].includes(action)) return 'move';
  return 'refuse';
}

// ---- calls ---------------------------------------------------------------------------------

export const newName = (prefix = 'm') => `${prefix}-${randomBytes(5).toString('hex')}`;

/** create-machine as `user`; returns the response (not asserted). */
export const createRaw = (user, body = {}, headers = {}) =>
  fn('create-machine', { token: user.accessToken, body: { name: newName(), ...body }, headers });

/** create-machine as `user`, asserting 201; returns the Machine. */
export async function createMachine(user, body = {}, headers = {}) {
  return ok(await createRaw(user, body, headers), 201);
}

/** start/stop/restart/delete-machine as `user`. */
export const act = (user, action, machineId, { method } = {}) =>
  fn(`${action}-machine`, { token: user.accessToken, method, body: { machineId } });

export const getStatus = (user, machineId) =>
  fn('get-machine-status', { token: user.accessToken, query: { machineId } });

export const listMachines = (user, query = {}) => fn('get-user-machines', { token: user.accessToken, query });

/** PostgREST as `user` (their session token; the anon key as apikey). */
export const asUser = (user, path, opts = {}) => rest(path, { ...opts, token: user.accessToken });

/** A project owned by `user`, created straight through PostgREST (users may create their own). */
export async function createProject(user, name = newName('p')) {
  const res = await asUser(user, '/projects', { method: 'POST', body: { name }, headers: { prefer: 'return=representation' } });
  assert.equal(res.status, 201, `create project through PostgREST: ${show(res)}`);
  const row = Array.isArray(res.json) ? res.json[0] : res.json;
  assert.match(row?.id ?? '', UUID_RE, show(res));
  assert.equal(row.owner_id, user.user.id, 'owner_id defaults to the caller');
  return row;
}

/** A valid OpenSSH ed25519 public key line (blob: string "ssh-ed25519", string <32-byte key>). */
export function sshPublicKey(comment = 'test@hangar') {
  const der = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
  const raw = der.subarray(der.length - 32);
  const str = (b) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  const blob = Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]);
  return `ssh-ed25519 ${blob.toString('base64')} ${comment}`;
}

// ---- shapes --------------------------------------------------------------------------------

const isDate = (v) => typeof v === 'string' && !Number.isNaN(Date.parse(v));
const dateOrNull = (v) => v === null || isDate(v);
const strOrNull = (v) => v === null || typeof v === 'string';

export const MACHINE_KEYS = [
  'id', 'name', 'status', 'tier', 'cpu', 'memoryMb', 'diskGb', 'provider', 'region', 'image',
  'ipAddress', 'providerInstanceId', 'projectId', 'configuration', 'lastStarted', 'lastStopped',
  'createdAt', 'updatedAt', 'pendingJob',
];

/** The Machine of API.md §3 (extra keys allowed, but no snake_case and nothing secret). */
export function assertMachine(m) {
  assert.ok(m && typeof m === 'object', `machine should be an object: ${JSON.stringify(m)}`);
  for (const k of MACHINE_KEYS) assert.ok(k in m, `machine.${k} missing: ${JSON.stringify(m)}`);
  for (const k of Object.keys(m)) {
    assert.ok(!k.includes('_'), `machine key ${k} should be camelCase`);
    assert.ok(!/token|hash|secret/i.test(k), `machine key ${k} should not be exposed`);
  }
  assert.match(m.id, UUID_RE, 'id');
  assert.equal(typeof m.name, 'string', 'name');
  assert.ok(STATUSES.includes(m.status), `status ${m.status}`);
  assert.ok(m.tier in TIERS, `tier ${m.tier}`);
  const t = TIERS[m.tier];
  assert.equal(m.cpu, t.cpu, 'cpu matches the tier');
  assert.equal(m.memoryMb, t.memoryMb, 'memoryMb matches the tier');
  assert.equal(m.diskGb, t.diskGb, 'diskGb matches the tier');
  assert.ok(m.provider in DEFAULT_REGIONS, `provider ${m.provider}`);
  assert.equal(typeof m.region, 'string', 'region');
  assert.equal(typeof m.image, 'string', 'image');
  assert.ok(strOrNull(m.ipAddress), 'ipAddress');
  assert.ok(strOrNull(m.providerInstanceId), 'providerInstanceId');
  assert.ok(m.projectId === null || UUID_RE.test(m.projectId), `projectId ${m.projectId}`);
  assert.ok(m.configuration && typeof m.configuration === 'object' && !Array.isArray(m.configuration), 'configuration is an object');
  assert.ok(dateOrNull(m.lastStarted), 'lastStarted');
  assert.ok(dateOrNull(m.lastStopped), 'lastStopped');
  assert.ok(isDate(m.createdAt), 'createdAt');
  assert.ok(isDate(m.updatedAt), 'updatedAt');
  if (m.pendingJob !== null) {
    assert.match(m.pendingJob.id, UUID_RE, 'pendingJob.id');
    assert.equal(typeof m.pendingJob.action, 'string', 'pendingJob.action');
    assert.equal(typeof m.pendingJob.status, 'string', 'pendingJob.status');
  }
  return m;
}

/** The Event: { id, machineId, eventType, details, level, source, createdAt }. */
export function assertEvent(e) {
  for (const k of ['id', 'machineId', 'eventType', 'details', 'level', 'source', 'createdAt']) {
    assert.ok(k in e, `event.${k} missing: ${JSON.stringify(e)}`);
  }
  assert.match(e.id, UUID_RE, 'event id');
  assert.match(e.machineId, UUID_RE, 'event machineId');
  assert.equal(typeof e.eventType, 'string', 'eventType');
  assert.ok(['info', 'warn', 'error'].includes(e.level), `level ${e.level}`);
  assert.equal(typeof e.source, 'string', 'source');
  assert.ok(isDate(e.createdAt), 'createdAt');
  return e;
}

/** The Job: { id, machineId, action, status, attempts, result, error, createdAt, updatedAt }. */
export function assertJob(j) {
  for (const k of ['id', 'machineId', 'action', 'status', 'attempts', 'result', 'error', 'createdAt', 'updatedAt']) {
    assert.ok(k in j, `job.${k} missing: ${JSON.stringify(j)}`);
  }
  assert.match(j.id, UUID_RE, 'job id');
  assert.match(j.machineId, UUID_RE, 'job machineId');
  assert.ok(Number.isInteger(j.attempts) && j.attempts >= 0, 'attempts');
  assert.ok(isDate(j.createdAt) && isDate(j.updatedAt), 'job dates');
  return j;
}

/** Non-increasing createdAt (newest first). */
export function assertNewestFirst(items, label) {
  for (let i = 1; i < items.length; i++) {
    assert.ok(
      Date.parse(items[i - 1].createdAt) >= Date.parse(items[i].createdAt),
      `${label}: item ${i} (${items[i].createdAt}) is newer than item ${i - 1} (${items[i - 1].createdAt})`,
    );
  }
}
