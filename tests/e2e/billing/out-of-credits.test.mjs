// Out of credits (API.md §3, §4; issue 9): when an account's balance reaches zero the
// meter stops its running machines, each with a stop job and an event that says why;
// create-machine and start-machine then answer 402 until credits are added. Both paths:
// the meter called directly (a `now` far enough ahead to use up the signup credits), and
// the scheduler's tick over HTTP, which also delivers the stop jobs to the runner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fn, ok, fails, signIn, signupCredits } from '../lib/api.mjs';
import { env } from '../lib/env.mjs';
import { createRaw, act, getStatus, setBalance, value, sql, eventsOf, jobsOf, assertMachine } from '../lib/machines.mjs';
import { waitForStatus, logsOf } from '../lib/runner.mjs';
import { meter, ledger, addCredits } from '../lib/billing.mjs';

const tickOverHttp = async () => ok(await fn('scheduler', { method: 'POST', token: env.SUPABASE_SERVICE_ROLE_KEY }));

test('the meter stops a machine when the balance reaches zero, with an event; create and start answer 402 until credits are added', async () => {
  const u = await signIn();
  const uid = u.user.id;
  const m = ok(await createRaw(u, { tier: 'dev.xlarge' }), 201);
  await waitForStatus(u, m.id, 'running', { timeoutMs: 30000 });

  // 200 hours of dev.xlarge (4800 / 730 cents an hour) is more than the signup credits.
  const at = await value`select (last_billed_at + interval '200 hours')::text from machines where id = ${m.id}`;
  const out = await meter(at, uid);
  assert.equal(out.chargedCents, Math.floor((4800 * 200) / 730), JSON.stringify(out));
  assert.deepEqual(out.stopped, [m.id], 'the meter stops the running machine');
  assert.equal(out.deliveries.length, 1, 'and hands its stop job over for delivery');
  const l = await ledger(uid);
  assert.ok(l.balance <= 0, `balance ${l.balance}`);
  assert.equal(l.balance, signupCredits - out.chargedCents);
  assert.equal(l.balance, l.signup + l.credits - l.charges, 'the ledger still explains the balance');

  const stopping = assertMachine(ok(await getStatus(u, m.id)));
  assert.equal(stopping.status, 'stopping');
  assert.equal(stopping.pendingJob?.action, 'stop');
  assert.equal(stopping.pendingJob?.id, out.deliveries[0].jobId);
  const events = await logsOf(u, m.id);
  const why = events.find((e) => e.eventType === 'billing.out_of_credits');
  assert.ok(why, `an event says why: ${JSON.stringify(events.map((e) => e.eventType))}`);
  assert.equal(why.level, 'warn');
  assert.equal(why.source, 'system');
  assert.equal(why.details.reason, 'out_of_credits');
  assert.equal(why.details.balanceCents, l.balance);
  assert.equal(why.details.jobId, out.deliveries[0].jobId);
  assert.match(why.details.message, /out of credits/);
  assert.ok(events.some((e) => e.eventType === 'machine.stop_requested' && e.details.jobId === why.details.jobId), 'and the stop itself');

  // Nothing more to do at the same moment: no charge, no second stop job.
  const again = await meter(at, uid);
  assert.equal(again.charges, 0);
  assert.deepEqual(again.stopped, []);
  assert.equal((await jobsOf(m.id)).filter((j) => j.action === 'stop').length, 1);

  // No new machine while at zero.
  const refused = fails(await createRaw(u, { tier: 'dev.small' }), 402, 'insufficient_credits');
  assert.equal(refused.details.balanceCents, l.balance);
  assert.equal(refused.details.requiredCents, 1);

  // The stop job reaches the runner (due now, as if its lease had run out: the scheduler
  // takes it over), and the machine stops. Then start is refused too.
  await sql`update jobs set next_attempt_at = now() where id = ${out.deliveries[0].jobId}`;
  await tickOverHttp();
  await waitForStatus(u, m.id, 'stopped', { timeoutMs: 30000 });
  const startRefused = fails(await act(u, 'start', m.id), 402, 'insufficient_credits');
  assert.equal(startRefused.details.requiredCents, 7, 'one hour of dev.xlarge');
  assert.equal((await getStatus(u, m.id)).json.data.status, 'stopped', 'a refused start changes nothing');

  // Credits bring it back.
  await addCredits(uid, -l.balance + 100);
  ok(await act(u, 'start', m.id), 202);
  ok(await createRaw(u, { tier: 'dev.small' }), 201);
});

test('the scheduler tick stops the running machines of an account at zero and delivers the stop jobs', async () => {
  const u = await signIn();
  const m = ok(await createRaw(u, { tier: 'dev.small' }), 201);
  await waitForStatus(u, m.id, 'running', { timeoutMs: 30000 });
  // A balance that went to zero (set here directly: the test is about the tick, not how
  // the balance got there).
  await setBalance(u.user.id, 0);
  const report = await tickOverHttp();
  for (const k of ['claimed', 'delivered', 'refused', 'charges', 'chargedCents', 'skipped', 'stopped', 'pruned']) {
    assert.ok(Number.isInteger(report[k]) && report[k] >= 0, `${k}: ${JSON.stringify(report)}`);
  }
  assert.equal(report.claimed, report.delivered + report.refused, JSON.stringify(report));
  // This tick, or one of another test running at the same time, stopped it; the job went
  // to the runner, which stopped the machine.
  await waitForStatus(u, m.id, 'stopped', { timeoutMs: 30000 });
  const events = await eventsOf(m.id);
  const why = events.filter((e) => e.event_type === 'billing.out_of_credits');
  assert.equal(why.length, 1, 'one out-of-credits event');
  assert.equal(why[0].details.balanceCents, 0);
  const stops = (await jobsOf(m.id)).filter((j) => j.action === 'stop');
  assert.equal(stops.length, 1, 'one stop job');
  assert.equal(stops[0].status, 'succeeded');
  assert.ok(stops[0].delivered_at, 'delivered by a tick');
  fails(await act(u, 'start', m.id), 402, 'insufficient_credits');
});

test('a machine that is not running is not stopped, and an account above zero keeps running', async () => {
  const [poor, rich] = await Promise.all([signIn(), signIn()]);
  const [pm, rm] = await Promise.all([createRaw(poor, { tier: 'dev.small' }), createRaw(rich, { tier: 'dev.small' })]);
  const p = ok(pm, 201);
  const r = ok(rm, 201);
  await waitForStatus(rich, r.id, 'running', { timeoutMs: 30000 });
  ok(await act(poor, 'stop', (await waitForStatus(poor, p.id, 'running', { timeoutMs: 30000 })).id), 202);
  await waitForStatus(poor, p.id, 'stopped', { timeoutMs: 30000 });
  await setBalance(poor.user.id, -5);
  const out = await meter(new Date(), poor.user.id);
  assert.deepEqual(out.stopped, [], 'a stopped machine is left alone');
  const richOut = await meter(new Date(), rich.user.id);
  assert.deepEqual(richOut.stopped, []);
  assert.equal(ok(await getStatus(rich, r.id)).status, 'running');
  assert.ok(!(await eventsOf(p.id)).some((e) => e.event_type === 'billing.out_of_credits'), 'no out-of-credits event');
});
