// Metrics in and out (API.md §4; issue 9 "Metrics"). record-metrics takes the machine's
// agent token as its bearer (the database keeps its SHA-256): one sample or up to 100,
// ranges checked (400 naming the field), 202 { accepted }; a wrong token, another
// machine's (when the agent names its machine), a terminated machine's, or none is 401.
// insights gives the owner a series and a summary whose numbers equal the same
// aggregates computed straight in SQL over the same samples; the scheduler prunes samples
// older than 8 days.
//
// The create job's agent token goes to the runner only, so each machine here is given a
// token the test knows (its hash written as the delivery would write it).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { fn, ok, fails, signIn, show } from '../lib/api.mjs';
import { env } from '../lib/env.mjs';
import { createRaw, createMachine, act, rows, sql, value } from '../lib/machines.mjs';
import { waitForStatus } from '../lib/runner.mjs';
import { agentToken, setAgentToken, postMetrics, sample, prng } from '../lib/billing.mjs';

let owner, stranger;
let m1, m2, m3, mOther; // m3 is deleted (terminated) before its token is tried
let t1, t2, t3, tOther;

before(async () => {
  [owner, stranger] = await Promise.all([signIn(), signIn()]);
  [m1, m2, m3, mOther] = (await Promise.all([
    createRaw(owner, { tier: 'dev.small' }), createRaw(owner, { tier: 'dev.small' }), createRaw(owner, { tier: 'dev.small' }),
    createRaw(stranger, { tier: 'dev.small' }),
  ])).map((r) => ok(r, 201));
  [t1, t2, t3, tOther] = await Promise.all([m1, m2, m3, mOther].map((m) => setAgentToken(m.id)));
});

const samplesOf = async (machineId) => rows`select * from machine_metrics where machine_id = ${machineId} order by recorded_at`;
const minutesAgo = (min) => new Date(Date.now() - min * 60_000).toISOString();

test('an agent posts one sample or a batch with its token: 202 { accepted }; a batch sent again is stored once', async () => {
  const one = await postMetrics(t1, { cpuUsage: 12.5, memoryUsage: 40, diskUsage: 7, networkIn: 1024, networkOut: 0 });
  assert.deepEqual(ok(one, 202), { accepted: 1 });
  // The body the agent of terraform/agent/cloud-init.yaml.tftpl sends, byte for byte.
  const agentBody = '{"cpuUsage":3.07,"memoryUsage":21.40,"diskUsage":12,"networkIn":184467,"networkOut":99321}';
  const agentRes = await postMetrics(t1, agentBody, { headers: { 'content-type': 'application/json' } });
  assert.deepEqual(ok(agentRes, 202), { accepted: 1 });
  const batch = [sample(Math.random, { recordedAt: minutesAgo(30) }), sample(Math.random, { recordedAt: minutesAgo(20) }), sample(Math.random, { recordedAt: minutesAgo(10) })];
  assert.deepEqual(ok(await postMetrics(t1, batch), 202), { accepted: 3 });
  assert.deepEqual(ok(await postMetrics(t1, batch, { query: { machineId: m1.id } }), 202), { accepted: 3 }, 'the agent may name its machine');
  const stored = await samplesOf(m1.id);
  assert.ok(stored.length >= 4 && stored.length <= 5, `the retried batch is stored once: ${stored.length} rows`);
  const row = stored.find((r) => Date.parse(r.recorded_at) === Date.parse(batch[1].recordedAt));
  assert.ok(row, 'the batch sample is stored at its recordedAt');
  assert.equal(Number(row.cpu), batch[1].cpuUsage);
  assert.equal(Number(row.net_out), batch[1].networkOut);
  assert.equal(row.owner_id, owner.user.id);
  const full = Array.from({ length: 100 }, (_, i) => sample(Math.random, { recordedAt: new Date(Date.now() - 3_600_000 - i * 10_000).toISOString() }));
  assert.deepEqual(ok(await postMetrics(t2, full), 202), { accepted: 100 });
  assert.equal((await samplesOf(m2.id)).length, 100, 'one sample per 10-second slot: all kept');
});

// Issue 15, defect 6: a valid agent token could store 60,000 samples a minute.
test('a machine keeps at most one sample per 10-second slot, however fast its token posts', async () => {
  const owner = await signIn();
  const m = await createMachine(owner);
  const t = await setAgentToken(m.id);
  const base = Math.floor((Date.now() - 7_200_000) / 10_000) * 10_000; // a slot boundary, 2 h ago
  // 60 samples a second apart: six slots.
  const dense = Array.from({ length: 60 }, (_, i) => sample(Math.random, { recordedAt: new Date(base + i * 1000).toISOString() }));
  assert.deepEqual(ok(await postMetrics(t, dense), 202), { accepted: 60 });
  assert.equal((await samplesOf(m.id)).length, 6);
  // The first of each slot is the one kept; a later post into a kept slot stores nothing.
  const kept = await rows`select recorded_at from machine_metrics where machine_id = ${m.id} order by recorded_at`;
  assert.deepEqual(kept.map((r) => Date.parse(r.recorded_at)), [0, 1, 2, 3, 4, 5].map((k) => base + k * 10_000));
  ok(await postMetrics(t, sample(Math.random, { recordedAt: new Date(base + 5_500).toISOString() })), 202);
  assert.equal((await samplesOf(m.id)).length, 6);
  // Twenty posts "now" in a row: one or two slots.
  const before = (await samplesOf(m.id)).length;
  for (let i = 0; i < 20; i++) ok(await postMetrics(t, sample()), 202);
  assert.ok((await samplesOf(m.id)).length - before <= 2, 'at most one per slot');
});

test('a wrong token, none, another machine\'s, or a terminated machine\'s is 401, and nothing is stored', async () => {
  const s = sample();
  const before = Number(await value`select count(*) from machine_metrics where machine_id in (${m1.id}, ${m2.id}, ${m3.id})`);
  fails(await postMetrics(undefined, s), 401, 'unauthorized');
  fails(await postMetrics(agentToken().token, s), 401, 'invalid_token');
  fails(await postMetrics(`${t1}x`, s), 401, 'invalid_token');
  fails(await postMetrics('x'.repeat(5000), s), 401, 'invalid_token');
  fails(await fn('record-metrics', { method: 'POST', body: s, headers: { authorization: `Basic ${t1}` } }), 401, 'unauthorized');
  // A user's session is no agent token.
  fails(await postMetrics(owner.accessToken, s), 401, 'invalid_token');
  // Another machine's token, for a machine the agent names: the owner's other machine,
  // and another user's.
  fails(await postMetrics(t2, s, { query: { machineId: m1.id } }), 401, 'invalid_token');
  fails(await postMetrics(tOther, s, { query: { machineId: m1.id } }), 401, 'invalid_token');
  fails(await postMetrics(t1, s, { query: { machineId: mOther.id } }), 401, 'invalid_token');
  fails(await postMetrics(t1, s, { query: { machineId: 'nope' } }), 400, 'validation_error', 'machineId');
  // A terminated machine's agent is gone.
  ok(await act(owner, 'delete', m3.id), 202);
  await waitForStatus(owner, m3.id, 'terminated', { timeoutMs: 30000 });
  fails(await postMetrics(t3, s), 401, 'invalid_token');
  const after = Number(await value`select count(*) from machine_metrics where machine_id in (${m1.id}, ${m2.id}, ${m3.id})`);
  assert.equal(after, before, 'no sample stored by a refused request');
  fails(await fn('record-metrics', { method: 'GET', token: t1 }), 405, 'method_not_allowed');
});

test('values out of range are 400 naming the field, and a bad batch stores nothing', async () => {
  const good = sample();
  const cases = [
    [{ ...good, cpuUsage: 100.5 }, 'cpuUsage'],
    [{ ...good, cpuUsage: -1 }, 'cpuUsage'],
    [{ ...good, memoryUsage: '50' }, 'memoryUsage'],
    [{ ...good, diskUsage: null }, 'diskUsage'],
    [{ ...good, networkIn: -1 }, 'networkIn'],
    [{ ...good, networkIn: 1.5 }, 'networkIn'],
    [{ ...good, networkOut: 2 ** 64 }, 'networkOut'],
    [{ ...good, recordedAt: 'yesterday' }, 'recordedAt'],
    [{ ...good, recordedAt: new Date(Date.now() - 9 * 86_400_000).toISOString() }, 'recordedAt'],
    [{ ...good, recordedAt: new Date(Date.now() + 3_600_000).toISOString() }, 'recordedAt'],
    [{ ...good, load: 1 }, 'load'],
    [{ cpuUsage: 1 }, 'memoryUsage'],
    [[good, { ...good, diskUsage: 101 }], '[1].diskUsage'],
    [[good, good, 'x'], '[2]'],
    [[], 'body'],
    [Array.from({ length: 101 }, () => good), 'body'],
    [5, 'body'],
  ];
  const before = (await samplesOf(m1.id)).length;
  for (const [body, field] of cases) {
    fails(await postMetrics(t1, body), 400, 'validation_error', field);
  }
  fails(await postMetrics(t1, '{"cpuUsage": 1,'), 400, 'invalid_json');
  fails(await fn('record-metrics', { method: 'POST', token: t1, rawBody: JSON.stringify(good), headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
  assert.equal((await samplesOf(m1.id)).length, before, 'nothing stored');
});

test('insights: the series and summary equal the same aggregates computed in SQL over the same samples', async () => {
  const rnd = prng(1234);
  const minutes = [...new Set(Array.from({ length: 45 }, () => 1 + Math.floor(rnd() * 55)))];
  const batch = minutes.map((min) => sample(rnd, { recordedAt: new Date(Date.now() - min * 60_000 - Math.floor(rnd() * 50_000)).toISOString() }));
  // An older sample: in the day and the week, not in the hour.
  batch.push(sample(rnd, { recordedAt: minutesAgo(300) }));
  ok(await postMetrics(tOther, batch), 202);
  ok(await postMetrics(tOther, sample(rnd)), 202); // and one now, without recordedAt

  for (const [period, bucket] of [['1h', 60], ['24h', 900], ['7d', 3600]]) {
    const data = ok(await fn('insights', { token: stranger.accessToken, query: { machineId: mOther.id, period } }));
    assert.equal(data.machineId, mOther.id);
    assert.equal(data.period, period);
    assert.equal(data.bucketSeconds, bucket);
    assert.ok(Array.isArray(data.series), show({ status: 200, text: JSON.stringify(data) }));
    const from = data.from;
    const to = data.to;
    const [direct] = await sql`
      select count(*)::int as samples,
        round(avg(cpu), 2)::float8 as cpu_avg, max(cpu)::float8 as cpu_max,
        round(avg(memory), 2)::float8 as mem_avg, max(memory)::float8 as mem_max,
        round(avg(disk), 2)::float8 as disk_avg, max(disk)::float8 as disk_max,
        round(avg(net_in))::float8 as in_avg, max(net_in)::float8 as in_max,
        round(avg(net_out))::float8 as out_avg, max(net_out)::float8 as out_max
      from machine_metrics where machine_id = ${mOther.id} and recorded_at > ${from}::timestamptz and recorded_at <= ${to}::timestamptz`;
    const s = data.summary;
    assert.equal(s.samples, direct.samples, `${period}: samples`);
    assert.equal(s.samples, period === '1h' ? batch.length : batch.length + 1, `${period}: every sample of the window`);
    assert.deepEqual(
      [s.cpu.avg, s.cpu.max, s.memory.avg, s.memory.max, s.disk.avg, s.disk.max, s.networkIn.avg, s.networkIn.max, s.networkOut.avg, s.networkOut.max],
      [direct.cpu_avg, direct.cpu_max, direct.mem_avg, direct.mem_max, direct.disk_avg, direct.disk_max, direct.in_avg, direct.in_max, direct.out_avg, direct.out_max],
      `${period}: summary = SQL`,
    );
    const buckets = await sql`
      select to_char(date_bin(make_interval(secs => ${bucket}::int), recorded_at, ${from}::timestamptz) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as at,
        count(*)::int as n, round(avg(cpu), 2)::float8 as cpu, round(avg(memory), 2)::float8 as memory, round(avg(disk), 2)::float8 as disk,
        round(avg(net_in))::float8 as net_in, round(avg(net_out))::float8 as net_out
      from machine_metrics where machine_id = ${mOther.id} and recorded_at > ${from}::timestamptz and recorded_at <= ${to}::timestamptz
      group by 1 order by 1`;
    assert.deepEqual(
      data.series.map((p) => [p.recordedAt, p.samples, p.cpuUsage, p.memoryUsage, p.diskUsage, p.networkIn, p.networkOut]),
      buckets.map((b) => [b.at, b.n, b.cpu, b.memory, b.disk, b.net_in, b.net_out]),
      `${period}: series = SQL`,
    );
    assert.equal(data.series.reduce((n, p) => n + p.samples, 0), s.samples, `${period}: the buckets hold every sample`);
  }

  // A machine without samples: an empty series, null averages.
  const empty = ok(await fn('insights', { token: owner.accessToken, query: { machineId: m3.id, period: '7d' } }));
  assert.deepEqual(empty.series, []);
  assert.equal(empty.summary.samples, 0);
  assert.equal(empty.summary.cpu.avg, null);
});

test('insights: another user\'s machine is 404, a bad period or id is 400, no token is 401', async () => {
  fails(await fn('insights', { token: owner.accessToken, query: { machineId: mOther.id } }), 404, 'not_found');
  fails(await fn('insights', { token: owner.accessToken, query: { machineId: crypto.randomUUID() } }), 404, 'not_found');
  fails(await fn('insights', { token: owner.accessToken, query: { machineId: m1.id, period: '2h' } }), 400, 'validation_error', 'period');
  fails(await fn('insights', { token: owner.accessToken, query: { machineId: 'x' } }), 400, 'validation_error', 'machineId');
  // Without machineId: the overview of the caller's machines (tests/e2e/machines/seed-clients).
  const overview = ok(await fn('insights', { token: owner.accessToken }));
  assert.ok(Array.isArray(overview) && overview.every((r) => r.machineId !== mOther.id), JSON.stringify(overview).slice(0, 300));
  fails(await fn('insights', { query: { machineId: m1.id } }), 401, 'unauthorized');
  fails(await fn('insights', { token: t1, query: { machineId: m1.id } }), 401, 'invalid_token');
  const d = ok(await fn('insights', { token: owner.accessToken, query: { machineId: m1.id } }));
  assert.equal(d.period, '1h', 'the default window is the last hour');
});

test('the scheduler prunes samples older than 8 days and keeps the rest', async () => {
  await sql`insert into machine_metrics (machine_id, owner_id, recorded_at, cpu, memory, disk, net_in, net_out) values
    (${m2.id}, ${owner.user.id}, now() - interval '9 days', 1, 1, 1, 1, 1),
    (${m2.id}, ${owner.user.id}, now() - interval '7 days', 2, 2, 2, 2, 2)`;
  const report = ok(await fn('scheduler', { method: 'POST', token: env.SUPABASE_SERVICE_ROLE_KEY }));
  assert.ok(Number.isInteger(report.pruned) && report.pruned >= 0, JSON.stringify(report));
  const old = await rows`select recorded_at from machine_metrics where machine_id = ${m2.id} and recorded_at < now() - interval '6 days'`;
  assert.equal(old.length, 1, `only the 7-day-old sample is left: ${JSON.stringify(old)}`);
});
