// The keys and the associated data (API.md §7): a ciphertext moved into another row (as
// the superuser) does not decrypt there, nor does one sealed under a key the Workers do
// not have; either fails that delivery attempt with a clear reason (the functions log
// names the secret's id, never its value) and the webhook is not sent. A value sealed
// under SECRETS_KEY_PREVIOUS (the test stack has one) is resealed under SECRETS_KEY by the
// scheduler's re-encrypt pass, and still reaches the machine.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { env } from '../lib/env.mjs';
import { signIn } from '../lib/api.mjs';
import { createMachine, rows, sql } from '../lib/machines.mjs';
import { jobRow, tick, waitFor, waitForStatus } from '../lib/runner.mjs';
import {
  forms, functionsLogLines, keyId, newValue, open, putSecret, seal, scanLogs, secretRow, watchRunner,
} from '../lib/secrets.mjs';

/** The job error of such an attempt (shared/src/runner/deliver.rs SECRET_REFUSED). */
const REFUSED = 'a secret in scope could not be decrypted (wrong SECRETS_KEY, or a ciphertext not of its row)';

let runner;
const cleanup = [];
before(() => { runner = watchRunner(); });
after(async () => {
  runner?.close();
  if (cleanup.length) await sql`delete from secrets where id in ${sql(cleanup)}`;
});

/** Creates a machine; waits until its create job's first attempt is recorded; the job. */
async function refusedCreate(user) {
  const m = await createMachine(user);
  const jobId = m.pendingJob.id;
  const job = await waitFor(() => jobRow(jobId), (j) => j.attempts >= 1, { what: `the first delivery attempt of ${jobId}` });
  return { m, jobId, job };
}

async function assertRefused(user, secretId, why, values) {
  const { m, jobId, job } = await refusedCreate(user);
  assert.equal(job.error, REFUSED, JSON.stringify(job));
  assert.equal(job.delivered_at, null, 'not delivered');
  const [event] = await rows`select details from machine_events where machine_id = ${m.id} and event_type = 'job.delivery_failed' order by created_at limit 1`;
  assert.equal(event?.details?.error, REFUSED, JSON.stringify(event));
  const lines = await waitFor(() => functionsLogLines(`secret ${secretId} could not be decrypted`), (l) => l.length > 0,
    { what: `the functions log to name secret ${secretId}` });
  assert.ok(lines.some((l) => l.includes(why) && l.includes(jobId)), lines.join('\n'));
  assert.equal(runner.received(jobId), null, 'the runner never got the webhook');
  assert.deepEqual(scanLogs(values.flatMap(forms)), [], 'a value in a log');
}

test('a ciphertext moved to another row does not decrypt there: the attempt fails and says why', { timeout: 30000 }, async () => {
  const user = await signIn();
  const values = [newValue('moved-from'), newValue('moved-to')];
  const from = await putSecret(user, { name: 'MOVED_FROM', value: values[0] });
  const to = await putSecret(user, { name: 'MOVED_TO', value: values[1] });
  await sql`update secrets t set ciphertext = f.ciphertext, nonce = f.nonce, key_id = f.key_id
    from secrets f where f.id = ${from.id} and t.id = ${to.id}`;
  // Node agrees: the moved bytes authenticate only under their own row's id.
  const moved = await secretRow(to.id);
  assert.throws(() => open(env.SECRETS_KEY, to.id, moved));
  assert.ok(open(env.SECRETS_KEY, from.id, moved).startsWith('hangar-test-secret-moved-from'));
  await assertRefused(user, to.id, 'authentication failed', values);
});

test('a value sealed under a key the Workers do not have: the attempt fails naming that key id', { timeout: 30000 }, async () => {
  const user = await signIn();
  const value = newValue('unknown-key');
  const s = await putSecret(user, { name: 'OTHER_KEY', value: newValue('replaced') });
  const stranger = randomBytes(32).toString('base64');
  const sealed = seal(stranger, s.id, value);
  cleanup.push(s.id);
  await sql`update secrets set ciphertext = ${sealed.ciphertext}, nonce = ${sealed.nonce}, key_id = ${sealed.keyId} where id = ${s.id}`;
  await assertRefused(user, s.id, `its key ${keyId(stranger)} is neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS`, [value]);
});

test('rotation: a value under SECRETS_KEY_PREVIOUS is resealed under SECRETS_KEY by the scheduler and still delivered', { timeout: 40000 }, async (t) => {
  if (!env.SECRETS_KEY_PREVIOUS) {
    t.skip('this stack has no SECRETS_KEY_PREVIOUS (the test stack has one)');
    return;
  }
  assert.notEqual(keyId(env.SECRETS_KEY_PREVIOUS), keyId(env.SECRETS_KEY));
  const user = await signIn();
  const value = newValue('rotated');
  const s = await putSecret(user, { name: 'OLD_KEY', value: newValue('before-rotation') });
  const old = seal(env.SECRETS_KEY_PREVIOUS, s.id, value);
  await sql`update secrets set ciphertext = ${old.ciphertext}, nonce = ${old.nonce}, key_id = ${old.keyId} where id = ${s.id}`;

  const row = await waitFor(async () => { await tick(); return secretRow(s.id); }, (r) => r.key_id === keyId(env.SECRETS_KEY),
    { timeoutMs: 20000, intervalMs: 200, what: 'the re-encrypt pass to reseal the secret under SECRETS_KEY' });
  assert.notEqual(row.nonce, old.nonce, 'a fresh nonce');
  assert.equal(open(env.SECRETS_KEY, s.id, row), value, 'the same value, under the current key, bound to the same row');

  const m = await createMachine(user);
  await waitForStatus(user, m.id, 'running', { timeoutMs: 20000 });
  const body = await waitFor(() => runner.received(m.pendingJob.id), Boolean, { what: 'the runner to journal the create' });
  assert.deepEqual(body.secrets, { OLD_KEY: value });
});
