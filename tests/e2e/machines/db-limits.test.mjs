// Limits the database holds (API.md §1; issue 15, defects 8 and 11): what /rpc reaches is
// limited in SQL, from private.settings, with `rate_limited` (429 through the functions,
// with Retry-After), so a caller of PostgREST meets the same limits as the Workers' users:
//   creations per account per hour, transitions of one machine per minute (a delete is
//   never refused), events logged on one machine per minute;
// and hangar_create_machine through /rpc applies the Worker's defaults and refusals
// instead of answering a constraint's raw error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fn, fails, ok, rest, show, signIn } from '../lib/api.mjs';
import { createMachine, createRaw, act, setStatus, setMachineLimit, setBalance, sql, value, DEFAULT_REGIONS, DEFAULT_PROVIDER } from '../lib/machines.mjs';
import { stopRunner, startRunner } from '../lib/runner.mjs';

before(stopRunner);
after(startRunner);

const setting = async (name) => Number(await value`select value from private.settings where name = ${name}`);
const rpc = (user, name, body) => rest(`/rpc/${name}`, { method: 'POST', token: user.accessToken, body });

/** A 200 /rpc answer that refuses with `code`; returns its details. */
function refusedRpc(res, code, field) {
  assert.equal(res.status, 200, show(res));
  assert.equal(res.json?.ok, false, show(res));
  assert.equal(res.json.error, code, show(res));
  if (field) assert.equal(res.json.details?.field, field, show(res));
  assert.doesNotMatch(res.text, /violates|constraint|SQLSTATE|null value|failing row/i, 'no raw database error');
  return res.json.details;
}

function limitedFn(res) {
  fails(res, 429, 'rate_limited');
  const retry = Number(res.headers.get('retry-after'));
  assert.ok(Number.isInteger(retry) && retry >= 1, `Retry-After ${res.headers.get('retry-after')}`);
  return retry;
}

test('creations per account per hour: the limit holds for create-machine and for /rpc alike', { timeout: 120000 }, async () => {
  const u = await signIn();
  const limit = await setting('max_machine_creates_per_hour');
  assert.equal(limit, 60);
  await setMachineLimit(u.user.id, 1000);
  await setBalance(u.user.id, 1_000_000);
  // Half through each path, deleting as we go (a create/delete cycle was free compute).
  for (let i = 0; i < limit; i++) {
    let id;
    if (i % 2) {
      const res = await rpc(u, 'hangar_create_machine', { p_name: `lim-${i}`, p_tier: 'dev.small', p_provider: 'aws', p_region: 'us-east-1', p_image: 'ubuntu-22.04' });
      assert.equal(res.json?.ok, true, show(res));
      id = res.json.data.machine.id;
    } else {
      id = ok(await createRaw(u, { name: `lim-${i}` }), 201).id;
    }
    const del = await rpc(u, 'hangar_machine_action', { p_machine_id: id, p_action: 'delete' });
    assert.equal(del.json?.ok, true, show(del));
  }
  const retry = limitedFn(await createRaw(u, { name: 'lim-over' }));
  assert.ok(retry <= 3600);
  const details = refusedRpc(await rpc(u, 'hangar_create_machine', { p_name: 'lim-over', p_tier: 'dev.small', p_provider: 'aws', p_region: 'us-east-1', p_image: 'ubuntu-22.04' }), 'rate_limited');
  assert.equal(details.limit, limit);
  assert.equal(await value`select count(*)::int from machines where owner_id = ${u.user.id}`, limit, 'nothing more was created');
  // An hour later (the window slides) the account may create again.
  await sql`update machines set created_at = created_at - interval '61 minutes' where owner_id = ${u.user.id}`;
  ok(await createRaw(u, { name: 'lim-later' }), 201);
});

test('transitions of one machine per minute: the limit holds for the functions and for /rpc; a delete is never refused', async () => {
  const u = await signIn();
  const limit = await setting('max_actions_per_machine_per_minute');
  assert.equal(limit, 20);
  const m = await createMachine(u); // its create job counts as the first transition
  await setStatus(m.id, 'running');
  let made = 1;
  while (made < limit) {
    const res = made % 2 ? await act(u, 'stop', m.id) : await rpc(u, 'hangar_machine_action', { p_machine_id: m.id, p_action: 'start' });
    assert.ok(res.status === 202 || res.json?.ok === true, show(res));
    made++;
    await setStatus(m.id, made % 2 ? 'running' : 'stopped');
  }
  // 20 in the last minute: the next stop (function) and start (/rpc) are refused …
  const jobs = await value`select count(*)::int from jobs where machine_id = ${m.id}`;
  if ((await value`select status from machines where id = ${m.id}`) === 'running') {
    limitedFn(await act(u, 'stop', m.id));
  } else {
    refusedRpc(await rpc(u, 'hangar_machine_action', { p_machine_id: m.id, p_action: 'start' }), 'rate_limited');
  }
  refusedRpc(await rpc(u, 'hangar_machine_action', { p_machine_id: m.id, p_action: 'restart' }), (await value`select status from machines where id = ${m.id}`) === 'running' ? 'rate_limited' : 'invalid_state_transition');
  assert.equal(await value`select count(*)::int from jobs where machine_id = ${m.id}`, jobs, 'no job for a refused transition');
  // … a repeat that changes nothing is still answered, and the delete goes through.
  const del = await rpc(u, 'hangar_machine_action', { p_machine_id: m.id, p_action: 'delete' });
  assert.equal(del.json?.ok, true, show(del));
  assert.equal(del.json.data.machine.status, 'terminating');
  // Another machine of the same account is not limited by this one.
  const other = await createMachine(u);
  await setStatus(other.id, 'running');
  ok(await act(u, 'stop', other.id), 202);
});

test('events logged on one machine per minute: the limit holds for log-machine-event and for /rpc', async () => {
  const u = await signIn();
  const limit = await setting('max_events_per_machine_per_minute');
  assert.equal(limit, 60);
  const m = await createMachine(u); // the create's own event counts
  const have = Number(await value`select count(*) from machine_events where machine_id = ${m.id} and source = 'user'`);
  for (let i = have; i < limit; i++) {
    const res = i % 2
      ? await fn('log-machine-event', { token: u.accessToken, body: { machineId: m.id, eventType: 'note', details: i } })
      : await rpc(u, 'hangar_log_event', { p_machine_id: m.id, p_event_type: 'note', p_details: i });
    assert.ok(res.status === 201 || res.json?.ok === true, show(res));
  }
  limitedFn(await fn('log-machine-event', { token: u.accessToken, body: { machineId: m.id, eventType: 'note' } }));
  refusedRpc(await rpc(u, 'hangar_log_event', { p_machine_id: m.id, p_event_type: 'note' }), 'rate_limited');
  assert.equal(Number(await value`select count(*) from machine_events where machine_id = ${m.id} and source = 'user'`), limit);
  // Concurrent notes on a fresh machine: exactly the limit is kept.
  const n = await createMachine(u);
  const results = await Promise.all(Array.from({ length: limit + 20 }, () =>
    rpc(u, 'hangar_log_event', { p_machine_id: n.id, p_event_type: 'burst' })));
  assert.equal(results.filter((r) => r.json?.ok === true).length, limit - 1, 'the create event and 59 notes');
  assert.equal(results.filter((r) => r.json?.error === 'rate_limited').length, 21);
});

test('hangar_create_machine through /rpc: the Worker\'s defaults, and refusals naming the field (never a raw database error)', async () => {
  const u = await signIn();
  // Name and tier only (defect 11 reproduced with this call): provider, region and image default.
  const res = await rpc(u, 'hangar_create_machine', { p_name: '  rpc-defaults ', p_tier: 'dev.medium' });
  assert.equal(res.json?.ok, true, show(res));
  const viaRpc = res.json.data.machine;
  const viaFn = ok(await createRaw(u, { name: 'fn-defaults', tier: 'dev.medium' }), 201);
  assert.equal(viaRpc.name, 'rpc-defaults', 'trimmed, as the Worker trims');
  for (const k of ['tier', 'provider', 'region', 'image']) assert.equal(viaRpc[k], viaFn[k], `${k}: the same default on both paths`);
  assert.equal(viaRpc.provider, DEFAULT_PROVIDER);
  assert.equal(viaRpc.region, DEFAULT_REGIONS[DEFAULT_PROVIDER]);
  const bare = await rpc(u, 'hangar_create_machine', { p_name: 'rpc-bare' });
  assert.equal(bare.json?.ok, true, show(bare));
  assert.equal(bare.json.data.machine.tier, 'dev.small');

  const before = await value`select count(*)::int from machines where owner_id = ${u.user.id}`;
  const bad = [
    [{}, 'name'], [{ p_name: null }, 'name'], [{ p_name: 'bad/name' }, 'name'], [{ p_name: 'x'.repeat(64) }, 'name'],
    [{ p_name: 'ok', p_tier: 'dev.huge' }, 'tier'], [{ p_name: 'ok', p_provider: 'digitalocean' }, 'provider'],
    [{ p_name: 'ok', p_region: 'US East!' }, 'region'], [{ p_name: 'ok', p_image: 'bad image' }, 'image'],
    [{ p_name: 'ok', p_configuration: [1] }, 'configuration'], [{ p_name: 'ok', p_configuration: 'text' }, 'configuration'],
    [{ p_name: 'ok', p_ssh_public_key: 'hello' }, 'sshPublicKey'], [{ p_name: 'ok', p_idempotency_key: '' }, 'Idempotency-Key'],
  ];
  for (const [body, field] of bad) refusedRpc(await rpc(u, 'hangar_create_machine', body), 'validation_error', field);
  assert.equal(await value`select count(*)::int from machines where owner_id = ${u.user.id}`, before, 'a refusal creates nothing');
});
