// The HTTP shape every function shares (API.md §1), exercised on `me` and `exchange`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, allowedOrigins } from '../lib/env.mjs';
import { privyToken, newPrivyDid } from '../lib/jwt.mjs';
import { fn, ok, fails, show, signIn, assertNoAccount, UUID_RE } from '../lib/api.mjs';

// With ALLOWED_ORIGINS=* any origin is allowed and the answer is `*`.
const wildcard = allowedOrigins[0] === '*';
const origin = wildcard ? 'https://app.example' : allowedOrigins[0];
const expectedAcao = wildcard ? '*' : origin;
const evil = 'https://evil.example';
const list = (res, name) => (res.headers.get(name) ?? '').toLowerCase().split(',').map((s) => s.trim());

const preflight = (name, from, method) =>
  fn(name, { method: 'OPTIONS', headers: { origin: from, 'access-control-request-method': method, 'access-control-request-headers': 'authorization, content-type' } });

for (const [name, method, methods] of [['me', 'PATCH', ['get', 'patch']], ['exchange', 'POST', ['post']]]) {
  test(`OPTIONS ${name} from an allowed origin is a 204 preflight`, async () => {
    const res = await preflight(name, origin, method);
    assert.equal(res.status, 204, show(res));
    assert.equal(res.headers.get('access-control-allow-origin'), expectedAcao);
    const headers = list(res, 'access-control-allow-headers');
    for (const h of ['authorization', 'x-client-info', 'apikey', 'content-type', 'idempotency-key']) {
      assert.ok(headers.includes(h), `allow-headers has ${h}: ${headers}`);
    }
    const allowed = list(res, 'access-control-allow-methods');
    for (const m of methods) assert.ok(allowed.includes(m), `allow-methods has ${m}: ${allowed}`);
    assert.ok(res.headers.get('x-request-id'), 'x-request-id');
  });
}

test('OPTIONS from an origin not allowed gets no CORS grant', { skip: wildcard && 'ALLOWED_ORIGINS is *' }, async () => {
  const res = await preflight('me', evil, 'GET');
  assert.notEqual(res.headers.get('access-control-allow-origin'), evil);
  assert.notEqual(res.headers.get('access-control-allow-origin'), '*');
  fails(res, 403, 'forbidden');
});

test('error and success responses carry the CORS headers', async () => {
  const err = await fn('me', { headers: { origin } });
  fails(err, 401, 'unauthorized');
  assert.equal(err.headers.get('access-control-allow-origin'), expectedAcao);

  const a = await signIn();
  // supabase-js also sends apikey and x-client-info: accepted and ignored.
  const headers = { origin, apikey: env.SUPABASE_ANON_KEY, 'x-client-info': 'supabase-js/2.45.0' };
  const good = await fn('me', { token: a.accessToken, headers });
  ok(good);
  assert.equal(good.headers.get('access-control-allow-origin'), expectedAcao);
});

test('an unsupported method is 405 with an Allow header', async () => {
  const res = await fn('me', { method: 'DELETE', token: (await signIn()).accessToken });
  fails(res, 405, 'method_not_allowed');
  const allow = list(res, 'allow');
  for (const m of ['get', 'patch', 'options']) assert.ok(allow.includes(m), `Allow has ${m}: ${allow}`);
  assert.ok(!allow.includes('delete'));
});

test('HEAD is refused without a body, on a function and where no function is', async () => {
  // `instances/%2e%2e` is `/functions/v1/` once the URL is normalised (the fuzzer sent it):
  // no function, 404, and an answer to HEAD has no body (final/contract.test.mjs checks it).
  for (const [name, statuses] of [['me', [405]], ['instances/%2e%2e', [404]], ['no-such-function', [404]]]) {
    const res = await fn(name, { method: 'HEAD' });
    assert.ok(statuses.includes(res.status), `HEAD ${name}: ${show(res)}`);
    assert.equal(res.text, '', `HEAD ${name} has no body`);
    assert.ok(res.headers.get('x-request-id'), `HEAD ${name} answered by a function`);
  }
});

test('a body over 64 KiB is 413', async () => {
  const sub = newPrivyDid();
  const body = { token: privyToken({ sub }), identityToken: 'x'.repeat(65 * 1024) };
  fails(await fn('exchange', { body }), 413, 'payload_too_large');
  await assertNoAccount(sub);
});

test('a non-JSON content type is 415', async () => {
  const sub = newPrivyDid();
  const rawBody = JSON.stringify({ token: privyToken({ sub }) });
  fails(await fn('exchange', { rawBody, headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
  await assertNoAccount(sub);
});

test('application/json with a charset parameter is accepted', async () => {
  const rawBody = JSON.stringify({ token: privyToken({ sub: newPrivyDid() }) });
  ok(await fn('exchange', { rawBody, headers: { 'content-type': 'application/json; charset=utf-8' } }));
});

test('an unparsable JSON body is 400 invalid_json', async () => {
  fails(await fn('exchange', { rawBody: '{bad json', headers: { 'content-type': 'application/json' } }), 400, 'invalid_json');
});

test('a field of the wrong type is a validation error naming the field', async () => {
  fails(await fn('exchange', { body: { token: 5 } }), 400, 'validation_error', 'token');
});

test('x-request-id echoes cf-ray, or is a fresh UUID', async () => {
  const echoed = await fn('me', { headers: { 'cf-ray': 'abc123' } });
  assert.equal(echoed.headers.get('x-request-id'), 'abc123');
  assert.equal(echoed.json?.request_id, 'abc123');

  const [r1, r2] = await Promise.all([fn('me'), fn('me')]);
  assert.match(r1.headers.get('x-request-id') ?? '', UUID_RE);
  assert.notEqual(r1.headers.get('x-request-id'), r2.headers.get('x-request-id'));
});

test('an unknown function path is 404', async () => {
  const res = await fn('nope');
  assert.equal(res.status, 404, show(res));
});

test('errors never leak internals', async () => {
  const res = await fn('me', { token: 'a.b.c' });
  fails(res, 401, 'invalid_token');
  assert.doesNotMatch(res.text, new RegExp(env.SUPABASE_JWT_SECRET.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  assert.doesNotMatch(res.text, /panicked|RuntimeError|PGRST|stack backtrace/i);
});
