// The HTTP fuzzer behind http/fuzz.test.mjs: a seeded PRNG, request generators per function
// (mutated valid bodies, deep nesting, broken bytes, odd methods, content types, headers,
// tokens, query strings, sub-paths, chunked bodies), and the envelope check of API.md §1.
//
// Every request is generated from (seed, function, index) alone, so one request can be
// replayed without the others: FUZZ_SEED=<seed> FUZZ_ONLY=<function>[:<index>]. What a
// request refers to (tokens, machine and job ids) comes from the run's context, so a replay
// has the same shape with this run's users.
import { createHmac, randomUUID, sign } from 'node:crypto';
import http from 'node:http';
import { recordResponse } from './api.mjs';
import { env, allowedOrigins, verificationPem, privyKey } from './env.mjs';
import { privyToken, privyClaims, identityToken, sessionToken, sessionClaims, hs256, es256, algNone, newPrivyDid, newAddress, now } from './jwt.mjs';

// ---- the PRNG ------------------------------------------------------------------------------

/** xmur3: a string into a stream of 32-bit seeds. */
function xmur3(str) {
  let h = 1779033703 ^ str.length;
  for (let i = 0; i < str.length; i++) {
    h = Math.imul(h ^ str.charCodeAt(i), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  return () => {
    h = Math.imul(h ^ (h >>> 16), 2246822507);
    h = Math.imul(h ^ (h >>> 13), 3266489909);
    return (h ^= h >>> 16) >>> 0;
  };
}

/** sfc32: a small, fast PRNG with a 128-bit state; floats in [0, 1). */
function sfc32(a, b, c, d) {
  return () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

export class Rand {
  constructor(...seedParts) {
    const h = xmur3(seedParts.join('|'));
    this.next = sfc32(h(), h(), h(), h());
    for (let i = 0; i < 12; i++) this.next();
  }
  int(n) { return Math.floor(this.next() * n); }
  range(lo, hi) { return lo + this.int(hi - lo + 1); }
  chance(p) { return this.next() < p; }
  pick(list) { return list[this.int(list.length)]; }
  /** [[weight, value], ...] → a value (a function value is called with this). */
  weighted(entries) {
    const total = entries.reduce((s, [w]) => s + w, 0);
    let x = this.next() * total;
    for (const [w, v] of entries) {
      if ((x -= w) < 0) return typeof v === 'function' ? v(this) : v;
    }
    const v = entries[entries.length - 1][1];
    return typeof v === 'function' ? v(this) : v;
  }
  bytes(n) {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  string(n, alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789') {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
}

export const newSeed = () => Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, '0');

// ---- JSON text with what JSON.stringify cannot say ----------------------------------------

/** Literal JSON text (a number out of range, a bad token, a deep structure). */
export class Raw {
  constructor(text) { this.text = text; }
}
/** An object as a list of [key, value] pairs: duplicate keys allowed. */
export class Pairs {
  constructor(pairs) { this.pairs = pairs; }
}

export function toJson(v) {
  if (v instanceof Raw) return v.text;
  if (v instanceof Pairs) return `{${v.pairs.map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(',')}}`;
  if (Array.isArray(v)) return `[${v.map(toJson).join(',')}]`;
  if (v === undefined) return 'null';
  if (v !== null && typeof v === 'object') {
    return `{${Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(',')}}`;
  }
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return JSON.stringify(v);
}

/** How deeply bytes nest arrays and objects (brackets inside strings do not count). */
export function nestingDepth(buf) {
  let depth = 0, max = 0, inString = false, escaped = false;
  for (const b of buf) {
    if (inString) {
      if (escaped) escaped = false;
      else if (b === 0x5c) escaped = true;
      else if (b === 0x22) inString = false;
      continue;
    }
    if (b === 0x22) inString = true;
    else if (b === 0x5b || b === 0x7b) max = Math.max(max, ++depth);
    else if (b === 0x5d || b === 0x7d) depth = Math.max(0, depth - 1);
  }
  return max;
}

// ---- values ----------------------------------------------------------------------------------

export const DEPTHS = [10, 15, 16, 17, 24, 31, 32, 33, 40, 64, 100, 125, 126, 128, 129, 256, 500, 1000, 2000, 5000];

/** A value nesting exactly `d` arrays/objects deep (as Raw text). */
export function deep(r, d) {
  const shape = r.pick(['array', 'object', 'mixed', 'wide']);
  const leaf = r.pick(['1', '"x"', 'null', '{}', '[]', 'true']);
  // An empty {} or [] is a level of its own.
  const levels = leaf === '{}' || leaf === '[]' ? d - 1 : d;
  let open = '', close = '';
  for (let i = 0; i < levels; i++) {
    const arr = shape === 'array' || (shape === 'mixed' && i % 2 === 0) || (shape === 'wide' && r.chance(0.5));
    open += arr ? (shape === 'wide' ? '[0,"a",' : '[') : shape === 'wide' ? '{"k":1,"a":' : '{"a":';
    close = (arr ? ']' : '}') + close;
  }
  return new Raw(open + leaf + close);
}

const EDGE_NUMBERS = [
  '0', '-0', '1', '-1', '0.0', '1.5', '-1.5', '2147483647', '2147483648', '-2147483649', '4294967296',
  '9007199254740991', '9007199254740993', '9223372036854775807', '9223372036854775808', '-9223372036854775808',
  '-9223372036854775809', '18446744073709551615', '18446744073709551616', '1e308', '-1e308', '1.7976931348623157e308',
  '5e-324', '2.2250738585072014e-308', '1e400', '-1e400', '1e-400', '1E2', '100.0', '3600', '3601', '0.5', '1e-7',
  '123456789012345678901234567890', '0.1e1', '-0.0',
];
// Not JSON at all: the parser must say invalid_json.
const BAD_NUMBERS = ['NaN', 'Infinity', '-Infinity', '+1', '.5', '01', '1.', '0x10', '1e', '--1', '1_000'];

const UNICODE = [
  'héllo wörld', '日本語のマシン', 'مرحبا', 'עברית', '😀🚀🔥', '👨‍👩‍👧‍👦', 'e\u0301\u0301\u0301', 'a\u200bb\u200db\ufeff',
  '\u202eevil\u202c', 'line\u2028sep\u2029', 'nul\u0000byte', 'tab\tnew\nline\r', '\ud800', '\udfff', 'x\ud83dy',
  '\uffff\ufffe', '𝕳𝖆𝖓𝖌𝖆𝖗', 'Ⓜⓐⓒⓗⓘⓝⓔ', '\u0000', 'ａｂｃ', '\u00a0nbsp\u00a0', 'İıŞş', 'ß', 'Ω≈ç√∫',
];
const NASTY = [
  '', ' ', '   x   ', "'; drop table machines; --", '" or 1=1 --', '../../etc/passwd', '..%2f..%2f', '%00', '${jndi:ldap://x/a}',
  '<script>alert(1)</script>', '%s%s%n%x', '{{7*7}}', '{"a":1}', '[1,2]', 'null', 'true', 'eq.1', 'not.is.null',
  'id=eq.1&owner_id=neq.0', '*', 'SELECT 1', '\\', '\\u0000', '\\\\\\"', 'a'.repeat(64), 'a'.repeat(63),
  '0', '-1', 'NaN', 'did:privy:', 'did:privy:' + 'x'.repeat(300), '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff', '00000000-0000-0000-0000-00000000000g', '{00000000-0000-0000-0000-000000000000}',
  '00000000000000000000000000000000', 'urn:uuid:00000000-0000-0000-0000-000000000000',
];

export function hugeString(r) {
  const n = r.weighted([[4, 256], [3, 1024], [2, 4096], [1, 16 * 1024], [1, 16 * 1024 + 1], [0.4, 60 * 1024], [0.3, 64 * 1024 - 200], [0.3, 64 * 1024], [0.3, 70 * 1024]]);
  return r.pick(['a', 'é', '😀', '\\', '"', ' ']).repeat(Math.ceil(n / 2)).slice(0, n);
}

export function weird(r, depthBudget = 3) {
  return r.weighted([
    [3, () => null],
    [2, () => r.pick([true, false])],
    [6, () => new Raw(r.pick(EDGE_NUMBERS))],
    [1, () => new Raw(r.pick(BAD_NUMBERS))],
    [5, () => r.pick(NASTY)],
    [5, () => r.pick(UNICODE)],
    [1, () => hugeString(r)],
    [2, () => (depthBudget > 0 ? [weird(r, depthBudget - 1), weird(r, depthBudget - 1)] : [])],
    [2, () => (depthBudget > 0 ? { [r.pick(['a', 'name', 'machineId', '__proto__', ''])]: weird(r, depthBudget - 1) } : {})],
    [1, () => deep(r, r.pick(DEPTHS))],
    [1, () => randomUUID()],
    [1, () => r.string(r.range(1, 40), 'abcdef0123456789-')],
  ]);
}

const UNKNOWN_KEYS = [
  'extra', '__proto__', 'constructor', 'prototype', 'machine_id', 'MachineId', 'machineID', 'owner_id', 'ownerId', 'status',
  'id', 'role', 'isAdmin', 'creditBalanceCents', '', ' ', 'machineId ', 'machineId\u0000', 'é', '$where', 'a'.repeat(1000),
  'agentToken', 'userId', 'select', 'or', 'order',
];

// ---- the body model: paths into nested objects ----------------------------------------------

function leafPaths(obj, prefix = []) {
  const out = [];
  if (obj && typeof obj === 'object' && !Array.isArray(obj) && !(obj instanceof Raw) && !(obj instanceof Pairs)) {
    for (const [k, v] of Object.entries(obj)) {
      out.push([...prefix, k]);
      out.push(...leafPaths(v, [...prefix, k]));
    }
  }
  return out;
}
function setPath(obj, path, value) {
  let o = obj;
  for (const k of path.slice(0, -1)) {
    if (!o[k] || typeof o[k] !== 'object' || o[k] instanceof Raw) o[k] = {};
    o = o[k];
  }
  o[path[path.length - 1]] = value;
}
function deletePath(obj, path) {
  let o = obj;
  for (const k of path.slice(0, -1)) {
    o = o?.[k];
    if (!o || typeof o !== 'object') return;
  }
  delete o[path[path.length - 1]];
}
const clone = (v) => (v instanceof Raw || v instanceof Pairs ? v : Array.isArray(v) ? v.map(clone)
  : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) : v);

/** 1..n mutations of a valid body; returns { body, notes }. */
export function mutate(r, base, { deepFields = [] } = {}) {
  let body = clone(base);
  const notes = [];
  const n = r.weighted([[5, 1], [3, 2], [2, 3], [1, 5]]);
  for (let i = 0; i < n; i++) {
    const paths = leafPaths(body);
    const path = paths.length ? r.pick(paths) : null;
    const op = r.weighted([
      [3, 'drop'], [3, 'unknown'], [6, 'weird'], [2, 'huge'], [2, 'unicode'], [2, 'deepfield'], [1, 'dupkey'], [1, 'nullall'],
      [1, 'wrapArray'],
    ]);
    if (!path && ['drop', 'weird', 'huge', 'unicode', 'dupkey'].includes(op)) continue;
    switch (op) {
      case 'drop': deletePath(body, path); notes.push(`drop ${path.join('.')}`); break;
      case 'unknown': {
        const where = r.chance(0.6) || !path ? [] : path;
        const key = r.pick(UNKNOWN_KEYS);
        const target = where.length ? [...where.slice(0, -1)] : [];
        setPath(body, [...target, key], weird(r));
        notes.push(`unknown ${[...target, key].join('.').slice(0, 40)}`);
        break;
      }
      case 'weird': setPath(body, path, weird(r)); notes.push(`weird ${path.join('.')}`); break;
      case 'huge': setPath(body, path, hugeString(r)); notes.push(`huge ${path.join('.')}`); break;
      case 'unicode': setPath(body, path, r.pick(UNICODE)); notes.push(`unicode ${path.join('.')}`); break;
      case 'deepfield': {
        const target = deepFields.length && r.chance(0.7) ? r.pick(deepFields) : path ?? ['x'];
        const d = r.pick(DEPTHS);
        setPath(body, target, deep(r, d));
        notes.push(`deep ${target.join('.')}=${d}`);
        break;
      }
      case 'dupkey': {
        if (body instanceof Pairs || Array.isArray(body) || typeof body !== 'object' || body === null) break;
        const entries = Object.entries(body);
        const k = path[0];
        body = new Pairs([...entries, [k, weird(r)]]);
        notes.push(`dupkey ${k}`);
        i = n; // Pairs are not mutated further
        break;
      }
      case 'nullall':
        for (const p of leafPaths(body)) setPath(body, p, null);
        notes.push('all null');
        break;
      case 'wrapArray':
        if (path) setPath(body, path, [r.chance(0.5) ? null : 'x']);
        notes.push(`array ${path?.join('.')}`);
        break;
    }
    if (body instanceof Pairs) break;
  }
  return { body, notes };
}

// ---- broken bytes ------------------------------------------------------------------------------

const BAD_UTF8 = [
  [0x80], [0xbf], [0xc0, 0xaf], [0xc1, 0xbf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80],
  [0xf5], [0xff], [0xfe], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x00],
];

/** Valid JSON text → broken bytes. */
export function breakBytes(r, text) {
  const buf = Buffer.from(text);
  return r.weighted([
    [4, () => ({ bytes: buf.subarray(0, r.int(Math.max(buf.length, 1))), note: 'truncated' })],
    [4, () => {
      // Invalid UTF-8 inside a string value (after a quote) or anywhere.
      const quotes = [...text.matchAll(/"/g)].map((m) => m.index);
      const at = quotes.length && r.chance(0.7) ? r.pick(quotes) + 1 : r.int(buf.length + 1);
      const bad = Buffer.from(r.pick(BAD_UTF8));
      return { bytes: Buffer.concat([buf.subarray(0, at), bad, buf.subarray(at)]), note: `bad utf-8 ${bad.toString('hex')}@${at}` };
    }],
    [1, () => ({ bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), buf]), note: 'BOM' })],
    [1, () => ({ bytes: Buffer.from([0xfe, 0xff, ...Buffer.from(text, 'utf16le')]), note: 'utf-16' })],
    [1, () => ({ bytes: Buffer.concat([buf, Buffer.from(r.pick(['}', ',', ' x', '{}', '\u0000', '[]', ' // c', '\n{"a":1}']))]), note: 'trailing garbage' })],
    [1, () => ({ bytes: Buffer.from(text.replace(/"/g, "'")), note: 'single quotes' })],
    [1, () => ({ bytes: Buffer.from(text.replace(/}$/, ',}')), note: 'trailing comma' })],
    [1, () => ({ bytes: Buffer.from(`/* c */${text}`), note: 'comment' })],
    [1, () => ({ bytes: Buffer.from(text.replace(/"([^"]*)"/, '"$1\n\t"')), note: 'raw control chars in a string' })],
    [1, () => ({ bytes: Buffer.from(text.replace(/"([^"\\]*)"/, '"$1\\x41\\u12"')), note: 'bad escapes' })],
    [2, () => ({ bytes: Buffer.from(r.pick(['null', '[]', '"x"', '1', 'true', '{}', '[{}]', '""', ' ', '\n\t ', '{"":""}', '{"a"}', '{:1}', '{"a":}'])), note: 'odd root' })],
    [1, () => ({ bytes: Buffer.from(' '.repeat(r.pick([1000, 60 * 1024, 66 * 1024])) + text), note: 'padded' })],
    [1, () => ({ bytes: r.bytes(r.pick([1, 16, 256, 4096])), note: 'random bytes' })],
    [1, () => ({ bytes: Buffer.from(`{"a":${r.pick(BAD_NUMBERS)}}`), note: 'bad number' })],
  ]);
}

// ---- tokens ---------------------------------------------------------------------------------------

const b64u = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const b64raw = (v) => (Buffer.isBuffer(v) ? v : Buffer.from(v)).toString('base64url');
/** An HS256 JWT over arbitrary header and payload text or bytes, signed with the real secret. */
function signedText(headerText, payload, secret = env.SUPABASE_JWT_SECRET) {
  const input = `${b64raw(headerText)}.${b64raw(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}
/** An ES256 JWT over arbitrary payload text or bytes, signed with the Privy key the functions trust. */
function privySignedText(payload) {
  const input = `${b64raw('{"alg":"ES256","typ":"JWT"}')}.${b64raw(payload)}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: privyKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}
/** Privy claims as JSON text with something odd spliced in (validly signed). */
function oddPrivyPayload(r, sub) {
  const claims = JSON.stringify(privyClaims({ sub }));
  return r.weighted([
    [1, () => Buffer.concat([Buffer.from(claims.slice(0, -1) + ',"x":"'), Buffer.from(r.pick(BAD_UTF8)), Buffer.from('"}')])],
    [1, () => claims.slice(0, -1) + ',"linked_accounts":"[{\\"type\\":\\"email\\",\\"address\\":\\"\\ud800@x\\"}]"}'],
    [1, () => claims.slice(0, -1) + `,"linked_accounts":${JSON.stringify(deep(r, r.pick(DEPTHS)).text)}}`],
    [1, () => claims.slice(0, -1) + ',"sub":"did:privy:dup"}'],
    [1, () => claims.replace(/"exp":\d+/, '"exp":1e400')],
    [1, () => claims.replace(/"aud":"[^"]*"/, '"aud":["x",{"a":1},null]')],
    [1, () => `[${claims}]`],
    [1, () => claims.slice(0, r.int(claims.length))],
  ]);
}

/** A malformed or wrong token as the whole Authorization header value. */
export function badAuthorization(r, user) {
  const sub = user?.user?.id ?? randomUUID();
  const past = { iat: now() - 7200, exp: now() - 3600 };
  return r.weighted([
    [2, () => ['garbage', `Bearer ${r.string(r.range(1, 200), 'abcdefghijklmnopqrstuvwxyz0123456789.-_~+/=')}`]],
    [1, () => ['three garbage segments', `Bearer ${r.string(20)}.${r.string(40)}.${r.string(43)}`]],
    [2, () => ['alg:none', `Bearer ${algNone(sessionClaims({ sub }))}`]],
    [2, () => ['wrong secret', `Bearer ${sessionToken({ sub }, 'not-the-secret-but-long-enough-0123456789')}`]],
    [2, () => ['expired', `Bearer ${sessionToken({ sub, ...past })}`]],
    [2, () => ['wrong aud', `Bearer ${sessionToken({ sub, aud: r.pick(['anon', 'service_role', '', 'authenticated ', 'Authenticated']) })}`]],
    [1, () => ['aud array', `Bearer ${sessionToken({ sub, aud: r.pick([['x', 'authenticated'], [], [null], 'authenticated'.split('')]) })}`]],
    [1, () => ['role service_role (signed)', `Bearer ${sessionToken({ sub, role: 'service_role' })}`]],
    [1, () => ['role missing', `Bearer ${sessionToken({ sub, role: undefined })}`]],
    [2, () => ['odd sub (signed)', `Bearer ${sessionToken({ sub: r.pick(['x', '', 123, null, [], {}, 'did:privy:x', 'a'.repeat(5000), '00000000-0000-0000-0000-000000000000', sub.toUpperCase()]) })}`]],
    [1, () => ['odd exp (signed)', `Bearer ${sessionToken({ sub, exp: r.pick(['soon', 1e20, -1, 0, 9223372036854775807, 1.5, null, now() + 315360000]) })}`]],
    [1, () => ['odd iat/nbf (signed)', `Bearer ${sessionToken({ sub, iat: now() + 86400, nbf: r.pick([now() + 86400, 'x']) })}`]],
    // Around the clock-skew allowances, where the Worker and PostgREST could disagree.
    [2, () => {
      const claim = r.pick(['iat', 'nbf', 'exp']);
      const delta = claim === 'exp' ? r.pick([-31, -2, -1, 0, 1, 2, 29, 31]) : r.pick([1, 5, 29, 30, 31, 32, 60, 61, 300]);
      return [`${claim} now${delta >= 0 ? '+' : ''}${delta}s (signed, user's sub)`, `Bearer ${sessionToken({ sub, [claim]: now() + delta })}`];
    }],
    [1, () => ['payload not JSON (signed)', `Bearer ${signedText('{"alg":"HS256","typ":"JWT"}', r.pick(['not json', '[]', 'null', '"x"', '{"sub":', '\u0000']))}`]],
    [1, () => ['payload with bad UTF-8 (signed)', `Bearer ${signedText('{"alg":"HS256","typ":"JWT"}', Buffer.concat([Buffer.from(`{"sub":"${sub}","role":"authenticated","aud":"authenticated","exp":${now() + 3600},"x":"`), Buffer.from(r.pick(BAD_UTF8)), Buffer.from('"}')]))}`]],
    [1, () => ['header not JSON (signed)', `Bearer ${signedText(r.pick(['nope', '{"alg":', '[]', '{"alg":"HS256","alg":"none"}']), JSON.stringify(sessionClaims({ sub })))}`]],
    [1, () => ['deep payload (signed)', `Bearer ${signedText('{"alg":"HS256","typ":"JWT"}', `{"sub":"${sub}","role":"authenticated","aud":"authenticated","exp":${now() + 3600},"x":${deep(r, r.pick([64, 500, 3000])).text}}`)}`]],
    [1, () => ['odd header fields (signed)', `Bearer ${hs256(sessionClaims({ sub }), env.SUPABASE_JWT_SECRET, r.pick([{ kid: '../../etc/passwd' }, { jku: 'http://evil.example/jwks' }, { crit: ['exp'] }, { typ: 'at+jwt' }, { alg: 'HS512' }, { alg: 'hs256' }]))}`]],
    [1, () => ['HS256 keyed with the Privy public key', `Bearer ${hs256(sessionClaims({ sub }), verificationPem)}`]],
    [1, () => ['Privy ES256 token', `Bearer ${privyToken()}`]],
    [1, () => ['ES256 session', `Bearer ${es256(sessionClaims({ sub }))}`]],
    [1, () => ['anon key', `Bearer ${env.SUPABASE_ANON_KEY}`]],
    [1, () => ['scheme only', r.pick(['Bearer', 'Bearer ', 'Bearer  ', 'bearer', 'Basic dXNlcjpwYXNz', 'Token abc', 'Digest x', '', ' ', 'Bearer\t'])]],
    [1, () => ['odd scheme', `${r.pick(['bearer', 'BEARER', 'Bearer:', 'JWT', 'Bearer Bearer'])} ${user?.accessToken ?? sessionToken({ sub })}`]],
    [1, () => ['two tokens', `Bearer ${user?.accessToken ?? 'a'}, Bearer ${sessionToken({ sub })}`]],
    [1, () => ['token with spaces', `Bearer ${(user?.accessToken ?? sessionToken({ sub })).replace(/\./g, ' . ')}`]],
    [1, () => ['truncated token', `Bearer ${(user?.accessToken ?? sessionToken({ sub })).slice(0, -r.range(1, 30))}`]],
    [1, () => ['latin1 bytes', `Bearer ${String.fromCharCode(...r.bytes(r.range(1, 40)).map((b) => (b < 0x21 || b === 0x7f ? 0x41 : b)))}`]],
    [1, () => ['huge token', `Bearer ${r.string(r.pick([4096, 8192, 16000]), 'abcdefghijklmnopqrstuvwxyz.')}`]],
  ]);
}

// ---- the request model ------------------------------------------------------------------------------

/**
 * A request: { fn, index, kind, method, path, query (string, with '?'), headers (object),
 * body: Buffer | null, chunked: { size, chunk } | null, notes: [], depthLimits: [{field, depth, limit}] }.
 */
// Method tokens (CONNECT aside). The test probes which of them the server lets through to
// a Worker at all (workerd refuses methods it does not know).
export const ODD_METHODS = [
  'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'GET', 'POST', 'Get', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'REPORT', 'PURGE', 'QUERY',
  'SEARCH', 'LOCK', 'UNLOCK', 'COPY', 'MOVE', 'ACL', 'NOTIFY', 'SUBSCRIBE', 'MERGE', 'CHECKOUT', 'LINK', 'FOO', 'M-SEARCH', 'patch', 'TRACE',
];
export const CONTENT_TYPES = [
  null, 'application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'Application/Json ; charset=UTF-8', 'application/json;charset=latin1',
  'text/plain', 'text/plain;charset=UTF-8', 'text/json', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=xyz', 'application/vnd.api+json',
  'application/merge-patch+json', 'application/jsonx', 'application/json, text/plain', '', ' ', ';', 'json', '*/*', 'application/*',
  `application/json; ${'a=b;'.repeat(400)}`, 'application/\xff\xfejson', 'application/json\tx', 'application/octet-stream', 'application/+json',
];

export function tokenChoice(r, ctx, { service = 0.03 } = {}) {
  return r.weighted([
    [60, () => ({ kind: 'user', user: r.pick(ctx.users) })],
    [10, () => ({ kind: 'none' })],
    [service * 100, () => ({ kind: 'service' })],
    [3, () => ({ kind: 'anon' })],
    [24, () => ({ kind: 'bad' })],
  ]);
}

/** Per function: methods, the valid body / query for a context, and where deep values go. */
export function specs(ctx) {
  const anyMachine = (r) => r.weighted([[8, () => r.pick(ctx.users).machineId], [1, () => randomUUID()], [1, () => ctx.terminatedMachineId ?? randomUUID()]]);
  const anyJob = (r) => r.weighted([[8, () => r.pick(ctx.jobIds)], [2, () => randomUUID()]]);
  const name = (r) => r.pick(['fuzz-box', 'My Machine', 'a', 'x'.repeat(63), 'fuzz_1', ' trimmed ', `fz-${r.string(6)}`]);
  const createBody = (r) => {
    const b = { name: name(r) };
    if (r.chance(0.7)) b.tier = r.pick(['dev.small', 'dev.medium', 'dev.large', 'dev.xlarge']);
    if (r.chance(0.4)) b.provider = r.pick(['aws', 'gcp', 'azure']);
    if (r.chance(0.3)) b.region = r.pick(['us-east-1', 'us-central1', 'eastus']);
    if (r.chance(0.3)) b.image = r.pick(['ubuntu-22.04', 'debian-12']);
    if (r.chance(0.6)) b.configuration = { env: { A: '1' }, ports: [22, 8080], nested: { ok: true } };
    if (r.chance(0.2)) b.sshPublicKey = ctx.sshKey;
    if (r.chance(0.1)) b.projectId = randomUUID();
    return b;
  };
  const machineOnly = { methods: ['POST'], body: (r) => ({ machineId: anyMachine(r) }) };
  const S = {
    'create-machine': { methods: ['POST'], body: createBody, deepFields: [['configuration'], ['configuration', 'nested']], limits: { configuration: 16 } },
    'delete-machine': { methods: ['POST', 'DELETE'], body: machineOnly.body },
    'deploy-protocol': {
      methods: ['POST'],
      body: (r) => ({ machineId: anyMachine(r), protocolConfig: { name: r.pick(['My Protocol', 'geth', 'a.b_c-d']), version: r.pick(['1.0.0', 'v2', 'latest']), settings: r.chance(0.7) ? { port: 8545, flags: ['--x'] } : undefined } }),
      deepFields: [['protocolConfig', 'settings'], ['protocolConfig', 'settings', 'flags']],
      limits: { 'protocolConfig.settings': 16 },
    },
    exchange: {
      methods: ['POST'],
      auth: 'none',
      body: (r) => {
        const sub = r.chance(0.8) ? newPrivyDid() : r.pick(['', 'x', 'did:privy:' + 'a'.repeat(2000), 'did:privy:é']);
        const b = { token: r.weighted([[6, () => privyToken({ sub })], [1, () => privyToken({ sub, aud: 'other' })], [1, () => privyToken({ ...privyClaims({ sub }), exp: now() - 10 })], [1, () => algNone(privyClaims({ sub }))], [1, () => r.string(50)], [1, () => privySignedText(oddPrivyPayload(r, sub))]]) };
        if (r.chance(0.4)) {
          const linked = r.weighted([
            [3, () => [{ type: 'wallet', address: newAddress() }]],
            [2, () => [{ type: 'email', address: `fz${r.string(6)}@example.com` }]],
            [1, () => [{ type: r.pick(['google_oauth', 'github_oauth', 'phone', '???', '']), email: weird(r), subject: weird(r) }]],
            [1, () => weird(r)],
          ]);
          b.identityToken = r.weighted([
            [1, () => es256({ ...privyClaims({ sub }), linked_accounts: r.pick([deep(r, r.pick(DEPTHS)).text, 'not json', '[]', '{}', hugeString(r)]) })],
            [1, () => privySignedText(oddPrivyPayload(r, sub))],
            [6, () => identityToken(sub, linked)],
          ]);
        }
        return b;
      },
    },
    'get-job': { methods: ['GET'], query: (r) => ({ jobId: anyJob(r) }) },
    'get-logs': { methods: ['GET'], query: (r) => ({ machineId: anyMachine(r), limit: r.pick(['1', '50', '500']), before: r.chance(0.3) ? new Date().toISOString() : undefined }), paths: ['get-logs', 'get-recent-logs'] },
    'get-machine-status': { methods: ['GET'], query: (r) => ({ machineId: anyMachine(r) }) },
    'get-user-machines': {
      methods: ['GET'],
      query: (r) => ({ status: r.chance(0.3) ? r.pick(['running', 'stopped', 'provisioning']) : undefined, limit: r.chance(0.5) ? r.pick(['1', '50', '100']) : undefined, includeTerminated: r.chance(0.3) ? r.pick(['true', 'false']) : undefined, cursor: r.chance(0.1) ? ctx.cursor ?? undefined : undefined }),
    },
    health: { methods: ['GET'], auth: 'none', query: () => ({}) },
    instances: {
      methods: ['GET', 'POST', 'PUT', 'PATCH'],
      body: (r, method, path) => (path === 'instances' ? createBody(r) : { name: name(r), tier: r.chance(0.3) ? r.pick(['dev.small', 'dev.medium']) : undefined, projectId: r.chance(0.1) ? randomUUID() : undefined }),
      query: (r, method, path) => (path === 'instances' ? { limit: r.chance(0.3) ? '10' : undefined } : {}),
      paths: ['instances', 'instances/{id}'],
      deepFields: [['configuration']],
      limits: { configuration: 16 },
    },
    'log-machine-event': {
      methods: ['POST'],
      body: (r) => ({ machineId: anyMachine(r), eventType: r.pick(['custom.event', 'agent.note', 'x']), details: r.pick(['Event description', { a: 1, b: [1, 2] }, 42, null, undefined]), level: r.pick(['info', 'warn', 'error', undefined]) }),
      deepFields: [['details']],
    },
    logout: { methods: ['POST'], body: () => ({}) },
    me: { methods: ['GET', 'PATCH'], body: (r) => ({ displayName: r.pick(['Fuzz User', 'é', undefined]), photoUrl: r.pick(['https://example.com/a.png', undefined, null]) }) },
    'refresh-session': { methods: ['POST'], auth: 'none', body: (r) => ({ refreshToken: r.weighted([[1, () => ctx.refreshToken], [6, () => r.string(43, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_')], [2, () => weird(r)]]) }) },
    'restart-machine': machineOnly,
    'runner-callback': {
      methods: ['POST'],
      auth: 'none',
      body: (r) => ({
        jobId: anyJob(r),
        status: r.pick(['running', 'succeeded', 'failed']),
        outputs: r.chance(0.5) ? { ipAddress: r.pick(['192.0.2.7', '::1', 'not-an-ip']), providerInstanceId: `i-${r.string(8)}` } : undefined,
        logs: r.chance(0.5) ? [{ level: r.pick(['info', 'warn', 'error']), message: 'fuzz line', ts: new Date().toISOString() }] : undefined,
        result: r.chance(0.3) ? { exitCode: 0, stdout: 'x' } : undefined,
        error: r.chance(0.2) ? 'fuzz failure' : undefined,
      }),
      deepFields: [['result'], ['outputs'], ['logs']],
    },
    scheduler: { methods: ['POST'], auth: 'service', body: () => ({}) },
    'send-command': { methods: ['POST'], body: (r) => ({ machineId: anyMachine(r), command: r.pick(['ls', 'uptime', 'echo']), args: r.chance(0.5) ? ['-la', 'x y'] : undefined, timeoutSec: r.chance(0.5) ? r.pick([1, 30, 3600]) : undefined }) },
    'start-machine': machineOnly,
    'stop-machine': machineOnly,
    'update-machine': { methods: ['PATCH'], body: (r) => ({ machineId: anyMachine(r), name: r.chance(0.6) ? name(r) : undefined, tier: r.chance(0.2) ? 'dev.medium' : undefined, projectId: r.chance(0.1) ? randomUUID() : undefined }) },
  };
  return S;
}

/** A spec for a function this file does not know yet (new ones land while it is written). */
export const GENERIC_SPEC = { methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], body: (r) => ({ id: randomUUID(), name: 'fuzz' }), query: () => ({}) };

const SUB_PATHS = (r, ctx) => r.weighted([
  [5, () => r.pick(ctx.users).machineId],
  [2, () => randomUUID()],
  [1, () => 'not-a-uuid'],
  [1, () => '%00'],
  [1, () => '%2e%2e'],
  [1, () => '..%2f..%2fhealth'],
  [1, () => `${r.pick(ctx.users).machineId}/extra`],
  [1, () => `${r.pick(ctx.users).machineId}/`],
  [1, () => enc(r.pick(UNICODE))],
  [1, () => 'x'.repeat(r.pick([100, 2000, 7000]))],
  [1, () => '%ff%fe'],
  [1, () => `${randomUUID().toUpperCase()}`],
  [1, () => ';select=*'],
]);

/** encodeURIComponent, also for lone surrogates (sent as the bytes of U+FFFD). */
function enc(s) {
  try { return encodeURIComponent(s); } catch { return [...Buffer.from(s)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''); }
}

function queryString(r, q, spec, fuzzIt) {
  const pairs = Object.entries(q ?? {}).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]);
  if (fuzzIt) {
    const n = r.range(1, 3);
    for (let i = 0; i < n; i++) {
      const op = r.pick(['weird', 'unknown', 'repeat', 'drop', 'huge', 'encoded', 'postgrest']);
      const k = pairs.length ? r.pick(pairs)[0] : r.pick(['machineId', 'limit', 'jobId']);
      if (op === 'weird') pairs.push([k, r.pick(['', 'abc', '-1', '0', '101', '501', '1e3', '99999999999999999999', '1.5', 'null', 'true', 'maybe', ' 1', '１', 'NaN', '0x10', '9223372036854775808', 'notadate', '9999-12-31T23:59:59Z', '-271821-04-20T00:00:00Z', '2026-02-30T00:00:00Z', randomUUID(), 'eq.1', r.pick(UNICODE), r.pick(NASTY)])]);
      if (op === 'unknown') pairs.push([r.pick(['foo', 'select', 'order', 'or', 'owner_id', 'machineId[]', 'limit ', '', 'a'.repeat(500)]), r.pick(['bar', '*', 'eq.x', '(id.eq.1)'])]);
      if (op === 'repeat') pairs.push([k, r.pick(['1', randomUUID(), 'x'])]);
      if (op === 'drop') pairs.splice(r.int(Math.max(pairs.length, 1)), 1);
      if (op === 'huge') pairs.push([k, 'a'.repeat(r.pick([1000, 4000, 8000]))]);
      if (op === 'encoded') return `?${pairs.map(([a, b]) => `${enc(a)}=${enc(b)}`).join('&')}${r.pick(['&%00=1', '&machineId=%ff', '&&&', '&=', '&a=%E0%A4%A', '#frag', '&x=%zz'])}`;
      if (op === 'postgrest') pairs.push([k, `${pairs.find(([a]) => a === k)?.[1] ?? 'x'}&owner_id=neq.00000000-0000-0000-0000-000000000000`]);
    }
  }
  if (!pairs.length) return '';
  return `?${pairs.map(([a, b]) => `${enc(a)}=${enc(b)}`).join('&')}`;
}

/** The request number `index` for function `fn`, deterministic in (seed, fn, index). */
export function generate(seed, fn, index, ctx) {
  const r = new Rand(seed, fn, index);
  const all = ctx.specs;
  const spec = all[fn] ?? GENERIC_SPEC;
  const req = { fn, index, kind: '', method: 'POST', path: fn, query: '', headers: {}, body: null, chunked: null, notes: [], limits: [] };

  // Path: the function, its alias or a sub-path.
  const pathTemplate = spec.paths ? r.pick(spec.paths) : fn;
  req.path = pathTemplate.replace('{id}', () => SUB_PATHS(r, ctx));

  req.kind = r.weighted([
    [30, 'valid-ish'], [9, 'deep'], [14, 'broken-bytes'], [8, 'method'], [8, 'content-type'], [4, 'huge-header'],
    [10, 'token'], [1.5, 'chunked-big'], [2, 'chunked'], [8, 'query'], [4, 'path'],
  ]);
  const validMethod = r.pick(spec.methods);
  req.method = req.kind === 'method' ? r.pick(ctx.methods ?? ODD_METHODS) : validMethod;
  // Reads also take POST with the same fields as a body (API.md §1).
  const isRead = spec.methods.length === 1 && spec.methods[0] === 'GET';
  if (isRead && req.kind !== 'method' && r.chance(0.35)) req.method = 'POST';
  if (req.kind === 'path') {
    req.path = `${req.path}${r.pick(['/', '//', '/x', '/../health', '/%2e%2e/me', `/${randomUUID()}`, '/.', '?', '/%00'])}`;
  }

  // Authorization.
  const auth = spec.auth ?? 'user';
  let tok = req.kind === 'token' ? { kind: 'bad' } : tokenChoice(r, ctx, { service: auth === 'service' ? 0.2 : 0.03 });
  if (auth === 'none' && tok.kind === 'user' && r.chance(0.7)) tok = { kind: 'none' };
  const user = tok.user ?? r.pick(ctx.users);
  if (tok.kind === 'user') req.headers.authorization = `Bearer ${user.accessToken}`;
  if (tok.kind === 'service') req.headers.authorization = `Bearer ${env.SUPABASE_SERVICE_ROLE_KEY}`;
  if (tok.kind === 'anon') req.headers.authorization = `Bearer ${env.SUPABASE_ANON_KEY}`;
  if (tok.kind === 'bad') {
    const [what, value] = badAuthorization(r, user);
    req.headers.authorization = value;
    req.notes.push(`token: ${what}`);
  }
  req.notes.unshift(`auth=${tok.kind}`);
  if (r.chance(0.2)) req.headers.apikey = env.SUPABASE_ANON_KEY;
  if (r.chance(0.1)) req.headers['x-client-info'] = 'supabase-js/2.45.0';

  // Origin: mostly allowed ones, sometimes foreign.
  if (r.chance(0.5)) {
    req.headers.origin = r.weighted([
      [6, () => r.pick(allowedOrigins.length ? allowedOrigins : ['http://localhost:3000'])],
      [2, 'https://evil.example'], [1, 'null'], [1, () => `${r.pick(allowedOrigins.length ? allowedOrigins : ['http://localhost:3000'])}/`],
      [1, () => `http://localhost:3000.evil.example`], [1, () => r.string(30)],
    ]);
  }
  if (req.method === 'OPTIONS' && r.chance(0.7)) {
    req.headers['access-control-request-method'] = r.pick([...spec.methods, 'DELETE', 'PUT', 'FOO']);
    if (r.chance(0.5)) req.headers['access-control-request-headers'] = r.pick(['authorization, content-type', 'x-evil', 'idempotency-key', '']);
  }
  if (fn === 'create-machine' && r.chance(0.15)) req.headers['idempotency-key'] = r.pick([randomUUID(), '', 'x'.repeat(300), 'same-key-1', r.pick(UNICODE).replace(/[^\x20-\xff]/g, '?')]);

  // Query and body.
  const hasBodyMethod = !['GET', 'HEAD', 'Get'].includes(req.method);
  const query = spec.query ? spec.query(r, req.method, pathTemplate) : undefined;
  let body = spec.body ? spec.body(r, req.method, pathTemplate) : undefined;
  if (isRead && req.method === 'POST' && body === undefined) {
    body = query;
  }
  req.query = queryString(r, req.method === 'POST' && isRead && r.chance(0.85) ? {} : query, spec, req.kind === 'query');
  if (req.kind === 'query' && !req.query) req.query = queryString(r, { machineId: 'x', limit: 'y' }, spec, true);

  let bytes = null;
  if (hasBodyMethod && (body !== undefined || r.chance(0.3))) {
    let model = body ?? {};
    if (req.kind === 'valid-ish' && r.chance(0.75)) {
      const m = mutate(r, model, { deepFields: spec.deepFields });
      model = m.body;
      req.notes.push(...m.notes);
    }
    if (req.kind === 'deep') {
      const d = r.pick(DEPTHS);
      const fields = spec.deepFields ?? [];
      const where = fields.length && r.chance(0.75) ? r.pick(fields) : null;
      if (where) {
        model = clone(model);
        setPath(model, where, deep(r, d));
        const limit = spec.limits?.[where.join('.')];
        if (limit) req.limits.push({ field: where.join('.'), depth: d, limit });
        req.notes.push(`deep ${where.join('.')}=${d}`);
      } else if (r.chance(0.5)) {
        model = deep(r, d);
        req.notes.push(`deep root=${d}`);
      } else {
        model = clone(model);
        setPath(model, [r.pick(['x', ...Object.keys(model instanceof Raw ? {} : model)])], deep(r, d));
        req.notes.push(`deep field=${d}`);
      }
    }
    const text = toJson(model);
    bytes = Buffer.from(text);
    if (req.kind === 'broken-bytes') {
      const b = breakBytes(r, text);
      bytes = b.bytes;
      req.notes.push(b.note);
    }
    if (req.kind === 'chunked-big') {
      // Chunked (no Content-Length), over 64 KiB: valid JSON padded with a huge string.
      const size = r.weighted([[3, 64 * 1024 + 1], [3, 65 * 1024], [2, 80 * 1024], [1, 128 * 1024], [0.3, 300 * 1024]]);
      const pad = Math.max(0, size - bytes.length - 20);
      bytes = Buffer.from(`{"pad":"${'a'.repeat(pad)}","x":${text}}`);
      req.chunked = { chunk: r.pick([1024, 8192, 16384, 65536]) };
      req.notes.push(`chunked ${bytes.length} B`);
    }
    if (req.kind === 'chunked') {
      req.chunked = { chunk: r.pick([1, 7, 64, 1024]) };
      req.notes.push(`chunked ${bytes.length} B`);
    }
    if (req.kind === 'chunked' && bytes.length > 16 * 1024) req.chunked.chunk = 4096;
    req.headers['content-type'] = 'application/json';
    if (req.kind === 'content-type' || r.chance(0.05)) {
      const ct = r.pick(CONTENT_TYPES);
      if (ct === null) delete req.headers['content-type'];
      else req.headers['content-type'] = ct;
      req.notes.push(`content-type ${JSON.stringify(ct)}`);
    }
    req.body = bytes;
  } else if (req.kind === 'content-type') {
    req.headers['content-type'] = r.pick(CONTENT_TYPES.filter(Boolean));
  }

  if (r.chance(0.03)) req.headers['cf-ray'] = r.pick(['', 'abc', 'x'.repeat(200), `${r.string(16, '0123456789abcdef')}-IAD`, '"quoted"']);
  if (r.chance(0.03)) req.headers['cf-connecting-ip'] = r.pick(['1.2.3.4', '::1', 'garbage', '999.999.999.999', '', 'x'.repeat(500)]);
  if (r.chance(0.02)) req.headers['x-forwarded-for'] = r.pick(['1.2.3.4, 5.6.7.8', 'garbage']);

  // runner-callback: most bodies carry a valid signature, so the parser behind it is reached.
  if (fn === 'runner-callback') {
    delete req.headers.authorization;
    const raw = req.body ?? Buffer.alloc(0);
    const t = Math.floor(Date.now() / 1000);
    const sign = (ts, secret = env.RUNNER_SECRET) => createHmac('sha256', secret).update(Buffer.concat([Buffer.from(`${ts}.`), raw])).digest('hex');
    const sig = r.weighted([
      [10, () => `t=${t},v1=${sign(t)}`],
      [1, () => `t=${t - 301},v1=${sign(t - 301)}`],
      [1, () => `t=${t + 3600},v1=${sign(t + 3600)}`],
      [1, () => `t=${t},v1=${sign(t, 'wrong-secret-wrong-secret')}`],
      [1, () => `t=${t},v1=${sign(t)},v1=${sign(t)}`],
      [1, () => `t=${t},t=${t - 1},v1=${sign(t)}`],
      [1, () => r.pick(['', 't=', 'v1=', 't=abc,v1=zz', `t=${t}`, `v1=${sign(t)}`, 't=1e20,v1=00', `t=-1,v1=${'0'.repeat(64)}`, `t=${t},v1=${sign(t).toUpperCase()}`, `t=${t};v1=${sign(t)}`, `T=${t},V1=${sign(t)}`, 'x'.repeat(5000)])],
      [1, () => null],
    ]);
    if (sig !== null) req.headers['hangar-signature'] = sig;
    req.notes.push(`signature ${sig === null ? 'none' : sig.length > 100 ? 'long' : sig.startsWith(`t=${t},v1=`) && sig.split(',').length === 2 ? 'valid-ish' : 'odd'}`);
  }

  // Last, so that it knows the size of everything else: near the server's limit, not over it
  // (workerd refuses a larger head with a plain 431 before any Worker runs).
  if (req.kind === 'huge-header') {
    const used = req.path.length + req.query.length + 300 + Object.entries(req.headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
    const budget = Math.max(0, ctx.headerLimit - used);
    const target = Math.floor(budget * r.pick([0.25, 0.5, 0.8, 0.9, 0.97]));
    const what = r.pick(['pad', 'many', 'cookie', 'cf-ray', 'authorization', 'content-type', 'origin']);
    if (what === 'pad') req.headers['x-fuzz-pad'] = 'p'.repeat(target);
    if (what === 'many') for (let i = 0; i < Math.floor(target / 64); i++) req.headers[`x-fuzz-${i}`] = 'v'.repeat(50);
    if (what === 'cookie') req.headers.cookie = `a=${'c'.repeat(target)}`;
    if (what === 'cf-ray') req.headers['cf-ray'] = 'r'.repeat(Math.min(target, 4096));
    if (what === 'authorization') req.headers.authorization = `Bearer ${'t'.repeat(target)}`;
    if (what === 'content-type' && req.body) req.headers['content-type'] = `application/json; x=${'y'.repeat(target)}`;
    if (what === 'origin') req.headers.origin = `http://${'o'.repeat(Math.min(target, 8000))}.example`;
    req.notes.push(`huge header ${what} ~${target} B`);
  }

  if (req.body) req.depth = nestingDepth(req.body);
  return req;
}

// ---- sending ---------------------------------------------------------------------------------------
// node:http. A request with a body gets a connection of its own (agent: false, `Connection:
// close`): a Worker that answers without reading the body (401, 405, 413, …) makes workerd
// drop a keep-alive connection, or even read the unread body as the next request, so on a
// shared connection one request's fault would land on the next. Requests without a body share
// keep-alive connections. node:http also lets any method token and raw header bytes through
// (fetch refuses some). A body without a length goes out chunked.
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 64 });
export const closeConnections = () => keepAlive.destroy();

/** Sends a generated request; { status, headers (Headers), text, ms } or { error, ms }. */
export function sendRequest(base, req, { timeoutMs = 30000 } = {}) {
  const u = new URL(base);
  const path = `/functions/v1/${req.path}${req.query}`;
  const t0 = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (v) => {
      if (settled) return;
      settled = true;
      v.ms = performance.now() - t0;
      if (!v.error) recordResponse({ method: req.method, url: `${base}${path}`, status: v.status, headers: v.headers, body: v.text });
      resolve(v);
    };
    const headers = { ...req.headers };
    if (req.body && !req.chunked) headers['content-length'] = String(req.body.length);
    let r;
    try {
      r = http.request({ host: u.hostname, port: u.port, method: req.method, path, headers, agent: req.body ? false : keepAlive, setHost: true }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) h.set(k, Array.isArray(v) ? v.join(', ') : v);
          finish({ status: res.statusCode, headers: h, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (e) => finish({ error: `response: ${e.code ?? ''} ${e.message}` }));
      });
    } catch (e) {
      return finish({ error: `client refused the request: ${e.message}`, clientError: true });
    }
    r.setTimeout(timeoutMs, () => r.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    // An early answer (413 before the whole body is sent) may be followed by a reset of
    // the rest of our upload: the answer counts, the write error does not.
    r.on('error', (e) => finish({ error: `${e.code ?? e.name}: ${e.message}` }));
    if (req.body && req.chunked) {
      for (let at = 0; at < req.body.length; at += req.chunked.chunk) r.write(req.body.subarray(at, at + req.chunked.chunk));
      r.end();
    } else {
      r.end(req.body ?? undefined);
    }
  });
}

// ---- the check -------------------------------------------------------------------------------------

/** API.md §1: the error codes each status may carry. */
export const CODES_BY_STATUS = {
  400: ['invalid_json', 'validation_error'],
  401: ['unauthorized', 'invalid_token', 'token_expired'],
  402: ['insufficient_credits'],
  403: ['forbidden', 'quota_exceeded'],
  404: ['not_found'],
  405: ['method_not_allowed'],
  409: ['invalid_state_transition', 'conflict', 'project_not_empty'],
  413: ['payload_too_large'],
  415: ['unsupported_media_type'],
  429: ['rate_limited'],
  500: ['internal_error'],
  502: ['upstream_error'],
  503: ['unavailable'],
};
// What must never reach a client (API.md §1: no panic, no PostgREST error body).
const INTERNALS = /PGRST\d|SQLSTATE|violates .{0,80}constraint|syntax error at or near|panicked at|RuntimeError|wasm-function|unreachable executed|stack backtrace|at Object\.|node_modules|\/functions\/[a-z-]+\/src\//;

/** Everything wrong with one answer, as short strings (empty: fine). */
export function problems(req, res) {
  const out = [];
  if (res.error) return [`no HTTP answer: ${res.error}`];
  const { status, headers, text } = res;
  if (status >= 500) out.push(`status ${status}`);
  const rid = headers.get('x-request-id');
  if (!rid) out.push('no x-request-id header');
  const origin = req.headers.origin;
  if (origin !== undefined) {
    const acao = headers.get('access-control-allow-origin');
    const wildcard = allowedOrigins.includes('*');
    if (wildcard) {
      if (acao !== '*') out.push(`access-control-allow-origin ${JSON.stringify(acao)} for origin ${JSON.stringify(origin)} (ALLOWED_ORIGINS is *)`);
    } else if (allowedOrigins.includes(origin)) {
      if (acao !== origin) out.push(`access-control-allow-origin ${JSON.stringify(acao)} for allowed origin ${origin}`);
    } else if (acao === origin || acao === '*') {
      out.push(`access-control-allow-origin ${JSON.stringify(acao)} granted to foreign origin ${JSON.stringify(origin).slice(0, 80)}`);
    }
  }
  if (status === 405 && !headers.get('allow')) out.push('405 without an Allow header');
  if (status === 429 && !headers.get('retry-after')) out.push('429 without Retry-After');
  // Contract limits the generator knows it crossed.
  if (status >= 200 && status < 300 && req.method !== 'OPTIONS') {
    if (req.depth > 32) out.push(`accepted (${status}) a body nested ${req.depth} deep (limit 32)`);
    for (const l of req.limits) if (l.depth > l.limit) out.push(`accepted (${status}) ${l.field} nested ${l.depth} deep (limit ${l.limit})`);
    if (req.body && req.body.length > 64 * 1024) out.push(`accepted (${status}) a ${req.body.length} B body (limit 64 KiB)`);
  }
  if (req.method === 'HEAD') return out;
  // docs answers its document (OpenAPI JSON, or the HTML page) rather than an envelope
  // when it succeeds; its errors are envelopes like everyone's.
  // (A path such as `docs/../health` reaches another function: its answer is checked as usual.)
  if (req.fn === 'docs' && status === 200) {
    const ct = headers.get('content-type') ?? '';
    if (/^text\/html\b/i.test(ct)) return text.includes('<html') ? out : [...out, 'docs HTML without <html'];
    let doc = null;
    try { doc = JSON.parse(text); } catch { /* checked below */ }
    if (doc && typeof doc.openapi === 'string') {
      if (!/^3\.1\./.test(doc.openapi)) out.push('docs JSON is not an OpenAPI 3.1 document');
      return out;
    }
  }
  if (status === 204) {
    if (text !== '') out.push(`204 with a body: ${text.slice(0, 80)}`);
    return out;
  }
  let j;
  try { j = JSON.parse(text); } catch { out.push(`body is not JSON: ${JSON.stringify(text.slice(0, 120))}`); return out; }
  const ct = headers.get('content-type') ?? '';
  if (!/^application\/json\b/i.test(ct)) out.push(`JSON body with content-type ${JSON.stringify(ct)}`);
  if (!j || typeof j !== 'object' || Array.isArray(j)) { out.push('body is not an object'); return out; }
  if (j.success === true) {
    if (![200, 201, 202].includes(status)) out.push(`success envelope with status ${status}`);
    if (!('data' in j)) out.push('success envelope without data');
  } else if (j.success === false) {
    const codes = CODES_BY_STATUS[status];
    if (!codes) out.push(`error envelope with status ${status} (not in API.md's table)`);
    else if (!codes.includes(j.error_code)) out.push(`error_code ${JSON.stringify(j.error_code)} with status ${status}`);
    if (typeof j.message !== 'string') out.push('error envelope without a message');
    else if (INTERNALS.test(j.message)) out.push(`internals in message: ${j.message.slice(0, 120)}`);
    if (typeof j.timestamp !== 'string' || Number.isNaN(Date.parse(j.timestamp))) out.push(`timestamp ${JSON.stringify(j.timestamp)}`);
    if (typeof j.request_id !== 'string' || !j.request_id) out.push('error envelope without request_id');
    else if (rid && rid !== j.request_id) out.push('x-request-id header differs from request_id');
    if (j.details !== undefined && INTERNALS.test(JSON.stringify(j.details))) out.push('internals in details');
  } else {
    out.push(`not an envelope: ${text.slice(0, 120)}`);
  }
  return out;
}

/** A request, printable and reproducible: method, URL, headers, body prefix (text and hex). */
const MASKED = ['SUPABASE_SERVICE_ROLE_KEY', 'SUPABASE_JWT_SECRET', 'RUNNER_SECRET'];
const mask = (v) => MASKED.reduce((s, k) => (env[k] ? s.split(env[k]).join(`<${k}>`) : s), v);

export function describe(req, seed) {
  const h = Object.entries(req.headers).map(([k, raw]) => {
    const v = mask(raw);
    return `${k}: ${v.length > 120 ? `${v.slice(0, 120)}… (${v.length} chars)` : v}`;
  });
  const body = req.body
    ? `${req.body.length} B${req.chunked ? ` chunked by ${req.chunked.chunk}` : ''}: ${JSON.stringify(req.body.subarray(0, 240).toString('latin1'))}${req.body.length > 240 ? '…' : ''}\n      hex: ${req.body.subarray(0, 48).toString('hex')}`
    : 'none';
  return [
    `${req.method} /functions/v1/${req.path}${req.query.length > 200 ? `${req.query.slice(0, 200)}…` : req.query}   [${req.kind}; ${req.notes.join('; ')}]`,
    `    replay: FUZZ_SEED=${seed} FUZZ_ONLY=${req.fn}:${req.index}`,
    ...h.map((l) => `    ${l}`),
    `    body: ${body}`,
  ].join('\n');
}
