// Every billed second is paid (API.md §4 "Every second is paid"; issue 15, defect 3).
//
// 1. Regression, through the functions and through /rpc: a dev.xlarge that ran a few
//    minutes (less than a cent) and was deleted pays one cent once it is terminated; it
//    was free before (balance 1000 → 1000, no charge record).
// 2. A property test against an independent model: random machine lifetimes, each a chain
//    of billed spans of 1 s to 100 h with stops, starts and deletes, over every tier, with
//    meter runs at random moments (some of them concurrent). The real status trigger
//    (private.machine_clock) and the real meter (hangar_meter) do the accounting; billed
//    time is made long by moving a running machine's clock back (`last_billed_at`), and
//    each span's real length is read from the database's own transaction clock, so the
//    model knows every µs billed exactly. It must hold, per machine: the cents charged are
//    the billed units rounded up to the cent (every second paid, at most one cent rounded
//    up per lifetime); the charge records cover the billed time exactly once (never
//    charged twice); nothing is left owing; more meter runs charge nothing. Per account:
//    balance = signup + credits − charges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fn, ok, rest, signIn } from '../lib/api.mjs';
import { createRaw, act, sql, value, TIERS } from '../lib/machines.mjs';
import { UNITS_PER_CENT as D, meter, ledger, addCredits, chargedTo, prng } from '../lib/billing.mjs';
import { tick, waitForStatus } from '../lib/runner.mjs';

const PRICE = Object.fromEntries(Object.entries(TIERS).map(([t, v]) => [t, BigInt(v.pricePerMonthCents)]));
const ceilDiv = (a, b) => (a + b - 1n) / b;

/** Moves a running machine's billing clock back by `seconds`: as if it had run that long. */
const ranFor = (id, seconds) =>
  sql`update machines set last_billed_at = last_billed_at - make_interval(secs => ${seconds}) where id = ${id}`;

async function shortLife(u, via) {
  const m = ok(await createRaw(u, { tier: 'dev.xlarge' }), 201);
  await waitForStatus(u, m.id, 'running', { timeoutMs: 30000 });
  await ranFor(m.id, 180); // three minutes of dev.xlarge: about a third of a cent
  if (via === 'rpc') {
    const res = await rest('/rpc/hangar_machine_action', { method: 'POST', token: u.accessToken, body: { p_machine_id: m.id, p_action: 'delete' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.ok, true, res.text);
    // No Worker delivered the terminate: the scheduler does once its lease is over (moved
    // to now here, rather than waited for).
    await sql`update jobs set next_attempt_at = now() where machine_id = ${m.id} and action = 'terminate'`;
    await tick();
  } else {
    ok(await act(u, 'delete', m.id), 202);
  }
  await waitForStatus(u, m.id, 'terminated', { timeoutMs: 30000 });
  return m;
}

for (const via of ['function', 'rpc']) {
  test(`a dev.xlarge deleted after three minutes pays its cent (delete through the ${via})`, async () => {
    const u = await signIn();
    const before = await ledger(u.user.id);
    const m = await shortLife(u, via);
    const first = await meter(null, u.user.id);
    assert.equal(first.charges, 1, JSON.stringify(first));
    assert.equal(await chargedTo(m.id), 1, 'the last fraction of a cent is charged as one cent');
    const after = await ledger(u.user.id);
    assert.equal(after.balance, before.balance - 1, 'balance 1000 → 999');
    assert.equal(after.balance, after.signup + after.credits - after.charges);
    const [rec] = await sql`select usage_seconds::float8 as s from billing_records where machine_id = ${m.id} and kind = 'charge'`;
    assert.ok(rec.s >= 180 && rec.s < 240, `the record covers the billed time: ${rec.s} s`);
    // Terminated and paid: nothing is left, and no later run charges it again.
    assert.equal(await value`select billed_remainder::text from machines where id = ${m.id}`, '0');
    for (let i = 0; i < 3; i++) assert.equal((await meter(null, u.user.id)).charges, 0, 'never charged twice');
    const billing = ok(await fn('get-billing', { token: u.accessToken }));
    assert.equal(billing.balanceCents, before.balance - 1);
  });
}

test('property: every billed second is paid, rounded up at most one cent per machine, never charged twice', async () => {
  const seed = Number(process.env.HANGAR_BILLING_SEED) || Math.floor(Math.random() * 2 ** 31);
  const machines = Number(process.env.HANGAR_BILLING_MACHINES) || 48;
  const rnd = prng(seed);
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  // 1 s to 100 h, log-uniform, so that short and long lives are both common.
  const span = () => Math.max(1, Math.round(Math.exp(rnd() * Math.log(100 * 3600))));
  const u = await signIn();
  const uid = u.user.id;
  await addCredits(uid, 10_000_000, 'funding: the meter must never stop these machines');

  // The model: per machine, its tier's price and the µs billed, known exactly.
  const model = new Map();
  let meterRuns = 0;
  let concurrentRuns = 0;
  let spans = 0;
  let longest = 0;
  const runMeter = async () => {
    if (rnd() < 0.25) {
      // Concurrent runs: the meter's advisory lock serializes them; none charges twice.
      const outs = await Promise.all([meter(null, uid), meter(null, uid), meter(null, uid)]);
      meterRuns += 3;
      concurrentRuns += 3;
      for (const o of outs) assert.deepEqual(o.stopped, []);
    } else {
      assert.deepEqual((await meter(null, uid)).stopped, []);
      meterRuns++;
    }
  };

  const tiers = Object.keys(TIERS);
  for (let i = 0; i < machines; i++) {
    const tier = tiers[i % tiers.length];
    // Made stopped in the table (no runner involved): the clock starts at the first start.
    const [{ id }] = await sql`insert into machines (owner_id, name, status, tier, provider, region, image)
      values (${uid}, ${'every-second-' + i}, 'stopped', ${tier}, 'aws', 'us-east-1', 'ubuntu-24.04') returning id`;
    const m = { tier, price: PRICE[tier], us: 0n };
    model.set(id, m);
    const n = 1 + Math.floor(rnd() * 4);
    for (let k = 0; k < n; k++) {
      const status = pick(['running', 'starting', 'restarting', 'provisioning']);
      const [{ t1 }] = await sql`update machines set status = ${status} where id = ${id}
        returning (extract(epoch from now()) * 1000000)::bigint::text as t1`;
      const seconds = span();
      longest = Math.max(longest, seconds);
      await ranFor(id, seconds);
      if (rnd() < 0.5) await runMeter(); // a run while it is billed: charges the whole cents so far
      const end = k === n - 1 ? 'terminated' : pick(['stopped', 'stopping', 'error', 'terminating']);
      const [{ t3 }] = await sql`update machines set status = ${end} where id = ${id}
        returning (extract(epoch from now()) * 1000000)::bigint::text as t3`;
      m.us += BigInt(seconds) * 1_000_000n + (BigInt(t3) - BigInt(t1));
      spans++;
      if (rnd() < 0.3) await runMeter();
    }
  }
  await runMeter();
  await runMeter();

  const db = await sql`select m.id, m.billed_remainder::text as u,
      coalesce(sum(r.amount_cents), 0)::bigint::text as cents,
      coalesce(round(sum(r.usage_seconds) * 1000000), 0)::bigint::text as usage_us,
      count(r.id)::int as records
    from machines m left join billing_records r on r.machine_id = m.id and r.kind = 'charge'
    where m.owner_id = ${uid} group by m.id`;
  assert.equal(db.length, model.size);
  const off = [];
  let roundedUp = 0n;
  for (const row of db) {
    const m = model.get(row.id);
    const units = m.price * m.us;
    const expect = ceilDiv(units, D);
    if (BigInt(row.cents) !== expect) off.push(`${row.id} (${m.tier}, ${m.us} µs): charged ${row.cents} c, owed ${units} units → ${expect} c`);
    if (row.u !== '0') off.push(`${row.id}: ${row.u} units left owing after termination`);
    // The records' usage covers the billed time once (usage_seconds has µs precision).
    const usage = BigInt(row.usage_us);
    if (usage - m.us > 1n || m.us - usage > 1n) off.push(`${row.id}: records cover ${usage} µs, billed ${m.us} µs`);
    roundedUp += expect * D - units;
  }
  assert.deepEqual(off, [], 'every machine pays exactly its billed units, rounded up to the cent, once');
  assert.ok(roundedUp < BigInt(model.size) * D, 'at most one cent rounded up per machine');
  for (let i = 0; i < 3; i++) assert.equal((await meter(null, uid)).charges, 0, 'later runs charge nothing');

  const l = await ledger(uid);
  assert.equal(l.balance, l.signup + l.credits - l.charges, `balance = signup + credits − charges: ${JSON.stringify(l)}`);
  console.log(`figure: every second paid: seed ${seed}, ${model.size} machines over ${tiers.length} tiers, ${spans} billed spans ` +
    `(longest ${(longest / 3600).toFixed(1)} h), ${meterRuns} meter runs (${concurrentRuns} concurrent), ${l.charges} cents charged, ` +
    `${(Number(roundedUp) / Number(D)).toFixed(2)} cents rounded up in all`);
});
