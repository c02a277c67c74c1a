// JWT minting with node crypto only: ES256 (JOSE r||s signatures), HS256, alg:none.
import { createHmac, sign, randomBytes, randomUUID } from 'node:crypto';
import { env, privyKey } from './env.mjs';

const b64u = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
export const now = () => Math.floor(Date.now() / 1000);

export function es256(claims, key = privyKey, header = {}) {
  const input = `${b64u({ alg: 'ES256', typ: 'JWT', ...header })}.${b64u(claims)}`;
  const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

export function hs256(claims, secret, header = {}) {
  const input = `${b64u({ alg: 'HS256', typ: 'JWT', ...header })}.${b64u(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export function algNone(claims) {
  return `${b64u({ alg: 'none', typ: 'JWT' })}.${b64u(claims)}.`;
}

export function decode(token) {
  const [h, p] = token.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), payload: JSON.parse(Buffer.from(p, 'base64url')) };
}

export const newPrivyDid = () => `did:privy:${randomBytes(12).toString('hex')}`;
/** A random Ethereum-style address in mixed case, e.g. 0xAbC… */
export const newAddress = () =>
  '0x' + [...randomBytes(20).toString('hex')].map((c, i) => (i % 2 ? c.toUpperCase() : c)).join('');

/** Privy access-token claims; pass a claim as undefined to drop it. */
export function privyClaims(overrides = {}) {
  const t = now();
  return { sid: randomUUID(), sub: newPrivyDid(), iss: 'privy.io', aud: env.PRIVY_APP_ID, iat: t, exp: t + 3600, ...overrides };
}

/** A Privy access token (ES256). */
export const privyToken = (overrides = {}, key = privyKey) => es256(privyClaims(overrides), key);

/** A Privy identity token: the same claims plus linked_accounts as a JSON string. */
export const identityToken = (sub, linkedAccounts, overrides = {}, key = privyKey) =>
  es256(privyClaims({ sub, linked_accounts: JSON.stringify(linkedAccounts), ...overrides }), key);

/** Session-like claims (what exchange mints and Supabase Auth issues). */
export function sessionClaims(overrides = {}) {
  const t = now();
  return { sub: randomUUID(), role: 'authenticated', aud: 'authenticated', iat: t, exp: t + 3600, ...overrides };
}

/** An HS256 session token, signed with SUPABASE_JWT_SECRET unless told otherwise. */
export const sessionToken = (overrides = {}, secret = env.SUPABASE_JWT_SECRET) => hs256(sessionClaims(overrides), secret);
