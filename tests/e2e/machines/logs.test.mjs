// log-machine-event and get-logs / get-recent-logs (API.md §3); recentEvents of get-machine-status.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fn, ok, fails, signIn, show } from '../lib/api.mjs';
import { createMachine, getStatus, eventsOf, counts, assertEvent, assertNewestFirst } from '../lib/machines.mjs';
import { stopRunner, startRunner } from '../lib/runner.mjs';

// The runner stays down: jobs wait in the outbox, as these tests assume.
before(stopRunner);
after(startRunner);

let user, m;
const logged = []; // events logged by the tests below, in order

before(async () => {
  user = await signIn();
  m = await createMachine(user);
});

const logEvent = (body) => fn('log-machine-event', { token: user.accessToken, body: { machineId: m.id, ...body } });
const getLogs = (query, name = 'get-logs') => fn(name, { token: user.accessToken, query: { machineId: m.id, ...query } });

test('log-machine-event → 201 Event with source "user"', async () => {
  const e = assertEvent(ok(await logEvent({ eventType: 'deploy.note', details: { a: 1 }, level: 'warn' }), 201));
  assert.equal(e.machineId, m.id);
  assert.equal(e.eventType, 'deploy.note');
  assert.deepEqual(e.details, { a: 1 });
  assert.equal(e.level, 'warn');
  assert.equal(e.source, 'user');
  const [row] = (await eventsOf(m.id)).filter((r) => r.id === e.id);
  assert.ok(row, 'stored');
  assert.equal(row.owner_id, user.user.id);
  assert.equal(row.source, 'user');
  assert.equal(row.level, 'warn');
  logged.push(e);
});

test('log-machine-event: details is any JSON value (API.md §3: a seed sends a plain string), stored as given', async () => {
  for (const details of ['Event description', 42, [1, 'two', { three: 3 }], true, { nested: { a: [1] } }]) {
    const e = assertEvent(ok(await logEvent({ eventType: 'seed.note', details }), 201));
    assert.deepEqual(e.details, details);
    const [row] = (await eventsOf(m.id)).filter((r) => r.id === e.id);
    assert.deepEqual(row.details, details, 'stored as given');
    logged.push(e);
  }
  const e = assertEvent(ok(await logEvent({ eventType: 'seed.note', details: null }), 201));
  assert.equal(e.details, null);
  logged.push(e);
  const big = 'x'.repeat(16 * 1024);
  const res = await logEvent({ eventType: 'seed.note', details: big });
  assert.equal(res.status, 400, show(res));
  assert.equal(res.json.details.field, 'details');
});

test('log-machine-event: level defaults to info', async () => {
  const e = assertEvent(ok(await logEvent({ eventType: 'plain' }), 201));
  assert.equal(e.level, 'info');
  logged.push(e);
});

test('log-machine-event: bad level, empty or long eventType, unknown fields → 400, nothing stored', async () => {
  const before = (await counts(m.id)).events;
  fails(await logEvent({ eventType: 'x', level: 'debug' }), 400, 'validation_error', 'level');
  fails(await logEvent({ eventType: 'x', level: 'WARN' }), 400, 'validation_error', 'level');
  fails(await logEvent({ eventType: '' }), 400, 'validation_error', 'eventType');
  fails(await logEvent({ eventType: 'e'.repeat(65) }), 400, 'validation_error', 'eventType');
  fails(await logEvent({}), 400, 'validation_error', 'eventType');
  fails(await logEvent({ eventType: 'x', source: 'system' }), 400, 'validation_error', 'source');
  assert.equal((await counts(m.id)).events, before);
  // 64 characters is fine.
  logged.push(assertEvent(ok(await logEvent({ eventType: 'e'.repeat(64) }), 201)));
});

test('get-logs: newest first, limit, before', async () => {
  for (let i = 0; i < 12; i++) logged.push(ok(await logEvent({ eventType: `step.${i}`, details: { i } }), 201));
  const db = await eventsOf(m.id);

  const all = ok(await getLogs({ limit: '500' }));
  assert.ok(Array.isArray(all.events));
  all.events.forEach(assertEvent);
  assert.equal(all.events.length, db.length, 'every event of the machine');
  assertNewestFirst(all.events, 'get-logs');
  assert.equal(all.events[0].eventType, 'step.11', 'the newest first');
  assert.deepEqual(new Set(all.events.map((e) => e.id)), new Set(db.map((e) => e.id)));

  const five = ok(await getLogs({ limit: '5' }));
  assert.deepEqual(five.events.map((e) => e.eventType), ['step.11', 'step.10', 'step.9', 'step.8', 'step.7']);

  const dflt = ok(await getLogs({}));
  assert.equal(dflt.events.length, Math.min(50, db.length), 'default limit 50');

  const pivot = five.events[4]; // step.7
  const older = ok(await getLogs({ before: pivot.createdAt, limit: '500' }));
  assert.ok(older.events.length > 0);
  for (const e of older.events) {
    assert.ok(Date.parse(e.createdAt) < Date.parse(pivot.createdAt), `${e.eventType} (${e.createdAt}) is not older than ${pivot.createdAt}`);
  }
  assert.equal(older.events[0].eventType, 'step.6');
  assert.ok(!older.events.some((e) => /^step\.(7|8|9|10|11)$/.test(e.eventType)));
  assertNewestFirst(older.events, 'get-logs before');
});

test('get-recent-logs serves the same as get-logs', async () => {
  const a = ok(await getLogs({ limit: '20' }));
  const b = ok(await getLogs({ limit: '20' }, 'get-recent-logs'));
  assert.deepEqual(b, a);
});

test('get-logs: bad limit and before → 400 naming the parameter', async () => {
  for (const limit of ['0', '501', 'abc']) fails(await getLogs({ limit }), 400, 'validation_error', 'limit');
  ok(await getLogs({ limit: '1' }));
  fails(await getLogs({ before: 'not-a-date' }), 400, 'validation_error', 'before');
});

test('get-machine-status: recentEvents are the 10 newest', async () => {
  const status = ok(await getStatus(user, m.id));
  const ten = ok(await getLogs({ limit: '10' }));
  assert.equal(status.recentEvents.length, 10);
  status.recentEvents.forEach(assertEvent);
  assertNewestFirst(status.recentEvents, 'recentEvents');
  assert.deepEqual(status.recentEvents.map((e) => e.id), ten.events.map((e) => e.id));
});
