// The credit ledger and the meter (API.md §4; issue 9 "Ledger invariant"). A long random
// sequence of creates, starts, stops, restarts, deletes, credit additions (add-credits)
// and meter runs at random `now`s (forward, repeated, and earlier than before) ends with:
//   balance = signup + credits − charges, to the cent;
//   every machine charged what an independent model of the meter says it owes (units of
//   1/2,628,000,000,000 cent, within the few ms of clock between the test and Postgres);
//   a second run at the same `now` charges nothing; an earlier `now` charges nothing;
//   get-billing's pages, balance and monthly usage agree with the database.
// Plus the calibration of the price: 730 hours of dev.small cost 600 ± 1 cents.
//
// The meter is called straight through PostgREST (hangar_meter, service role) with a
// `now` of our choosing and limited to the test's account, so that other files' accounts
// are never charged for the future. Nothing here waits for the runner: a machine's
// billed time depends only on whether its status is billed, and every change between
// billed and not billed comes from a request of this test (or a stop of the meter,
// which the meter reports); the runner only moves machines within those two groups.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fn, ok, signIn, signupCredits, sleep, show, UUID_RE } from '../lib/api.mjs';
import { createRaw, act, getStatus, listMachines, setMachineLimit, assertMachine, value, rows, TIERS } from '../lib/machines.mjs';
import { UNITS_PER_CENT as D, meter, ledger, addCredits, clockOf, chargedTo, prng } from '../lib/billing.mjs';
import { waitForStatus } from '../lib/runner.mjs';

const BILLED = new Set(['provisioning', 'starting', 'running', 'restarting']);
const PRICE = Object.fromEntries(Object.entries(TIERS).map(([t, v]) => [t, BigInt(v.pricePerMonthCents)]));
const HOUR = 3_600_000_000n; // µs
const usNow = () => BigInt(Date.now()) * 1000n;
const iso = (us) => new Date(Number(us / 1000n)).toISOString();

test('730 hours of dev.small cost 600 ± 1 cents; the same now again, or an earlier one, charges nothing', async () => {
  const u = await signIn();
  const m = ok(await createRaw(u, { tier: 'dev.small' }), 201);
  // Running first: the meter skips a machine that a transition (here the create's) has locked.
  await waitForStatus(u, m.id, 'running', { timeoutMs: 30000 });
  const at = await value`select (last_billed_at + interval '730 hours')::text from machines where id = ${m.id}`;
  const before = await ledger(u.user.id);
  const first = await meter(at, u.user.id);
  assert.equal(first.charges, 1, JSON.stringify(first));
  const cents = await chargedTo(m.id);
  console.log(`figure: 730 h of dev.small = ${cents} cents (remainder ${(await clockOf(m.id)).remainder} units)`);
  assert.ok(Math.abs(cents - 600) <= 1, `730 h of dev.small cost ${cents} cents`);
  assert.equal(first.chargedCents, cents);

  const again = await meter(at, u.user.id);
  assert.equal(again.charges, 0, `a second run at the same now: ${JSON.stringify(again)}`);
  assert.equal(again.chargedCents, 0);
  const earlier = await meter(await value`select (last_billed_at - interval '100 hours')::text from machines where id = ${m.id}`, u.user.id);
  assert.equal(earlier.charges, 0, `an earlier now: ${JSON.stringify(earlier)}`);

  const after = await ledger(u.user.id);
  assert.equal(after.balance, before.balance - cents, 'the balance fell by the charge');
  assert.equal(after.balance, after.signup + after.credits - after.charges, 'balance = signup + credits − charges');
  assert.equal(after.signup, signupCredits, 'one signup record of SIGNUP_CREDITS_CENTS');

  // The charge as the user sees it: the record (get-billing) and the machine's cost.
  const [rec] = await rows`select * from billing_records where machine_id = ${m.id} and kind = 'charge'`;
  assert.equal(Number(rec.usage_seconds), 730 * 3600, 'the record covers 730 h of billed time');
  const machine = assertMachine(ok(await getStatus(u, m.id)));
  assert.equal(machine.totalCostCents, cents, 'totalCostCents is the sum of its charges');
  assert.equal(machine.costPerHourCents, 1, 'dev.small: 600 / 730 rounded up');
});

test('ledger invariant over a long random sequence of lifecycle actions, credits and meter runs', async () => {
  const seed = Number(process.env.HANGAR_LEDGER_SEED) || Math.floor(Math.random() * 2 ** 31);
  const steps = Number(process.env.HANGAR_LEDGER_STEPS) || 500;
  const rnd = prng(seed);
  const pickOf = (xs) => xs[Math.floor(rnd() * xs.length)];
  const u = await signIn();
  const uid = u.user.id;
  await setMachineLimit(uid, 1000);

  // The model: per machine, what the meter has accounted for (U, units), up to when (W,
  // µs), and what it charged; `skewUs` bounds how far our clock may be from Postgres's
  // over the moments that moved its clock in real time (the length of those requests).
  const model = new Map();
  const tally = {};
  const count = (k) => { tally[k] = (tally[k] ?? 0) + 1; };
  let clock = usNow() + HOUR; // the meter's `now`s run ahead of real time
  let meterRuns = 0;
  let repeats = 0;
  let earlier = 0;
  let credited = 0;
  let skippedRuns = 0;

  const enter = (m, t, dur) => {
    if (m.W === null || t > m.W) {
      m.W = t;
      m.skewUs += dur;
    }
    m.billed = true;
  };
  const leave = (m, t, dur) => {
    if (m.W !== null && t > m.W) {
      m.U += m.price * (t - m.W);
      m.W = t;
      m.skewUs += dur;
    }
    m.billed = false;
  };
  // `final`: the run after every deleted machine is terminated, which charges what each
  // still owes below a cent as one cent (API.md §4). An earlier run may have done so for a
  // machine already terminated then; the model charges that cent here instead, the same
  // total either way.
  const meterModel = (n, skipped, final = false) => {
    for (const [id, m] of model) {
      if (skipped.includes(id)) continue;
      const us = m.billed && m.W !== null && n > m.W ? n - m.W : 0n;
      const units = m.U + m.price * us;
      const last = final && m.gone && units > 0n;
      if (units < D && !last) continue;
      const cents = last ? (units + D - 1n) / D : units / D;
      m.charged += cents;
      m.U = last ? 0n : units - cents * D; // a terminated machine owes nothing more
      if (us > 0n) m.W = n;
    }
  };
  /** Runs an action; t is the middle of the request, dur its length (µs). */
  const timed = async (f) => {
    const a = usNow();
    const res = await f();
    const b = usNow();
    return { res, t: (a + b) / 2n, dur: b - a + 1000n };
  };
  /** After a 2xx, the machine's status says whether it is billed now. */
  const follow = (m, machine, t, dur) => {
    const billed = BILLED.has(machine.status);
    if (m.billed && !billed) leave(m, t, dur);
    else if (!m.billed && billed) enter(m, t, dur);
  };
  /** Before a meter run: enough credits that it cannot take the balance to zero. */
  const fund = async (n) => {
    let bound = 1n;
    for (const m of model.values()) {
      const us = m.billed && m.W !== null && n > m.W ? n - m.W : 0n;
      bound += (m.U + m.price * us) / D + 1n;
    }
    const { balance } = await ledger(uid);
    if (BigInt(balance) <= bound) {
      const amount = Number(bound - BigInt(balance)) + 100 + Math.floor(rnd() * 1000);
      for (let left = amount; left > 0; left -= 10_000_000) await addCredits(uid, Math.min(left, 10_000_000), 'funding for the meter');
      credited += amount;
      count('funded');
    }
  };
  const runMeter = async (n) => {
    await fund(n);
    const out = await meter(iso(n), uid);
    meterRuns++;
    if (out.skipped.length) skippedRuns++;
    assert.deepEqual(out.stopped, [], `no machine is stopped while the balance covers the charges: ${JSON.stringify(out)}`);
    meterModel(n, out.skipped);
    return out;
  };

  const t0 = Date.now();
  for (let i = 0; i < steps; i++) {
    const r = rnd();
    const live = [...model.entries()].filter(([, m]) => !m.gone);
    if (r < 0.16 || live.length === 0) {
      const tier = pickOf(Object.keys(TIERS));
      const { res, t, dur } = await timed(() => createRaw(u, { tier }));
      count(`create ${res.status}`);
      if (res.status === 201) {
        const m = { tier, price: PRICE[tier], billed: false, W: null, U: 0n, charged: 0n, skewUs: 0n, gone: false };
        model.set(res.json.data.id, m);
        follow(m, res.json.data, t, dur);
      } else {
        // 429: the account's creations per hour (private.settings) are spent.
        assert.ok([402, 403, 429].includes(res.status), `create: ${show(res)}`);
      }
    } else if (r < 0.62) {
      const action = r < 0.31 ? 'start' : r < 0.46 ? 'stop' : r < 0.51 ? 'restart' : 'delete';
      const [id, m] = pickOf(live);
      const { res, t, dur } = await timed(() => act(u, action, id));
      count(`${action} ${res.status}`);
      if (res.status === 200 || res.status === 202) {
        follow(m, res.json.data, t, dur);
        if (['terminating', 'terminated'].includes(res.json.data.status)) m.gone = true;
      } else {
        assert.ok([402, 409, 429].includes(res.status), `${action}: ${show(res)}`); // 429: 20 transitions a minute
      }
    } else if (r < 0.86) {
      // Forward by up to 60 h; sometimes the same now twice; sometimes an earlier now.
      const kind = rnd();
      if (kind < 0.12) {
        // Time before a machine's clock adds nothing (the model holds it to that); what a
        // stopped machine still owes from before is charged all the same.
        await runMeter(clock - BigInt(Math.floor(rnd() * 48)) * HOUR);
        earlier++;
        count('meter earlier');
      } else {
        clock += BigInt(Math.floor(rnd() * 60 * 3600)) * 1_000_000n;
        const first = await runMeter(clock);
        count('meter');
        if (kind > 0.8) {
          const second = await runMeter(clock);
          repeats++;
          // Besides what the first skipped, only a deleted machine that the runner terminated
          // in between: its last fraction of a cent, one cent each (API.md §4).
          const gone = [...model.values()].filter((m) => m.gone).length;
          assert.ok(second.charges <= first.skipped.length + gone,
            `a second run at the same now charges only what the first skipped, or a last cent: ${JSON.stringify({ first, second })}`);
          if (!first.skipped.length) assert.equal(second.chargedCents, second.charges, `one cent each: ${JSON.stringify(second)}`);
        }
      }
    } else if (r < 0.94) {
      const amount = 1 + Math.floor(rnd() * 5000);
      await addCredits(uid, amount);
      credited += amount;
      count('credit');
    } else {
      await sleep(100 + Math.floor(rnd() * 300)); // let the runner move machines along
      count('wait');
    }
  }

  // Drain: one run far ahead without funding, which may take the balance to zero and stop
  // what runs (the meter says which).
  // Deleted machines first reach `terminated` (the runner's terminate), so that this run
  // charges their last fraction of a cent.
  for (const [id, m] of model) if (m.gone) await waitForStatus(u, id, 'terminated', { timeoutMs: 30000 });
  clock += 5000n * HOUR;
  const { t: drainT, dur: drainDur, res: drain } = await timed(() => meter(iso(clock), uid));
  meterRuns++;
  meterModel(clock, drain.skipped, true);
  for (const id of drain.stopped) leave(model.get(id), drainT, drainDur);
  const seconds = (Date.now() - t0) / 1000;

  // 1. The ledger explains the balance, to the cent.
  const l = await ledger(uid);
  assert.equal(l.balance, l.signup + l.credits - l.charges, `balance = signup + credits − charges: ${JSON.stringify(l)}`);
  assert.equal(l.signup, signupCredits, 'one signup record');
  assert.equal(l.credits, credited, 'every credit added has its record');

  // 2. Every machine was charged what the model says, to the unit (within the clock skew).
  const db = await rows`select m.id, m.billed_remainder::text as u, coalesce(sum(r.amount_cents), 0)::bigint::text as cents
    from machines m left join billing_records r on r.machine_id = m.id and r.kind = 'charge'
    where m.owner_id = ${uid} group by m.id`;
  assert.equal(db.length, model.size, 'every machine is in the model');
  let modelCents = 0n;
  const off = [];
  for (const row of db) {
    const m = model.get(row.id);
    const dbUnits = BigInt(row.cents) * D + BigInt(row.u);
    const modelUnits = m.charged * D + m.U;
    const tolerance = m.price * m.skewUs + 1n;
    const diff = dbUnits > modelUnits ? dbUnits - modelUnits : modelUnits - dbUnits;
    if (diff > tolerance) off.push(`${row.id} (${m.tier}): db ${dbUnits} units (${row.cents} c), model ${modelUnits} (${m.charged} c), tolerance ${tolerance}`);
    const cents = BigInt(row.cents);
    assert.ok(cents - m.charged <= 1n && m.charged - cents <= 1n, `${row.id}: ${row.cents} cents charged, the model says ${m.charged}`);
    modelCents += m.charged;
  }
  assert.deepEqual(off, [], 'machines charged other than the model says');
  assert.ok(BigInt(l.charges) - modelCents <= BigInt(model.size) && modelCents - BigInt(l.charges) <= BigInt(model.size), `charges ${l.charges}, model ${modelCents}`);

  // 3. Each Machine's totalCostCents is the sum of its charges.
  const listed = [];
  for (let cursor; ;) {
    const page = ok(await listMachines(u, { includeTerminated: 'true', limit: '100', ...(cursor ? { cursor } : {}) }));
    listed.push(...page.machines);
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
  }
  const byMachine = new Map(db.map((r) => [r.id, Number(r.cents)]));
  for (const m of listed) assert.equal(assertMachine(m).totalCostCents, byMachine.get(m.id), `totalCostCents of ${m.id}`);

  // 4. get-billing: the balance, every record once through the cursor, newest first, and
  // the usage of each month the charges fell in.
  const pages = [];
  let cursor;
  do {
    const page = ok(await fn('get-billing', { token: u.accessToken, query: { limit: '37', ...(cursor ? { cursor } : {}) } }));
    assert.equal(page.balanceCents, l.balance, 'balanceCents');
    pages.push(...page.records);
    cursor = page.nextCursor;
  } while (cursor);
  assert.equal(pages.length, l.records, 'every record once');
  assert.equal(new Set(pages.map((r) => r.id)).size, pages.length, 'no record twice');
  for (let i = 1; i < pages.length; i++) assert.ok(pages[i - 1].createdAt >= pages[i].createdAt, 'newest first');
  for (const r of pages) {
    assert.match(r.id, UUID_RE);
    assert.ok(['charge', 'credit', 'signup'].includes(r.kind), r.kind);
    assert.ok(Number.isInteger(r.amountCents) && r.amountCents > 0, JSON.stringify(r));
    if (r.kind === 'charge') assert.ok(model.has(r.machineId) && r.periodStart <= r.periodEnd, JSON.stringify(r));
  }
  const months = await rows`select to_char(period_end at time zone 'UTC', 'YYYY-MM') as period, machine_id,
      sum(amount_cents)::bigint as cents, sum(usage_seconds) as seconds
    from billing_records where account_id = ${uid} and kind = 'charge' group by 1, 2`;
  const periods = [...new Set(months.map((x) => x.period))];
  for (const period of periods) {
    const usage = ok(await fn('get-billing', { token: u.accessToken, query: { period, limit: '1' } })).usage;
    const expect = months.filter((x) => x.period === period);
    assert.equal(usage.period, period);
    assert.equal(usage.totalCents, expect.reduce((s, x) => s + Number(x.cents), 0), `totalCents of ${period}`);
    assert.equal(usage.machines.length, expect.length, `machines of ${period}`);
    for (const x of expect) {
      const got = usage.machines.find((mm) => mm.machineId === x.machine_id);
      assert.ok(got, `${x.machine_id} in the usage of ${period}`);
      assert.equal(got.cents, Number(x.cents));
      assert.ok(Math.abs(got.hours - Number(x.seconds) / 3600) < 0.0001, `hours of ${x.machine_id} in ${period}: ${got.hours} vs ${Number(x.seconds) / 3600}`);
    }
  }

  console.log(`figure: ledger invariant: seed ${seed}, ${steps} steps in ${seconds.toFixed(1)} s, ${model.size} machines, ` +
    `${meterRuns} meter runs (${repeats} repeated at the same now, ${earlier} at an earlier now, ${skippedRuns} skipping a locked machine), ${l.records} records ` +
    `(${l.charges} cents charged, ${l.credits} credited), ${periods.length} months of usage, ` +
    `drain stopped ${drain.stopped.length}; ${Object.entries(tally).map(([k, v]) => `${k} ×${v}`).join(', ')}`);
});
