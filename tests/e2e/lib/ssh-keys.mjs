// Helpers for the SSH key tests (API.md §7): the `ssh-keys` function by path, real keys
// made with OpenSSH's ssh-keygen (Debian's openssh-client; scripts/setup.sh installs it)
// together with the fingerprint `ssh-keygen -lf` prints for each, and the SshKey shape;
// machines' keys: the authorize_keys jobs and their payloads, and machines in transit (on
// their way to running, with the job that will bring them there) and their arrival.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fn, ok, show, UUID_RE } from './api.mjs';
import { newName, rows, sql, value } from './machines.mjs';
import { callback, claim, insertJob, insertMachine } from './runner.mjs';

/** The `ssh-keys` function as `user`: sshKeys(user, { id, method, body }). */
export const sshKeys = (user, { id, method, body, headers } = {}) =>
  fn(id === undefined ? 'ssh-keys' : `ssh-keys/${id}`, { token: user.accessToken, method, body, headers });

/** POST ssh-keys as `user` with a new key (or `publicKey`), asserting 201; the SshKey. */
export async function addKey(user, publicKey = keygen('ed25519').line, name = newName('key')) {
  return ok(await sshKeys(user, { body: { name, publicKey } }), 201);
}

/**
 * A fresh key pair from ssh-keygen: { line (the .pub line), fingerprint and bits as
 * `ssh-keygen -lf` prints them, kind (its type word) }. `type` and `bits` are ssh-keygen's
 * -t and -b.
 */
export function keygen(type, bits, comment = `${newName('u')}@hangar`) {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-keygen-'));
  try {
    const file = join(dir, 'key');
    const args = ['-q', '-t', type, '-N', '', '-C', comment, '-f', file];
    if (bits) args.push('-b', String(bits));
    execFileSync('ssh-keygen', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const line = readFileSync(`${file}.pub`, 'utf8').trim();
    // "256 SHA256:abc… comment (ED25519)"
    const [size, fingerprint] = execFileSync('ssh-keygen', ['-l', '-f', `${file}.pub`], { encoding: 'utf8' }).trim().split(' ');
    return { line, fingerprint, bits: Number(size), kind: line.split(' ')[0] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const SSH_KEY_KEYS = ['id', 'name', 'fingerprint', 'type', 'createdAt'];

/** The SshKey of API.md §7 (bits and publicKey besides). */
export function assertSshKey(k) {
  for (const f of SSH_KEY_KEYS) assert.ok(f in k, `sshKey.${f} missing: ${JSON.stringify(k)}`);
  assert.match(k.id, UUID_RE);
  assert.match(k.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
  assert.equal(typeof k.name, 'string');
  assert.ok(!Number.isNaN(Date.parse(k.createdAt)), 'createdAt');
  for (const key of Object.keys(k)) assert.ok(!key.includes('_'), `camelCase ${key}`);
  return k;
}

/** A key of `user`'s, made with ssh-keygen and added: { id, line, fingerprint }. */
export async function keyOf(user, type = 'ed25519', bits) {
  const k = keygen(type, bits);
  const key = await addKey(user, k.line);
  assert.equal(key.fingerprint, k.fingerprint);
  return { id: key.id, line: k.line, fingerprint: k.fingerprint };
}

/** The authorize_keys jobs of a machine, oldest first. */
export const authorizeJobs = (machineId) =>
  rows`select id, status, result from jobs where machine_id = ${machineId} and action = 'authorize_keys' order by created_at`;

/** The webhook body of a job, as the Workers send it (private.delivery_json). */
export const payloadOf = (jobId) => value`select private.delivery_json(j) from jobs j where j.id = ${jobId}`;

const ON_THE_WAY = { provisioning: 'create', starting: 'start', restarting: 'restart' };

/**
 * A machine of `owner`'s on its way to running (`status`: provisioning, starting or
 * restarting), straight into the table, with `keys` (of any account, in order) pinned and
 * the job it waits on already at the runner (status running; the stack never delivers it).
 * { id, jobId }.
 */
export async function machineInTransit(owner, status, { teamId = null, keys = [] } = {}) {
  const id = await insertMachine(owner.user.id, { status, providerInstanceId: status === 'provisioning' ? null : `sim-${newName('i')}` });
  if (teamId) await sql`update machines set team_id = ${teamId} where id = ${id}`;
  for (const [position, key] of keys.entries()) {
    await sql`insert into machine_ssh_keys (machine_id, ssh_key_id, position) values (${id}, ${key.id}, ${position})`;
  }
  const jobId = await insertJob(id, owner.user.id, ON_THE_WAY[status], { status: 'running' });
  return { id, jobId };
}

/** The runner reports the job a machine in transit waits on succeeded: it arrives at running. */
const fences = new Map();
export async function arrive(jobId) {
  // A report carries the fence of the runner's claim (API.md §5, "Claims"); a job already
  // finished cannot be claimed again, so a second report repeats the first one's fence.
  const fence = (await claim(jobId)).fence ?? fences.get(jobId);
  fences.set(jobId, fence);
  const res = await callback({ jobId, status: 'succeeded', fence, outputs: { ipAddress: '192.0.2.254', providerInstanceId: `sim-${jobId}` } });
  assert.equal(res.status, 200, show(res));
  return res;
}
