// Helpers for the projects, pricing, credits and Supabase Auth tests (API.md §1, §4): the
// `projects` function by path, the Project and BillingRecord shapes, Supabase-Auth-shaped
// tokens (HS256 with the project's JWT secret, as Supabase Auth issues them), add-credits
// with the service-role key.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { env } from './env.mjs';
import { fn, ok, UUID_RE } from './api.mjs';
import { hs256, now } from './jwt.mjs';
import { newName, value } from './machines.mjs';

// ---- projects ------------------------------------------------------------------------------

/** The `projects` function as `user`: projects(user, { id, method, body, query }). */
export const projects = (user, { id, method, body, query } = {}) =>
  fn(id === undefined ? 'projects' : `projects/${id}`, { token: user.accessToken, method, body, query });

/** POST projects as `user`, asserting 201; returns the Project. */
export const newProject = async (user, body = {}) => ok(await projects(user, { body: { name: newName('p'), ...body } }), 201);

const isDate = (v) => typeof v === 'string' && !Number.isNaN(Date.parse(v));

export const PROJECT_KEYS = ['id', 'name', 'description', 'teamId', 'machineCount', 'createdAt', 'updatedAt'];

/** The Project shape of API.md §4 (plus `machines` for a read of one project). */
export function assertProject(p, { withMachines = false } = {}) {
  assert.deepEqual(Object.keys(p).sort(), [...PROJECT_KEYS, ...(withMachines ? ['machines'] : [])].sort(), JSON.stringify(p));
  assert.match(p.id, UUID_RE, 'id');
  assert.equal(typeof p.name, 'string');
  assert.ok(p.description === null || typeof p.description === 'string', 'description');
  assert.ok(Number.isInteger(p.machineCount) && p.machineCount >= 0, 'machineCount');
  assert.ok(isDate(p.createdAt) && isDate(p.updatedAt), 'createdAt, updatedAt');
  if (withMachines) assert.ok(Array.isArray(p.machines), 'machines');
}

// ---- Supabase Auth ---------------------------------------------------------------------------

/**
 * Claims of a Supabase Auth access token as GoTrue issues them (email/password by default).
 * Pass a claim as undefined to drop it.
 */
export function supabaseClaims(overrides = {}) {
  const t = now();
  const email = `sb-${randomUUID().slice(0, 8)}@example.com`;
  return {
    aud: 'authenticated', role: 'authenticated', sub: randomUUID(), iss: `${env.SUPABASE_URL ?? ''}/auth/v1`,
    iat: t, exp: t + 3600, email, phone: '',
    app_metadata: { provider: 'email', providers: ['email'] }, user_metadata: {},
    aal: 'aal1', amr: [{ method: 'password', timestamp: t }], session_id: randomUUID(), is_anonymous: false,
    ...overrides,
  };
}

/** A Supabase Auth user that has never called Hangar: { sub, claims, accessToken }. */
export function supabaseUser(overrides = {}) {
  const claims = supabaseClaims(overrides);
  return { sub: claims.sub, claims, accessToken: hs256(claims, env.SUPABASE_JWT_SECRET) };
}

/** The signup credits that first use grants (private.settings), as the database holds them. */
export const signupSetting = async () =>
  Number(await value`select value from private.settings where name = 'signup_credits_cents'`);

// ---- credits ------------------------------------------------------------------------------------

/** add-credits with the service-role key (or `token`). */
export const addCredits = (body, { token = env.SUPABASE_SERVICE_ROLE_KEY, method } = {}) =>
  fn('add-credits', { token, body, method });

export const BILLING_RECORD_KEYS = ['id', 'kind', 'amountCents', 'description', 'machineId', 'periodStart', 'periodEnd', 'createdAt'];

/** The BillingRecord shape of API.md §4. */
export function assertBillingRecord(r) {
  assert.deepEqual(Object.keys(r).sort(), [...BILLING_RECORD_KEYS].sort(), JSON.stringify(r));
  assert.match(r.id, UUID_RE, 'id');
  assert.ok(['charge', 'credit', 'signup'].includes(r.kind), `kind ${r.kind}`);
  assert.ok(Number.isInteger(r.amountCents), 'amountCents');
  assert.equal(typeof r.description, 'string');
  assert.ok(isDate(r.createdAt), 'createdAt');
}
