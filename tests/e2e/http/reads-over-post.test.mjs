// Reads over POST (API.md §1, issue 11): `supabase.functions.invoke(name, { body })` sends
// POST, so every function that reads (GET) and has no POST of its own answers POST with the
// query's fields as a JSON body, the same read. Also the method and path rules the contract
// test found broken: a method the runtime does not know is 405 (not served as GET), and
// `<name>/<anything>` is 404 unless the function takes sub-paths.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { env } from '../lib/env.mjs';
import { fn, ok, fails, show, signIn } from '../lib/api.mjs';
import { createMachine } from '../lib/machines.mjs';
import { waitForStatus } from '../lib/runner.mjs';

let user, m;
before(async () => {
  user = await signIn();
  m = await createMachine(user);
  // Settled, so that GET and POST read the same machine.
  await waitForStatus(user, m.id, 'running');
});

const same = (a, b, what) => {
  // The data of both answers, minus what moves between two calls.
  const strip = (d) => JSON.parse(JSON.stringify(d, (k, v) => (['lastLogin', 'updatedAt', 'timestamp', 'from', 'to'].includes(k) ? undefined : v)));
  assert.deepEqual(strip(a), strip(b), what);
};

test('every read answers POST with its query as a JSON body, the same data as GET', async () => {
  const token = user.accessToken;
  const reads = [
    ['me', {}],
    ['get-user-machines', { limit: 5 }],
    ['get-machine-status', { machineId: m.id }],
    ['get-logs', { machineId: m.id, limit: 3 }],
    ['get-recent-logs', { machineId: m.id }],
    ['get-billing', {}],
    ['get-pricing', {}],
    ['insights', { machineId: m.id, period: '1h' }],
    ['health', {}],
  ];
  for (const [name, fields] of reads) {
    const query = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)]));
    const viaGet = await fn(name, { token, query });
    const viaPost = await fn(name, { token, method: 'POST', body: fields });
    assert.equal(viaPost.status, viaGet.status, `${name}: POST ${show(viaPost)} vs GET ${show(viaGet)}`);
    same(viaPost.json.data, viaGet.json.data, name);
  }
});

test('a read over POST: an empty body reads the query; no body at all is the plain read', async () => {
  const token = user.accessToken;
  const viaQuery = ok(await fn('get-machine-status', { token, method: 'POST', query: { machineId: m.id } }));
  assert.equal(viaQuery.id, m.id);
  const me = ok(await fn('me', { token, method: 'POST' }));
  assert.equal(me.id, user.user.id);
});

test('a read over POST refuses what a query could not say: both forms at once, unknown fields, nested values', async () => {
  const token = user.accessToken;
  fails(await fn('get-machine-status', { token, method: 'POST', query: { machineId: m.id }, body: { machineId: m.id } }), 400, 'validation_error', 'body');
  fails(await fn('get-machine-status', { token, method: 'POST', body: { machineId: m.id, machineID: m.id } }), 400, 'validation_error', 'machineID');
  fails(await fn('get-logs', { token, method: 'POST', body: { machineId: m.id, limit: { n: 1 } } }), 400, 'validation_error', 'limit');
  fails(await fn('get-machine-status', { token, method: 'POST', body: { machineId: 'nope' } }), 400, 'validation_error', 'machineId');
  fails(await fn('get-machine-status', { token, method: 'POST', rawBody: '[1]', headers: { 'content-type': 'application/json' } }), 400, 'validation_error', 'body');
  fails(await fn('get-machine-status', { token, method: 'POST', rawBody: 'machineId=x', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
});

test('a read over POST of someone else\'s machine is 404, as over GET', async () => {
  const other = await signIn();
  fails(await fn('get-machine-status', { token: other.accessToken, method: 'POST', body: { machineId: m.id } }), 404, 'not_found');
});

test('functions with a POST of their own keep it: POST creates, it is not a read', async () => {
  const res = await fn('projects', { token: user.accessToken, method: 'POST', body: { name: `p-${Date.now()}` } });
  assert.equal(res.status, 201, show(res));
});

test('a method the runtime does not know (PROPFIND, QUERY, PURGE) is 405 with Allow, never served as GET', async () => {
  for (const method of ['PROPFIND', 'QUERY', 'PURGE', 'MKCOL']) {
    for (const name of ['me', 'health', 'instances']) {
      const res = await fn(name, { method, token: user.accessToken });
      fails(res, 405, 'method_not_allowed');
      assert.ok(res.headers.get('allow'), `${method} ${name}: Allow header`);
    }
  }
});

test('<name>/<anything> is 404 unless the function takes sub-paths', async () => {
  const token = user.accessToken;
  for (const path of ['me/x', 'health/abc', 'exchange/x', 'get-machine-status/x', 'logout/x', 'get-user-machines/1', 'scheduler/x']) {
    const res = await fn(path, { token });
    fails(res, 404, 'not_found');
  }
  // Those that take one still do.
  ok(await fn(`instances/${m.id}`, { token }));
});
