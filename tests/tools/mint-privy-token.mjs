#!/usr/bin/env node
// Mint Privy-format tokens signed with the local stand-in for Privy's key
// (.local/privy-private.pem, PRIVY_PRIVATE_KEY_FILE in stack.env), so the
// `exchange` function can be exercised without Privy.
//
// Access token (what `getAccessToken()` returns in the Privy SDK):
//   header { alg: "ES256", typ: "JWT", kid? }
//   claims { sid, sub: "did:privy:…", iss: "privy.io", aud: PRIVY_APP_ID, iat, exp }
// Identity token: the same plus `linked_accounts`, a JSON *string* of an array,
// as Privy's identity tokens carry it.
//
// CLI:
//   node tests/tools/mint-privy-token.mjs [--identity] [--sub did:privy:x] [--email a@b.c]
//       [--wallet 0xabc…] [--expires-in 3600] [--aud APP] [--iss privy.io] [--kid K]
//       [--json]   (prints both tokens and the claims)
// Library:
//   import { mintPrivyAccessToken, mintPrivyIdentityToken } from "../tools/mint-privy-token.mjs";

import { createPrivateKey, randomBytes, randomUUID, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..");

// KEY=VALUE lines of the stack's env file (HANGAR_STACK_ENV or .local/stack.env).
export function loadStackEnv(file = process.env.HANGAR_STACK_ENV || join(ROOT, ".local", "stack.env")) {
  const env = {};
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return env;
  }
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2].replace(/^'(.*)'$/s, "$1").replace(/'\\''/g, "'");
  }
  return env;
}

function defaults() {
  const stack = loadStackEnv();
  const pick = (k, d) => process.env[k] || stack[k] || d;
  return {
    appId: pick("PRIVY_APP_ID", "hangar-local"),
    privateKeyFile: pick("PRIVY_PRIVATE_KEY_FILE", join(ROOT, ".local", "privy-private.pem")),
  };
}

export const randomPrivyDid = () => `did:privy:${randomBytes(12).toString("base64url").toLowerCase().replace(/[-_]/g, "x")}`;

export function signEs256(claims, privateKeyPem, { kid } = {}) {
  const header = { alg: "ES256", typ: "JWT", ...(kid ? { kid } : {}) };
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const input = `${b64(header)}.${b64(claims)}`;
  // JWS wants the raw r||s signature (64 bytes), not DER.
  const sig = sign("sha256", Buffer.from(input), { key: createPrivateKey(privateKeyPem), dsaEncoding: "ieee-p1363" });
  return `${input}.${sig.toString("base64url")}`;
}

// Options: sub, sid, appId (aud), iss, iat, expiresIn (s), kid, privateKeyPem |
// privateKeyFile, extra (claims merged last: override or delete with undefined).
export function mintPrivyAccessToken(opts = {}) {
  const d = defaults();
  const iat = opts.iat ?? Math.floor(Date.now() / 1000);
  const claims = {
    sid: opts.sid ?? randomUUID(),
    sub: opts.sub ?? randomPrivyDid(),
    iss: opts.iss ?? "privy.io",
    aud: opts.appId ?? d.appId,
    iat,
    exp: iat + (opts.expiresIn ?? 3600),
    ...opts.extra,
  };
  const pem = opts.privateKeyPem ?? readFileSync(opts.privateKeyFile ?? d.privateKeyFile, "utf8");
  return { token: signEs256(claims, pem, { kid: opts.kid }), claims };
}

// linkedAccounts: array like [{ type: "wallet", address: "0xabc…", chain_type: "ethereum" }]
// or [{ type: "email", address: "a@b.c" }]; also email / wallet shortcuts.
export function mintPrivyIdentityToken(opts = {}) {
  const now = Math.floor(Date.now() / 1000);
  const accounts = opts.linkedAccounts ?? [
    ...(opts.email ? [{ type: "email", address: opts.email, verified_at: now, first_verified_at: now, latest_verified_at: now }] : []),
    ...(opts.wallet
      ? [{ type: "wallet", address: opts.wallet, chain_type: "ethereum", wallet_client_type: "metamask", connector_type: "injected", verified_at: now, first_verified_at: now, latest_verified_at: now }]
      : []),
  ];
  return mintPrivyAccessToken({ ...opts, extra: { linked_accounts: JSON.stringify(accounts), ...opts.extra } });
}

export const randomWallet = () => `0x${randomBytes(20).toString("hex")}`;

// ---- CLI ------------------------------------------------------------------------
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const opts = {
    sub: opt("sub"),
    appId: opt("aud"),
    iss: opt("iss"),
    kid: opt("kid"),
    expiresIn: opt("expires-in") !== undefined ? Number(opt("expires-in")) : undefined,
    email: opt("email"),
    wallet: opt("wallet"),
  };
  const access = mintPrivyAccessToken(opts);
  if (args.includes("--json")) {
    const identity = mintPrivyIdentityToken({ ...opts, sub: access.claims.sub, sid: access.claims.sid, wallet: opts.wallet ?? (opts.email ? undefined : randomWallet()) });
    console.log(JSON.stringify({ accessToken: access.token, identityToken: identity.token, claims: identity.claims }, null, 2));
  } else if (args.includes("--identity")) {
    console.log(mintPrivyIdentityToken({ ...opts, wallet: opts.wallet ?? (opts.email ? undefined : randomWallet()) }).token);
  } else {
    console.log(access.token);
  }
}
