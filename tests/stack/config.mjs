// The local stack's value of every production variable (config/variables.mjs), and the
// local-only secrets and keys behind them.
//
//   LOCAL[name](c, vars)  the variable's value on the local stack (c: the stack's ports,
//                         paths, mode; vars: the entries resolved before it). Any
//                         variable set in the process environment wins over it.
//
// Every variable of config/variables.mjs must have an entry here (resolveConfig throws
// otherwise), so that a new variable cannot reach production untested.

import { createHash, createHmac, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ALLOWED_IMAGES, ROOT, VARIABLES, workspaceVersion } from "../../config/variables.mjs";

export { ROOT, rateLimitBindings, rateLimits } from "../../config/variables.mjs";
export const LOCAL_DIR = join(ROOT, ".local");

// A fixed development secret (>= 32 chars): stable tokens across restarts, so a
// frontend on localhost keeps working. Never used outside the local stack.
const LOCAL_JWT_SECRET = "hangar-local-dev-jwt-secret-not-for-production-0123456789";
const LOCAL_RUNNER_SECRET = "hangar-local-dev-runner-secret-0123456789abcdef";

// c.test: the test stack (free ports, fresh database); else `make dev`.
export const LOCAL = {
  HANGAR_VERSION: (c) => c.version,
  FUNCTIONS_URL: (c) => c.functionsUrl,
  SUPABASE_URL: (c) => c.postgrestOrigin,
  // postrust serves PostgREST at /api.
  POSTGREST_URL: (c) => `${c.postgrestOrigin}/api`,
  SUPABASE_JWT_SECRET: () => LOCAL_JWT_SECRET,
  SUPABASE_ANON_KEY: (c, v) => mintSupabaseKey("anon", v.SUPABASE_JWT_SECRET),
  SUPABASE_SERVICE_ROLE_KEY: (c, v) => mintSupabaseKey("service_role", v.SUPABASE_JWT_SECRET),
  PRIVY_APP_ID: () => "hangar-local",
  // The public half of the key pair in .local/ (see privyKeys below), as PEM text.
  PRIVY_VERIFICATION_KEY: (c) => readFileSync(c.privyPublicKeyFile, "utf8"),
  // The console's origin too (tests/stack/console.mjs: 3000 in dev, a free port in test).
  ALLOWED_ORIGINS: (c) => [...new Set(["http://localhost:3000", "http://127.0.0.1:3000", c.consoleOrigin].filter(Boolean))].join(","),
  SESSION_TTL_SECONDS: () => "3600",
  REFRESH_TTL_DAYS: () => "30",
  DEFAULT_PROVIDER: () => "aws",
  // The stack runs the runner (simulate mode) beside the functions.
  RUNNER_URL: (c) => c.runnerUrl ?? "",
  // The local runners simulate (tests start Terraform-mode runners of their own).
  RUNNER_MODE: () => "simulate",
  RUNNER_SECRET: () => LOCAL_RUNNER_SECRET,
  RUNNER_MAX_ATTEMPTS: () => "5",
  // Tests wait for retries: a short first delay there.
  RUNNER_RETRY_BASE_MS: (c) => (c.test ? "200" : "5000"),
  ALLOWED_IMAGES: () => ALLOWED_IMAGES,
  // Fixed development keys of secret values (stable across restarts, like the JWT
  // secret). The test stack also has a previous key, so that the suite proves a rotation.
  SECRETS_KEY: () => localKey("hangar-local-dev-secrets-key"),
  SECRETS_KEY_PREVIOUS: (c) => (c.test ? localKey("hangar-local-dev-secrets-key-previous") : ""),
  // The test stack sets the limits out of reach, so that a suite of hundreds of sign-ins
  // from one address can run; tests/e2e/account/rate-limits.test.mjs starts Workers of
  // its own with low limits.
  RATE_LIMIT_EXCHANGE_PER_MIN: (c) => (c.test ? "100000" : "10"),
  RATE_LIMIT_CREATE_PER_MIN: (c) => (c.test ? "100000" : "20"),
  RATE_LIMIT_PER_MIN: (c) => (c.test ? "100000" : "600"),
  // The test stack proves what a panic answers (x-hangar-test-panic).
  HANGAR_TEST_PANIC: (c) => (c.test ? "1" : "0"),
};

// 32 bytes in base64, derived from a label: a local-only AES-256 key.
const localKey = (label) => createHash("sha256").update(label).digest("base64");

// HS256 JWT, as Supabase's anon and service_role keys are: no `aud`, no `sub`.
// Fixed iat/exp so the keys do not change between runs.
export function mintSupabaseKey(role, secret, { iat = 1700000000, exp = 2100000000 } = {}) {
  return signHs256({ iss: "supabase", ref: "hangar-local", role, iat, exp }, secret);
}

export function signHs256(claims, secret, header = { alg: "HS256", typ: "JWT" }) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

// A P-256 key pair standing in for Privy's: generated once, kept in .local/.
// PRIVY_PRIVATE_KEY_FILE / PRIVY_VERIFICATION_KEY_FILE point elsewhere if set.
export function privyKeys(env = process.env) {
  const privateKeyFile = env.PRIVY_PRIVATE_KEY_FILE || join(LOCAL_DIR, "privy-private.pem");
  const publicKeyFile = env.PRIVY_VERIFICATION_KEY_FILE || join(LOCAL_DIR, "privy-public.pem");
  if (!existsSync(privateKeyFile) || !existsSync(publicKeyFile)) {
    const { privateKey, publicKey } = generateKeyPairSync("ec", {
      namedCurve: "prime256v1",
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    mkdirSync(dirname(privateKeyFile), { recursive: true });
    mkdirSync(dirname(publicKeyFile), { recursive: true });
    writeFileSync(privateKeyFile, privateKey, { mode: 0o600 });
    writeFileSync(publicKeyFile, publicKey);
  }
  return { privateKeyFile, publicKeyFile };
}

// Resolve every variable for the local stack.
//   ctx: { functionsUrl, postgrestOrigin, runnerUrl, test } (the stack's actual addresses)
export function resolveConfig(ctx, env = process.env) {
  const { privateKeyFile, publicKeyFile } = privyKeys(env);
  const c = { version: workspaceVersion(), privyPrivateKeyFile: privateKeyFile, privyPublicKeyFile: publicKeyFile, ...ctx };
  const missing = VARIABLES.map((v) => v.name).filter((n) => !LOCAL[n]);
  if (missing.length) throw new Error(`no local value in tests/stack/config.mjs for ${missing.join(", ")}`);
  const vars = {};
  for (const { name } of VARIABLES) {
    vars[name] = env[name] !== undefined ? env[name] : String(LOCAL[name](c, vars));
  }
  return { vars, privateKeyFile, publicKeyFile };
}
