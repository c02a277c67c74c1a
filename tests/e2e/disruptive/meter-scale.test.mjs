// The meter at scale (issue 9: "the time one metering run takes over 10,000 running
// machines"): 10,000 running machines in 1,000 accounts, seeded in SQL, billed from two
// hours ago. One run of hangar_meter over every account (as the cron makes it: the
// database's clock, through PostgREST) charges each of them once, and the next run, with
// nothing owing a cent, writes nothing and is fast. The seed is removed afterwards.
// It runs alone (disruptive/): a meter over every account also charges and stops the
// machines of files running beside it, and nobody delivers the stop jobs it returns, so
// they wait out their 60 s lease (a file waiting for such a stop once timed out in CI).
// The budgets are loose; the figures are printed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { service, show } from '../lib/api.mjs';
import { sql, value } from '../lib/machines.mjs';

const ACCOUNTS = 1000;
const PER_ACCOUNT = 10;
const tag = `did:privy:scale-${randomBytes(4).toString('hex')}-`;

after(async () => {
  await sql`delete from accounts where privy_did like ${`${tag}%`}`;
});

async function meterAll() {
  const t0 = performance.now();
  const res = await service('/rpc/hangar_meter', { method: 'POST', body: {} });
  const ms = performance.now() - t0;
  assert.equal(res.status, 200, show(res));
  assert.equal(res.json.ok, true, show(res));
  return { ...res.json.data, ms };
}

test(`one meter run over ${ACCOUNTS * PER_ACCOUNT} running machines`, { timeout: 120000 }, async () => {
  await sql.begin(async (tx) => {
    await tx`insert into accounts (privy_did, credit_balance_cents, max_machines)
      select ${tag} || g, 1000000, ${PER_ACCOUNT} from generate_series(1, ${ACCOUNTS}) g`;
    await tx`insert into machines (owner_id, name, status, tier, provider, region, image, provider_instance_id)
      select a.id, 'scale-' || g, 'running', (array['dev.small', 'dev.medium', 'dev.large', 'dev.xlarge'])[1 + g % 4],
        'aws', 'us-east-1', 'ubuntu-22.04', 'i-scale'
      from accounts a cross join generate_series(1, ${PER_ACCOUNT}) g
      where a.privy_did like ${`${tag}%`}`;
    // Two hours of running: every tier owes at least a cent (dev.small: 1.64).
    await tx`update machines set last_billed_at = now() - interval '2 hours', last_charged_at = now() - interval '2 hours'
      where owner_id in (select id from accounts where privy_did like ${`${tag}%`})`;
  });
  await sql`analyze machines`;
  await sql`analyze accounts`;

  const first = await meterAll();
  const seeded = Number(await value`select count(*) from billing_records r join accounts a on a.id = r.account_id
    where a.privy_did like ${`${tag}%`} and r.kind = 'charge'`);
  assert.equal(seeded, ACCOUNTS * PER_ACCOUNT, 'one charge per seeded machine');
  const expected = Number(await value`select sum(floor(t.price_per_month_cents * 2 / 730.0))::bigint from machines m join tiers t on t.id = m.tier
    join accounts a on a.id = m.owner_id where a.privy_did like ${`${tag}%`}`);
  const charged = Number(await value`select sum(1000000 - credit_balance_cents)::bigint from accounts where privy_did like ${`${tag}%`}`);
  assert.ok(Math.abs(charged - expected) <= ACCOUNTS * PER_ACCOUNT * 0.01 + 1, `charged ${charged}, two hours at list price ${expected}`);

  const second = await meterAll();
  console.log(`figure: meter over ${ACCOUNTS * PER_ACCOUNT} running machines in ${ACCOUNTS} accounts: ` +
    `${first.ms.toFixed(0)} ms charging all of them (${first.charges} charges in the run, ${first.chargedCents} cents), ` +
    `${second.ms.toFixed(0)} ms for the next run (${second.charges} charges)`);
  assert.ok(second.charges < 50, `the next run has (almost) nothing to charge: ${second.charges}`);
  assert.ok(first.ms < 20000, `a run charging 10,000 machines took ${first.ms} ms`);
  assert.ok(second.ms < 5000, `a run with nothing to charge took ${second.ms} ms`);
});
