// Helpers for the SSH key tests (API.md §7): the `ssh-keys` function by path, real keys
// made with OpenSSH's ssh-keygen (Debian's openssh-client; scripts/setup.sh installs it)
// together with the fingerprint `ssh-keygen -lf` prints for each, and the SshKey shape.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fn, ok, UUID_RE } from './api.mjs';
import { newName } from './machines.mjs';

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
