// Helpers for the machine tests (API.md §3): the database as the superuser (the `postgres`
// client), the state machine as data, machine creation, shape assertions.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { env } from './env.mjs';
import { fn, ok, rest, show, UUID_RE } from './api.mjs';

// ---- the database as the superuser ---------------------------------------------------

/**
 * The stack's database as the superuser (DATABASE_URL), through the `postgres` client: a
 * tagged template whose values are sent as parameters, never spliced into the text:
 *   await sql`select * from jobs where machine_id = ${id}`        → rows (objects)
 *   sql(name) an identifier, sql(list) a list (`in ${sql(ids)}`), sql.json(v) a jsonb value,
 *   sql.begin(async (tx) => …) a transaction.
 * Idle connections close after half a second, so that a test process can exit; after a
 * Postgres restart the next query connects again.
 */
export const sql = postgres(env.DATABASE_URL, {
  max: 4,
  idle_timeout: 0.5,
  connect_timeout: 10,
  prepare: false,
  onnotice: () => {},
});

/** The first column of the first row of a query (null without a row): sql's tag, one value. */
export async function value(strings, ...values) {
  const [row] = await sql(strings, ...values);
  return row ? Object.values(row)[0] : null;
}

/**
 * The rows of a SELECT as JSON objects (snake_case columns), as Postgres renders them with
 * json_agg: timestamps as ISO text, numbers as numbers. The same tag as sql.
 */
export async function rows(strings, ...values) {
  const [{ r }] = await sql`select coalesce(json_agg(t), '[]'::json) as r from (${sql(strings, ...values)}) t`;
  return r;
}

export async function machineRow(id) {
  const [row] = await rows`select * from machines where id = ${id}`;
  return row ?? null;
}

/** Jobs of a machine, oldest first. */
export const jobsOf = (machineId) =>
  rows`select * from jobs where machine_id = ${machineId} order by created_at, id`;

/** Events of a machine, newest first. */
export const eventsOf = (machineId) =>
  rows`select * from machine_events where machine_id = ${machineId} order by created_at desc, id desc`;

/**
 * { jobs, events } counts of a machine, in one query. Delivery bookkeeping events
 * (`job.delivery_failed`, written when the stopped runner refuses a webhook) are not
 * the transition's own and are left out.
 */
export async function counts(machineId) {
  const [c] = await sql`select (select count(*)::int from jobs where machine_id = ${machineId}) as jobs,
    (select count(*)::int from machine_events where machine_id = ${machineId}
       and event_type <> 'job.delivery_failed') as events`;
  return { jobs: c.jobs, events: c.events };
}

export const countMachines = async (ownerId) =>
  Number(await value`select count(*) from machines where owner_id = ${ownerId}`);

export const setBalance = (accountId, cents) =>
  sql`update accounts set credit_balance_cents = ${Number(cents)} where id = ${accountId}`;

/** An operator's per-account machine limit (accounts.max_machines), for tests that need many machines. */
export const setMachineLimit = (accountId, n) =>
  sql`update accounts set max_machines = ${Number(n)} where id = ${accountId}`;

export const OPEN_JOB_STATUSES = ['queued', 'dispatched', 'running'];

/**
 * Puts a machine into `status` directly in the database (as if the runner had done it).
 *   instanceId  provider_instance_id to set (default 'i-test', so that delete goes to
 *               `terminating`); null clears it.
 *   jobs        what the machine's open jobs (queued/dispatched/running) become, as if the
 *               runner had handled them: default 'succeeded' when an instance id is set
 *               ('running' for `provisioning`: the runner is still creating it), and left
 *               alone when instanceId is null (a never-provisioned machine). null: leave alone.
 */
export async function setStatus(id, status, { instanceId = 'i-test', jobs } = {}) {
  if (jobs === undefined) jobs = instanceId === null ? null : status === 'provisioning' ? 'running' : 'succeeded';
  await sql.begin(async (tx) => {
    await tx`update machines set status = ${status}, provider_instance_id = ${instanceId} where id = ${id}`;
    if (jobs) {
      await tx`update jobs set status = ${jobs} where machine_id = ${id} and status in ${tx(OPEN_JOB_STATUSES)}`;
    }
  });
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
  'createdAt', 'updatedAt', 'pendingJob', 'costPerHourCents', 'totalCostCents',
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
  assert.equal(m.costPerHourCents, hourlyCents(m.tier), 'costPerHourCents is the tier\'s hourly price (API.md §3)');
  assert.ok(Number.isInteger(m.totalCostCents) && m.totalCostCents >= 0, `totalCostCents ${m.totalCostCents}`);
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
