// Cross-tenant attacks (API.md §1, §3, §4; issue 7 "Cross-tenant"): user A owns machines,
// jobs, events, a project and a deployment; user B owns some of their own; C owns nothing.
// B, C and anonymous callers go after A's rows through every function (functions/ is listed,
// so a new function is attacked too), every table and every RPC PostgREST serves (found in
// the catalog, so a new table or SQL function is attacked without editing this file): ids
// known and guessed, filters, embedding, upserts, forged row arguments, service-only RPCs.
// The verdict does not depend on guessing each answer: afterwards everything that belongs to
// A (the rows that reference any of A's ids, found as the superuser) must be byte-identical
// to a snapshot taken before, and no response may contain any of A's ids or names that the
// request did not itself carry. Functions must answer another user's machine with 404, never 403.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID, randomBytes } from 'node:crypto';
import { fn, rest, ok, fails, show, signIn } from '../lib/api.mjs';
import { privyToken, identityToken } from '../lib/jwt.mjs';
import {
  createMachine, createProject, act, listMachines, setBalance, newName, sshPublicKey,
} from '../lib/machines.mjs';
import { startRunner, waitForStatus, waitForJob, callback } from '../lib/runner.mjs';
import {
  functionNames, publicTables, publicFunctions, ownedSnapshot, snapshotDiff, secretsOf, leaked, hiddenSnapshot,
} from '../lib/tenant.mjs';
import { quiesce, histogram, runnerIdle } from '../lib/faults.mjs';

let a, b, c; // A (the victim), B (a tenant with rows of their own), C (a stranger with nothing)
let pa, pb; // projects
let ma1, ma2, mb; // A: running (in pa, created with an Idempotency-Key), stopped; B: running
let aKey, aCreateBody, aCursor, aDeployment, aSecretMarker;
let tables, funcs, snapA, snapB, snapC, hiddenBefore, secrets;
let aIds; // { account, machines, projects, jobs, deployments, events, sessions, all }
const spare = new Map(); // attacker → a second session of theirs, spent on the logout attacks

const attackers = () => [['B', b], ['C', c]];
const tally = new Map(); // "<area> as <who>" → count
const problems = []; // every failed expectation, to report them all at once
let pwn = 0; // a counter written into attack values, so that a changed row names its attack

function count(area, who) {
  const k = `${area} as ${who}`;
  tally.set(k, (tally.get(k) ?? 0) + 1);
}
const total = (area) => [...tally].filter(([k]) => !area || k.startsWith(area)).reduce((s, [, v]) => s + v, 0);

function check(label, req, res, expect) {
  const body = `${res.text}\n${res.headers.get('location') ?? ''}\n${res.headers.get('content-range') ?? ''}`;
  const l = leaked(secrets, req, body);
  if (l.length) problems.push(`${label}: response carries A's ${l.slice(0, 5).join(', ')}: ${show(res)}`);
  if (res.status >= 500) problems.push(`${label}: ${show(res)}`);
  if (expect) {
    try {
      expect(res);
    } catch (e) {
      problems.push(`${label}: ${e.message.split('\n')[0]}`);
    }
  }
  return res;
}

/** A function call as `who` (null: no token); `expect(res)` throws when the answer is wrong. */
async function hitFn(who, whoName, label, name, opts = {}, expect) {
  const res = await fn(name, { ...opts, token: who?.accessToken });
  count('functions', whoName);
  if (res.status === 405 && name.startsWith('get-') && opts.body !== undefined && !opts.method) postReadGaps.push(name);
  return check(`${whoName} ${label}`, JSON.stringify([name, opts.query, opts.body, opts.headers, opts.rawBody]), res, expect);
}

/** A PostgREST call as `who` (null: the anon key). */
async function hitRest(who, whoName, label, path, opts = {}, expect) {
  const res = await rest(path, { ...opts, token: who ? who.accessToken : undefined });
  count(opts.area ?? 'tables', whoName);
  return check(`${whoName} ${label}`, JSON.stringify([path, opts.body, opts.headers]), res, expect);
}

// ---- expectations -------------------------------------------------------------------------------

const notFound = (res) => {
  if (res.status === 403) throw new Error(`403 instead of 404 (API.md §1: another user's row is 404, never 403): ${show(res)}`);
  fails(res, 404, 'not_found');
};
// A read sent as POST must be the same read (API.md §1): a 405 is not a leak, but it is a
// gap in the contract that leaves this attack path untried; it is reported on its own.
const postReadGaps = [];
const postRead = (res) => {
  if (res.status !== 405) notFound(res); // 405: counted by hitFn
};
const refused = (...statuses) => (res) => {
  if (!statuses.includes(res.status)) throw new Error(`expected ${statuses.join(' or ')}: ${show(res)}`);
  assert.equal(res.json?.success, false, `error envelope: ${show(res)}`);
};
const notSuccess = (res) => {
  if (res.status < 400) throw new Error(`expected a refusal: ${show(res)}`);
  if (res.status === 403 && res.json?.error_code === 'forbidden') throw new Error(`403 instead of 404 for another user's row: ${show(res)}`);
};
const unauthorized = (res) => {
  assert.equal(res.status, 401, show(res));
  assert.ok(['unauthorized', 'invalid_token'].includes(res.json?.error_code), show(res));
};
/** PostgREST: refused (4xx), or nothing returned (204 or an empty array). */
const refusedOrEmpty = (res) => {
  if ((res.status >= 400 && res.status < 500) || res.status === 204) return; // a 5xx is never a refusal
  if (Array.isArray(res.json) && res.json.length === 0) return;
  throw new Error(`should be refused or affect no row: ${show(res)}`);
};
const refusedRest = (res) => {
  if (res.status < 400) throw new Error(`should be refused: ${show(res)}`);
};

/** The attackers' sessions still work: refusals were not just a dead token's 401s. */
async function stillAttacking() {
  for (const [name, x] of attackers()) {
    const me = await fn('me', { token: x.accessToken });
    assert.equal(me.status, 200, `${name}'s session still works (else the attacks proved nothing): ${show(me)}`);
  }
  const own = await rest('/machines?select=id', { token: b.accessToken });
  assert.ok(Array.isArray(own.json) && own.json.length >= 1, `B still reads their own machines through PostgREST: ${show(own)}`);
}

function assertNoProblems(area) {
  const mine = problems.splice(0);
  assert.equal(mine.length, 0, `${area}: ${mine.length} failed expectations:\n  ${mine.slice(0, 60).join('\n  ')}${mine.length > 60 ? `\n  … and ${mine.length - 60} more` : ''}`);
}

// ---- the world ----------------------------------------------------------------------------------

before(async () => {
  await startRunner(); // a no-op when it runs; an earlier file may have left it down
  [a, b, c] = await Promise.all([signIn(), signIn(), signIn()]);
  const [b2, c2] = await Promise.all([signIn({ sub: b.sub }), signIn({ sub: c.sub })]);
  spare.set(b, b2).set(c, c2);
  // Enough credits that no create is refused for money (the limits are not the subject here).
  await Promise.all([setBalance(a.user.id, 100000), setBalance(b.user.id, 100000), setBalance(c.user.id, 100000)]);
  [pa, pb] = await Promise.all([createProject(a, newName('pa')), createProject(b, newName('pb'))]);

  aKey = randomUUID();
  aSecretMarker = `a-secret-${randomBytes(8).toString('hex')}`;
  aCreateBody = { name: newName('ma'), projectId: pa.id, configuration: { marker: aSecretMarker }, sshPublicKey: sshPublicKey('a@tenant') };
  const [m1, m2, m3] = await Promise.all([
    createMachine(a, aCreateBody, { 'idempotency-key': aKey }),
    createMachine(a, { name: newName('ma') }),
    createMachine(b, { name: newName('mb'), projectId: pb.id }),
  ]);
  [ma1, ma2, mb] = await Promise.all([
    waitForStatus(a, m1.id, 'running', { timeoutMs: 30000 }),
    waitForStatus(a, m2.id, 'running', { timeoutMs: 30000 }),
    waitForStatus(b, m3.id, 'running', { timeoutMs: 30000 }),
  ]);
  ok(await act(a, 'stop', ma2.id), 202);
  ma2 = await waitForStatus(a, ma2.id, 'stopped', { timeoutMs: 30000 });

  const dep = ok(await fn('deploy-protocol', { token: a.accessToken, body: { machineId: ma1.id, protocolConfig: { name: 'geth', version: '1.14.0', settings: { marker: aSecretMarker } } } }), 202);
  aDeployment = dep.deploymentId;
  const cmd = ok(await fn('send-command', { token: a.accessToken, body: { machineId: ma1.id, command: 'echo', args: [aSecretMarker] } }), 202);
  const bDep = ok(await fn('deploy-protocol', { token: b.accessToken, body: { machineId: mb.id, protocolConfig: { name: 'geth', version: '1' } } }), 202);
  await Promise.all([waitForJob(a, dep.job.id), waitForJob(a, cmd.job.id), waitForJob(b, bDep.job.id)]);
  ok(await fn('log-machine-event', { token: a.accessToken, body: { machineId: ma1.id, eventType: 'tenant.a', details: { marker: aSecretMarker } } }), 201);
  aCursor = ok(await listMachines(a, { limit: '1' })).nextCursor;

  // Nothing of A's may still be moving when the snapshot is taken.
  const q = await quiesce([ma1.id, ma2.id, mb.id], { timeoutMs: 60000 });
  assert.equal(q.active.length, 0, `jobs still open before the attacks: ${JSON.stringify(q.active)}`);
  await runnerIdle(); // its last reports are in: nothing of A's moves from here on

  [tables, funcs] = await Promise.all([publicTables(), publicFunctions()]);
  snapA = await ownedSnapshot(a.user.id, { tables });
  [snapB, snapC] = await Promise.all([ownedSnapshot(b.user.id, { tables }), ownedSnapshot(c.user.id, { tables })]);
  assert.ok(!snapA.ids.has(b.user.id) && !snapA.ids.has(c.user.id), 'A\'s rows do not reach B or C (the snapshot would not mean anything)');
  hiddenBefore = await hiddenSnapshot();
  secrets = secretsOf(snapA, [snapB, snapC], [a.sub, a.refreshToken, aCreateBody.name, pa.name, aSecretMarker, aKey, aDeployment]);
  assert.ok(secrets.includes(ma1.id) && secrets.includes(a.user.id), 'A\'s ids are among the secrets');

  const col = (t, name) => [...new Set((snapA.rows[t] ?? []).map((r) => r[name]).filter(Boolean))];
  aIds = {
    account: [a.user.id],
    machines: [ma1.id, ma2.id],
    projects: [pa.id],
    jobs: col('jobs', 'id'),
    deployments: col('protocol_deployments', 'id'),
    events: col('machine_events', 'id').slice(0, 3),
    sessions: col('refresh_tokens', 'session_id'),
  };
  aIds.all = [...new Set(Object.values(aIds).flat())];
  console.log(`figure: A owns ${Object.entries(snapA.rows).filter(([, r]) => r.length).map(([t, r]) => `${t} ${r.length}`).join(', ')}; ` +
    `${secrets.length} secret strings; ${tables.length} tables/views, ${funcs.length} SQL functions in public`);
});

// ---- functions ----------------------------------------------------------------------------------

/** The attacks on one function, as `x` (B or C): [label, name, opts, expect]. */
function functionAttacks(name, x, xName) {
  const t = x.accessToken;
  const machines = [ma1.id, ma2.id];
  const perMachine = (extra = {}) => machines.flatMap((id) => [[`${name} A's ${id === ma1.id ? 'running' : 'stopped'} machine`, name, { body: { machineId: id, ...extra } }, notFound]]);
  const reads = (field, ids) => ids.flatMap((id) => [
    [`${name} GET ?${field}=A's`, name, { query: { [field]: id } }, notFound],
    // API.md §1: a read also accepts POST with the same fields (supabase-js invoke).
    [`${name} POST {${field}: A's}`, name, { body: { [field]: id } }, postRead],
  ]);
  const list = [
    [`${name} ?projectId=A's`, name, { query: { projectId: pa.id } }, (r) => {
      // get-user-machines: data.machines; instances (seed 000's shape): data is the list.
      if (r.status === 200) assert.deepEqual(r.json.data.machines ?? r.json.data, [], `B sees machines of A's project: ${show(r)}`);
      else notSuccess(r);
    }],
    [`${name} ?cursor=A's cursor`, name, { query: aCursor ? { cursor: aCursor } : {} }],
    [`${name} ?includeTerminated=true&limit=100`, name, { query: { includeTerminated: 'true', limit: '100' } }],
    [`${name} ?status=running`, name, { query: { status: 'running' } }],
    [`${name} POST {projectId: A's}`, name, { body: { projectId: pa.id } }],
  ];
  switch (name) {
    case 'create-machine': return [
      [`${name} in A's project`, name, { body: { name: newName('x'), projectId: pa.id } }, refused(400, 404)],
      [`${name} A's exact body and Idempotency-Key`, name, { body: aCreateBody, headers: { 'idempotency-key': aKey } }, refused(400, 404)],
      // (a fresh name: B's machine must not carry A's name, or B's later reads would "leak" it)
      [`${name} A's Idempotency-Key, another body`, name, { body: { name: newName('x') }, headers: { 'idempotency-key': aKey } }, (r) => {
        if (r.status === 201) assert.notEqual(r.json.data.id, ma1.id, 'the Idempotency-Key of another user must not return their machine');
      }],
    ];
    case 'delete-machine': return [...perMachine(), ...machines.map((id) => [`${name} DELETE A's`, name, { method: 'DELETE', body: { machineId: id } }, notFound])];
    case 'start-machine': case 'stop-machine': case 'restart-machine': return perMachine();
    case 'deploy-protocol': return perMachine({ protocolConfig: { name: 'evil', version: '1' } });
    case 'send-command': return perMachine({ command: 'cat', args: ['/etc/hangar/secrets.env'] });
    case 'log-machine-event': return perMachine({ eventType: 'pwned', level: 'error', details: { by: xName } });
    case 'update-machine': return [
      ...machines.map((id) => [`${name} rename A's`, name, { method: 'PATCH', body: { machineId: id, name: `pwned-${++pwn}` } }, notFound]),
      ...machines.map((id) => [`${name} detach A's from its project`, name, { method: 'PATCH', body: { machineId: id, projectId: null } }, notFound]),
      ...(x === b ? [[`${name} B's own machine into A's project`, name, { method: 'PATCH', body: { machineId: mb.id, projectId: pa.id } }, refused(400, 404)]] : []),
    ];
    case 'get-machine-status': return reads('machineId', machines);
    case 'get-logs': return [...reads('machineId', machines), [`${name} ?before=now`, name, { query: { machineId: ma1.id, before: new Date().toISOString() } }, notFound]];
    case 'get-job': return [...reads('jobId', aIds.jobs), ...reads('jobId', [randomUUID()])];
    case 'get-user-machines': return list;
    case 'instances': return [
      ...list,
      [`${name} POST in A's project`, name, { body: { name: newName('x'), projectId: pa.id } }, refused(400, 404)],
      ...machines.flatMap((id) => [
        [`instances/{A's} GET`, `instances/${id}`, {}, notFound],
        [`instances/{A's} PATCH`, `instances/${id}`, { method: 'PATCH', body: { name: `pwned-${++pwn}` } }, notFound],
        [`instances/{A's} PUT`, `instances/${id}`, { method: 'PUT', body: { name: `pwned-${++pwn}` } }, notFound],
        [`instances/{A's} DELETE`, `instances/${id}`, { method: 'DELETE' }, notSuccess],
        [`instances/{A's} POST`, `instances/${id}`, { body: { name: `pwned-${++pwn}` } }, notSuccess],
      ]),
      [`instances/{random}`, `instances/${randomUUID()}`, {}, notFound],
    ];
    case 'me': return [
      [`${name} GET`, name, {}],
      [`${name} GET ?id=A's`, name, { query: { id: a.user.id } }],
      [`${name} POST {id: A's}`, name, { body: { id: a.user.id } }],
      [`${name} PATCH {id: A's, displayName}`, name, { method: 'PATCH', body: { id: a.user.id, displayName: `pwned-${++pwn}` } }, notSuccess],
      [`${name} PATCH own displayName`, name, { method: 'PATCH', body: { displayName: `pwned-${++pwn}` } }],
    ];
    case 'logout': return [
      [`${name} {sessionId: A's}`, name, { body: { sessionId: aIds.sessions[0] } }, notSuccess],
      [`${name} {refreshToken: A's hash}`, name, { body: { refreshToken: snapA.rows.refresh_tokens?.[0]?.token_hash ?? 'x' } }, notSuccess],
    ];
    case 'refresh-session': return (snapA.rows.refresh_tokens ?? []).slice(0, 2).map((r) => [
      `${name} with A's token hash as the token`, name, { body: { refreshToken: r.token_hash } }, refused(400, 401)]);
    case 'exchange': return [
      // X's own Privy token with an identity token naming A: never A's session.
      [`${name} own token + A's identity token`, name, { body: { token: privyToken({ sub: x.sub }), identityToken: identityToken(a.sub, [{ type: 'email', address: `${newName('e')}@example.com` }]) } }, (r) => {
        if (r.status === 200) assert.equal(r.json.data.user.id, x.user.id, 'exchange returned another account');
      }],
    ];
    case 'health': return [[`${name}`, name, {}]];
    case 'runner-callback': return aIds.jobs.slice(0, 3).flatMap((jobId) => [
      [`${name} user token, no signature`, name, { body: { jobId, status: 'failed', error: 'pwned' } }, unauthorized],
      [`${name} user token as the signature`, name, { body: { jobId, status: 'failed' }, headers: { 'hangar-signature': `t=${Math.floor(Date.now() / 1000)},v1=${Buffer.from(t).toString('hex').slice(0, 64)}` } }, unauthorized],
    ]);
    case 'scheduler': return [[`${name} as a user`, name, { body: {} }, (r) => fails(r, 403, 'forbidden')]];
    // Operators only: a user crediting A's account (or their own) is 403.
    case 'add-credits': return [[`${name} as a user for A's account`, name,
      { body: { userId: a.user.id, amountCents: 100, description: 'pwned' } }, (r) => fails(r, 403, 'forbidden')]];
    default: {
      // A function this file does not know yet: A's ids wherever a function could take one.
      const out = [];
      for (const [kind, ids] of Object.entries(aIds)) {
        if (kind === 'all' || !ids.length) continue;
        const id = ids[0];
        for (const method of ['GET', 'PATCH', 'PUT', 'DELETE', 'POST']) {
          out.push([`${name}/{A's ${kind}} ${method}`, `${name}/${id}`, { method, body: method === 'GET' || method === 'DELETE' ? undefined : { name: `pwned-${++pwn}` } }, notSuccess]);
        }
        for (const field of ['machineId', 'projectId', 'jobId', 'id', 'teamId', 'userId']) {
          out.push([`${name} ?${field}=A's ${kind}`, name, { query: { [field]: id } }]);
          out.push([`${name} POST {${field}: A's ${kind}}`, name, { body: { [field]: id, name: `pwned-${++pwn}` } }]);
        }
      }
      return out;
    }
  }
}

test('every function: A\'s machines, jobs and logs are 404 for B and C (never 403), nothing leaks', { timeout: 300000 }, async () => {
  const names = [...functionNames(), 'get-recent-logs'];
  const perFunction = {};
  for (const name of names) {
    for (const [xName, x] of attackers()) {
      const attacks = functionAttacks(name === 'get-recent-logs' ? 'get-logs' : name, x, xName)
        .map(([label, target, opts, expect]) => [label.replace(/^get-logs/, name), name === 'get-recent-logs' ? target.replace(/^get-logs/, name) : target, opts, expect]);
      assert.ok(attacks.length > 0, `no attack for ${name}`);
      // logout may end the session it is sent with: a second session of the attacker's takes it.
      const who = name === 'logout' ? spare.get(x) : x;
      for (const [label, target, opts, expect] of attacks) {
        await hitFn(who, xName, label, target, opts, expect);
        perFunction[name] = (perFunction[name] ?? 0) + 1;
      }
    }
  }
  // Without a token, on A's ids: 401, and nothing leaks.
  for (const name of ['get-machine-status', 'get-logs', 'get-job']) {
    const field = name === 'get-job' ? 'jobId' : 'machineId';
    await hitFn(null, 'anon', `${name} without a token`, name, { query: { [field]: name === 'get-job' ? aIds.jobs[0] : ma1.id } }, unauthorized);
  }
  for (const name of ['start-machine', 'delete-machine', 'deploy-protocol']) {
    await hitFn(null, 'anon', `${name} without a token`, name, { body: { machineId: ma1.id } }, unauthorized);
  }
  console.log(`figure: function attacks = ${total('functions')} (${histogram(perFunction)})`);
  assertNoProblems('functions');
  await stillAttacking();
});

// Reads over POST (supabase-js invoke sends POST): every read was also attacked that way.
test('reads sent as POST (API.md §1: same fields as a JSON body) are the same reads: 404 for A\'s ids, not 405', () => {
  assert.equal(postReadGaps.length, 0, `${postReadGaps.length} reads sent as POST answered 405 method_not_allowed ` +
    `(${histogram(postReadGaps)}): API.md §1 says they accept POST with a JSON body; the attacks through that path were not tried`);
});

// ---- tables -------------------------------------------------------------------------------------

/** A value of a column's type, for writes (the counter tags the row with its attack). */
function valueFor(col, xId) {
  const n = ++pwn;
  switch (col.type) {
    case 'uuid': return xId;
    case 'integer': case 'bigint': case 'smallint': case 'numeric': case 'real': case 'double precision': return 999999;
    case 'boolean': return true;
    case 'jsonb': case 'json': return { pwned: n };
    case 'timestamp with time zone': case 'timestamp without time zone': return '2001-01-01T00:00:00Z';
    case 'inet': return '6.6.6.6';
    case 'ARRAY': return col.udt === '_uuid' ? [xId] : ['pwned'];
    default: return `pwned-${n}`;
  }
}

/** A's values of each uuid column of a table (from the snapshot), or A's main ids when A has no row. */
function aValues(t, col) {
  const vals = [...new Set((snapA.rows[t.name] ?? []).map((r) => r[col.name]).filter(Boolean))];
  return (vals.length ? vals : [a.user.id, ma1.id]).slice(0, 3);
}

async function attackTable(t, x, xName) {
  const path = `/${encodeURIComponent(t.name)}`;
  const uuidCols = t.columns.filter((col) => col.type === 'uuid');
  const repr = { prefer: 'return=representation' };
  const xId = x ? x.user.id : randomUUID();
  const go = (label, p, opts, expect) => hitRest(x, xName, `${t.name}: ${label}`, p, opts, expect);

  // Reads: everything, by A's ids, by lists and or=, and every embedding.
  await go('GET all', `${path}?select=*`);
  await go('GET all, count', `${path}?select=*`, { headers: { prefer: 'count=exact' } });
  for (const col of uuidCols) {
    const vals = aValues(t, col);
    await go(`GET ${col.name}=eq.A's`, `${path}?${col.name}=eq.${vals[0]}`);
    await go(`GET ${col.name}=in.(A's)`, `${path}?${col.name}=in.(${vals.join(',')})`);
    await go(`GET or=(${col.name}.eq.A's)`, `${path}?or=(${vals.map((v) => `${col.name}.eq.${v}`).join(',')})`);
    await go(`GET ${col.name}=not.is.null`, `${path}?${col.name}=not.is.null`);
    await go(`GET ${col.name}=eq.random`, `${path}?${col.name}=eq.${randomUUID()}`);
  }
  for (const u of tables) {
    await go(`GET select=*,${u.name}(*)`, `${path}?select=*,${u.name}(*)`);
  }
  // Computed fields: SQL functions taking a row of this table.
  for (const f of funcs.filter((f) => f.arg_types.length === 1 && f.arg_types[0] === t.name)) {
    await go(`GET select=*,${f.name}`, `${path}?select=*,${f.name}`);
  }

  // Writes on A's rows: each column, by A's ids; deletes; inserts and upserts of copies.
  const target = uuidCols.find((col) => col.name === 'id') ?? uuidCols[0];
  if (target) {
    const filter = `${target.name}=in.(${aValues(t, target).join(',')})`;
    for (const col of t.columns) {
      await go(`PATCH {${col.name}} where ${filter}`, `${path}?${filter}`, { method: 'PATCH', body: { [col.name]: valueFor(col, xId) }, headers: repr }, refusedOrEmpty);
    }
    await go(`DELETE where ${filter}`, `${path}?${filter}`, { method: 'DELETE', headers: repr }, refusedOrEmpty);
    for (const col of uuidCols) {
      await go(`DELETE where ${col.name}=eq.A's`, `${path}?${col.name}=eq.${aValues(t, col)[0]}`, { method: 'DELETE', headers: repr }, refusedOrEmpty);
      // Hand one's own rows (if any) over to A: the rows would then point at A.
      await go(`PATCH own rows {${col.name}: A's}`, `${path}?${col.name}=not.is.null`, { method: 'PATCH', body: { [col.name]: aValues(t, col)[0] }, headers: repr });
    }
  }
  const aRow = snapA.rows[t.name]?.[0];
  const tagged = (row) => Object.fromEntries(Object.entries(row).map(([k, v]) => {
    const col = t.columns.find((cc) => cc.name === k);
    return [k, col && ['text', 'character varying'].includes(col.type) && !['status', 'action', 'tier', 'provider', 'region', 'image', 'level', 'source'].includes(k) && v !== null ? `pwned-${++pwn}` : v];
  }));
  if (aRow) {
    await go('POST a copy of A\'s row, new id', path, { method: 'POST', body: tagged({ ...aRow, ...(aRow.id ? { id: randomUUID() } : {}) }), headers: repr }, refusedRest);
    await go('POST A\'s row, merge-duplicates (upsert)', path, { method: 'POST', body: tagged(aRow), headers: { prefer: 'return=representation,resolution=merge-duplicates' } }, refusedOrEmpty);
    await go('POST A\'s row, ignore-duplicates', path, { method: 'POST', body: tagged(aRow), headers: { prefer: 'return=representation,resolution=ignore-duplicates' } }, refusedOrEmpty);
    if (aRow.id) {
      await go('PUT A\'s row', `${path}?id=eq.${aRow.id}`, { method: 'PUT', body: tagged(aRow), headers: repr }, refusedOrEmpty);
      await go('POST A\'s row, on_conflict=id', `${path}?on_conflict=id`, { method: 'POST', body: tagged(aRow), headers: { prefer: 'return=representation,resolution=merge-duplicates' } }, refusedOrEmpty);
    }
  } else if (uuidCols.length) {
    const row = Object.fromEntries(uuidCols.map((col) => [col.name, col.name === 'id' ? randomUUID() : aValues(t, col)[0]]));
    await go('POST a row pointing at A', path, { method: 'POST', body: row, headers: repr }, refusedRest);
  }
}

test('every table and view through PostgREST: B, C and anon read, filter, embed, patch, delete, insert and upsert A\'s rows', { timeout: 600000 }, async () => {
  assert.ok(tables.length >= 5, `tables found: ${tables.map((t) => t.name).join(', ')}`);
  for (const t of tables) {
    for (const [xName, x] of [...attackers(), ['anon', null]]) await attackTable(t, x, xName);
  }
  // Schemas PostgREST does not serve, asked for by profile header.
  for (const name of Object.keys(hiddenBefore)) {
    const [schema, table] = name.split('.');
    for (const [xName, x] of [...attackers(), ['anon', null]]) {
      await hitRest(x, xName, `${name}: GET (Accept-Profile)`, `/${table}?select=*`, { headers: { 'accept-profile': schema } }, refusedRest);
      await hitRest(x, xName, `${name}: PATCH (Content-Profile)`, `/${table}`, { method: 'PATCH', body: { value: 999999 }, headers: { 'content-profile': schema, prefer: 'return=representation' } }, refusedRest);
    }
  }
  console.log(`figure: table attacks = ${total('tables')} on ${tables.length} tables/views (${tables.map((t) => t.name).join(', ')})`);
  assertNoProblems('tables');
  await stillAttacking();
});

// ---- RPCs ---------------------------------------------------------------------------------------

/** Candidate values for an RPC argument, chosen by its name and type. */
function candidates(argName, type, x) {
  const n = () => ++pwn;
  const name = argName.toLowerCase();
  if (type === 'uuid') {
    if (/machine/.test(name)) return aIds.machines;
    if (/job/.test(name)) return aIds.jobs.slice(0, 4);
    if (/project/.test(name)) return aIds.projects;
    if (/deploy/.test(name)) return aIds.deployments;
    if (/session|family/.test(name)) return aIds.sessions;
    if (/event/.test(name)) return aIds.events;
    if (/account|user|owner|uid/.test(name)) return aIds.account;
    return aIds.all.slice(0, 8);
  }
  if (type === 'text' || type === 'character varying') {
    if (/action/.test(name)) return ['deploy', 'command', 'start', 'stop', 'restart', 'terminate', 'create', 'delete'];
    if (/status/.test(name)) return ['succeeded', 'failed', 'running'];
    if (/did/.test(name)) return [a.sub];
    if (/hash/.test(name)) return [...(snapA.rows.refresh_tokens ?? []).map((r) => r.token_hash).slice(0, 2), 'x'.repeat(64)];
    if (/signature/.test(name)) return [`t=1,v1=${randomBytes(32).toString('hex')}`];
    if (/identifier|email/.test(name)) return [a.user.identifier ?? 'a@example.com'];
    if (/idempotency|key/.test(name)) return [aKey];
    if (/provider/.test(name)) return ['aws'];
    if (/region/.test(name)) return ['us-east-1'];
    if (/image/.test(name)) return ['ubuntu-22.04'];
    if (/tier/.test(name)) return ['dev.small'];
    if (/level/.test(name)) return ['error'];
    if (/ssh/.test(name)) return [sshPublicKey('pwned@x')];
    if (/cursor/.test(name)) return [aCursor ?? 'x'];
    return [`pwned-${n()}`];
  }
  if (type === 'jsonb' || type === 'json') {
    if (/params/.test(name)) return [{ name: 'geth', version: '1', deploymentId: aIds.deployments[0] }, { command: 'ls', machineId: ma1.id }];
    if (/outputs/.test(name)) return [{ ipAddress: '6.6.6.6', providerInstanceId: `pwned-${n()}` }];
    if (/logs/.test(name)) return [[{ level: 'error', message: `pwned-${n()}` }]];
    if (/project/.test(name)) return [{ set: true, value: pa.id }];
    if (/tier/.test(name)) return [{ set: true, value: 'dev.xlarge' }];
    if (/name|display|photo/.test(name)) return [{ set: true, value: `pwned-${n()}` }];
    return [{ pwned: n() }];
  }
  if (['integer', 'bigint', 'smallint', 'numeric'].includes(type)) {
    if (/credit|cents|amount|balance/.test(name)) return [999999];
    if (/limit/.test(name)) return [100];
    return [1];
  }
  if (type === 'boolean') return [true, false];
  if (type.startsWith('timestamp')) return [new Date().toISOString()];
  if (type === 'uuid[]') return [aIds.all.slice(0, 8)];
  if (type.endsWith('[]')) return [['pwned']];
  // A row type (public.jobs, machines, …): A's own rows, forged into the argument.
  const table = type.replace(/^public\./, '');
  if (snapA.rows[table]?.length) return snapA.rows[table].slice(0, 3);
  return [`pwned-${n()}`];
}

async function attackRpc(f, x, xName) {
  const names = f.arg_names.slice(0, f.arg_types.length);
  if (names.some((nm) => !nm)) return 0; // unnamed arguments: not callable with named JSON
  const lists = names.map((nm, i) => candidates(nm, f.arg_types[i], x));
  const calls = [];
  const n = Math.min(8, Math.max(1, ...lists.map((l) => l.length)));
  for (let i = 0; i < n; i++) calls.push(Object.fromEntries(names.map((nm, k) => [nm, lists[k][i % lists[k].length]])));
  // B's own machine with A's project, deployment, jobs in the other arguments (only where
  // some other argument can carry one of A's things: an action alone proves nothing there).
  const mIdx = names.findIndex((nm, k) => /machine/.test(nm) && f.arg_types[k] === 'uuid');
  const carriesA = names.some((nm, k) => k !== mIdx && !['text', 'character varying', 'integer', 'bigint', 'boolean'].includes(f.arg_types[k]) && !f.arg_types[k].startsWith('timestamp'));
  if (x === b && mIdx >= 0 && carriesA) for (const call of calls.slice(0, 4)) calls.push({ ...call, [names[mIdx]]: mb.id });
  // Functions no user may execute are refused whatever the arguments.
  const allowed = x ? f.authenticated : f.anon;
  for (const body of calls) {
    await hitRest(x, xName, `rpc ${f.signature} ${JSON.stringify(body).slice(0, 160)}`, `/rpc/${f.name}`, { method: 'POST', body, area: 'rpc' }, allowed ? undefined : refusedRest);
  }
  return calls.length;
}

test('every RPC: B, C and anon call each SQL function with A\'s ids, forged rows and service-only arguments', { timeout: 600000 }, async () => {
  const perFunction = {};
  const serviceOnly = funcs.filter((f) => !f.authenticated).map((f) => f.name);
  for (const f of funcs) {
    for (const [xName, x] of [...attackers(), ['anon', null]]) perFunction[f.name] = (perFunction[f.name] ?? 0) + await attackRpc(f, x, xName);
  }
  console.log(`figure: RPC attacks = ${total('rpc')} on ${funcs.length} SQL functions (${serviceOnly.length} service-only: ${[...new Set(serviceOnly)].join(', ')})`);
  assertNoProblems('rpc');
  await stillAttacking();
});

// ---- the verdict ------------------------------------------------------------------------------

test('afterwards: every row of A\'s is unchanged, no row points at A anew, hidden tables unchanged', { timeout: 180000 }, async () => {
  // What the attacks set in motion for B and C (their own jobs) settles first.
  const theirs = [...(snapB.rows.machines ?? []), ...(snapC.rows.machines ?? [])].map((m) => m.id);
  const bNow = await ownedSnapshot(b.user.id, { tables });
  const cNow = await ownedSnapshot(c.user.id, { tables });
  const all = [...new Set([...theirs, ...(bNow.rows.machines ?? []).map((m) => m.id), ...(cNow.rows.machines ?? []).map((m) => m.id), ma1.id, ma2.id])];
  // No scheduler tick here: a tick may also meter A's running machine, which is no attack.
  const q = await quiesce(all, { timeoutMs: 60000, ticking: false });
  if (q.active.length) console.log(`note: ${q.active.length} jobs of B/C still open after 60 s: ${JSON.stringify(q.active).slice(0, 600)}`);

  const after = await ownedSnapshot(a.user.id, { tables, ids: snapA.ids });
  const diff = snapshotDiff(snapA, after);
  const hiddenAfter = await hiddenSnapshot();
  const aIdList = [...snapA.ids];
  const hiddenDiff = [];
  for (const t of new Set([...Object.keys(hiddenBefore), ...Object.keys(hiddenAfter)])) {
    const x = new Set(hiddenBefore[t] ?? []);
    const y = new Set(hiddenAfter[t] ?? []);
    // Rows that concern A, or carry no account at all (operator settings): others' rows move with their traffic.
    const relevant = (r) => aIdList.some((id) => r.includes(id)) || !/[0-9a-f]{8}-[0-9a-f]{4}-/.test(r);
    for (const r of x) if (!y.has(r) && relevant(r)) hiddenDiff.push(`${t}: changed or removed: ${r.slice(0, 300)}`);
    for (const r of y) if (!x.has(r) && relevant(r)) hiddenDiff.push(`${t}: new or changed: ${r.slice(0, 300)}`);
  }
  const who = [...new Set([...tally.keys()].map((k) => k.split(' as ')[1]))];
  console.log(`figure: cross-tenant attacks = ${total()} (functions ${total('functions')}, tables ${total('tables')}, rpc ${total('rpc')}; ` +
    `${who.map((w) => `${w} ${[...tally].filter(([k]) => k.endsWith(` as ${w}`)).reduce((s, [, v]) => s + v, 0)}`).join(', ')}); ` +
    `A's rows changed: ${diff.length}; hidden rows changed: ${hiddenDiff.length}`);
  assert.deepEqual(diff, [], `A's rows changed by the attacks (a pwned-<n> value names the attack's counter):\n  ${diff.slice(0, 40).join('\n  ')}`);
  assert.deepEqual(hiddenDiff, [], `tables outside public changed:\n  ${hiddenDiff.slice(0, 40).join('\n  ')}`);

  // A still works as before.
  const me = ok(await fn('me', { token: a.accessToken }));
  assert.equal(me.id, a.user.id);
  assert.equal(ok(await fn('get-machine-status', { token: a.accessToken, query: { machineId: ma1.id } })).status, 'running');
});

// A forged callback needs the runner's secret; with it, it is the runner. What a user can do
// with A's job ids and no secret is covered above (401); this checks that the helper's valid
// signature is what makes the difference, so the 401s above are not for some other reason.
test('control: a validly signed callback for an unknown job is 404, so the 401s above were the signature', async () => {
  fails(await callback({ jobId: randomUUID(), status: 'running', fence: 1 }), 404, 'not_found');
});
