// HTTP helpers for the functions and PostgREST, plus shared assertions.
import assert from 'node:assert/strict';
import { env, signupCredits } from './env.mjs';
import { privyToken, newPrivyDid, identityToken } from './jwt.mjs';

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function send(url, method, headers, body) {
  const res = await fetch(url, { method, headers, body });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, json, text };
}

const lower = (h = {}) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));

/**
 * Call a function: fn('me', { method, body, token, headers, query, rawBody }) → { status, headers, json, text }.
 * `body` is sent as JSON; `rawBody` as is. The method defaults to POST when there is a body, else GET.
 */
export function fn(name, { method, body, rawBody, token, headers, query } = {}) {
  const url = new URL(`${env.FUNCTIONS_URL}/functions/v1/${name}`);
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
  const h = lower(headers);
  let payload = rawBody;
  if (body !== undefined) {
    payload = JSON.stringify(body);
    h['content-type'] ??= 'application/json';
  }
  if (token) h.authorization = `Bearer ${token}`;
  return send(url, method ?? (payload === undefined ? 'GET' : 'POST'), h, payload);
}

/**
 * Call PostgREST: rest('/accounts?id=eq.x', { method, token, body, headers }).
 * `token` defaults to the anon key; `key` is the apikey header (anon key by default).
 */
export function rest(path, { method = 'GET', token = env.SUPABASE_ANON_KEY, key = env.SUPABASE_ANON_KEY, body, headers } = {}) {
  const h = { apikey: key, ...lower(headers) };
  if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  return send(`${env.POSTGREST_URL}${path}`, method, h, body === undefined ? undefined : JSON.stringify(body));
}

/** PostgREST as service_role (bypasses RLS): the ground truth of the database. */
export const service = (path, opts = {}) =>
  rest(path, { ...opts, token: env.SUPABASE_SERVICE_ROLE_KEY, key: env.SUPABASE_SERVICE_ROLE_KEY });

export async function accountRows(filter) {
  const res = await service(`/accounts?${filter}`);
  assert.equal(res.status, 200, `service-role read of accounts: ${show(res)}`);
  return res.json;
}
export const accountsByDid = (did) => accountRows(`privy_did=eq.${encodeURIComponent(did)}`);
export async function accountById(id) {
  const rows = await accountRows(`id=eq.${id}`);
  assert.equal(rows.length, 1, `account ${id} should exist`);
  return rows[0];
}
export async function assertNoAccount(did) {
  assert.deepEqual(await accountsByDid(did), [], `no account should exist for ${did}`);
}

export const show = (res) => `${res.status} ${res.text.slice(0, 400)}`;

/** A success envelope: checks status, success:true, x-request-id; returns data. */
export function ok(res, status = 200) {
  assert.equal(res.status, status, show(res));
  assert.equal(res.json?.success, true, show(res));
  assert.ok(res.headers.get('x-request-id'), 'x-request-id header');
  return res.json.data;
}

/** An error envelope with the given status and error_code (and details.field when given). */
export function fails(res, status, code, field) {
  assert.equal(res.status, status, show(res));
  const j = res.json;
  assert.ok(j, `error body should be JSON: ${show(res)}`);
  assert.equal(j.success, false, show(res));
  assert.equal(j.error_code, code, show(res));
  assert.equal(typeof j.message, 'string', 'message');
  assert.ok(j.request_id, 'request_id');
  assert.ok(!Number.isNaN(Date.parse(j.timestamp)), `timestamp should be a date: ${j.timestamp}`);
  assert.equal(res.headers.get('x-request-id'), j.request_id, 'x-request-id header = request_id');
  if (field !== undefined) assert.equal(j.details?.field, field, `details.field: ${show(res)}`);
  return j;
}

/** The Account shape of API.md §2. */
export function assertAccount(a) {
  assert.match(a.id, UUID_RE, 'id');
  for (const k of ['displayName', 'photoUrl', 'provider', 'identifier']) {
    assert.ok(a[k] === null || typeof a[k] === 'string', `${k} should be string|null, got ${JSON.stringify(a[k])}`);
  }
  assert.match(a.privyDid, /^did:privy:/, 'privyDid');
  for (const k of ['creditBalanceCents', 'machineCount', 'projectCount']) {
    assert.ok(Number.isInteger(a[k]), `${k} should be an integer, got ${JSON.stringify(a[k])}`);
  }
  for (const k of ['createdAt', 'lastLogin']) assert.ok(!Number.isNaN(Date.parse(a[k])), `${k} should be a date`);
}

/**
 * Exchange a fresh Privy token. Options: sub (default: random), linkedAccounts (sends an identity token).
 * Returns { sub, session, user, accessToken, refreshToken }.
 */
export async function signIn({ sub = newPrivyDid(), linkedAccounts } = {}) {
  const body = { token: privyToken({ sub }) };
  if (linkedAccounts) body.identityToken = identityToken(sub, linkedAccounts);
  const session = ok(await fn('exchange', { body }));
  return { sub, session, user: session.user, accessToken: session.accessToken, refreshToken: session.refreshToken };
}

export { signupCredits };
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
