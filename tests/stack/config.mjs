// The runtime configuration of every function, in ONE place.
//
// Each entry is a variable the Workers receive as a binding (env.NAME):
//   local(ctx, vars)  its value on the local stack (ctx: ports, paths; vars:
//                     the entries resolved before it). Any variable set in the
//                     process environment wins over local().
//   deploy            the value gen-wrangler.mjs writes into wrangler.toml's
//                     [vars] (a placeholder where it depends on the account).
//   secret: true      never written to wrangler.toml; `wrangler secret put`.
//
// Adding a variable: add one entry here, run `make wrangler` (regenerates
// wrangler.toml). The stack passes it to every worker and writes it to
// stack.env (single-line values).

import { createHmac, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseToml } from "smol-toml";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const LOCAL_DIR = join(ROOT, ".local");

// A fixed development secret (>= 32 chars): stable tokens across restarts, so a
// frontend on localhost keeps working. Never used outside the local stack.
const LOCAL_JWT_SECRET = "hangar-local-dev-jwt-secret-not-for-production-0123456789";
const LOCAL_RUNNER_SECRET = "hangar-local-dev-runner-secret-0123456789abcdef";

// Google's Debian images have no cloud-init (which installs the agent): not on GCP.
const ALLOWED_IMAGES = ["aws", "gcp", "azure"]
  .flatMap((p) => ["ubuntu-22.04", "ubuntu-24.04", "debian-12"].map((i) => `${p}:${i}`))
  .filter((pair) => pair !== "gcp:debian-12")
  .join(",");

export const VARIABLES = [
  { name: "HANGAR_VERSION", deploy: (c) => c.version, local: (c) => c.version },
  { name: "FUNCTIONS_URL", deploy: "https://api.hangar.example", local: (c) => c.functionsUrl },
  { name: "SUPABASE_URL", deploy: "https://YOUR-PROJECT-REF.supabase.co", local: (c) => c.postgrestOrigin },
  // Supabase serves PostgREST at /rest/v1; postrust serves it at /api.
  {
    name: "POSTGREST_URL",
    deploy: "https://YOUR-PROJECT-REF.supabase.co/rest/v1",
    local: (c) => `${c.postgrestOrigin}/api`,
  },
  { name: "SUPABASE_JWT_SECRET", secret: true, local: () => LOCAL_JWT_SECRET },
  {
    name: "SUPABASE_ANON_KEY",
    secret: true,
    local: (c, v) => mintSupabaseKey("anon", v.SUPABASE_JWT_SECRET),
  },
  {
    name: "SUPABASE_SERVICE_ROLE_KEY",
    secret: true,
    local: (c, v) => mintSupabaseKey("service_role", v.SUPABASE_JWT_SECRET),
  },
  { name: "PRIVY_APP_ID", deploy: "YOUR-PRIVY-APP-ID", local: () => "hangar-local" },
  // The public half of the key pair in .local/ (see privyKeys below), as PEM text.
  { name: "PRIVY_VERIFICATION_KEY", secret: true, local: (c) => readFileSync(c.privyPublicKeyFile, "utf8") },
  {
    name: "ALLOWED_ORIGINS",
    deploy: "https://app.hangar.example",
    local: () => "http://localhost:3000,http://127.0.0.1:3000",
  },
  { name: "SESSION_TTL_SECONDS", deploy: "3600", local: () => "3600" },
  { name: "REFRESH_TTL_DAYS", deploy: "30", local: () => "30" },
  { name: "SIGNUP_CREDITS_CENTS", deploy: "1000", local: () => "1000" },
  { name: "DEFAULT_PROVIDER", deploy: "aws", local: () => "aws" },
  // The stack runs the runner (simulate mode) beside the functions.
  { name: "RUNNER_URL", deploy: "https://runner.hangar.example/", local: (c) => c.runnerUrl ?? "" },
  { name: "RUNNER_SECRET", secret: true, local: () => LOCAL_RUNNER_SECRET },
  { name: "RUNNER_MAX_ATTEMPTS", deploy: "5", local: () => "5" },
  // Tests wait for retries: a short first delay there (it doubles per attempt).
  { name: "RUNNER_RETRY_BASE_MS", deploy: "10000", local: (c) => (c.test ? "200" : "5000") },
  // provider:image pairs a machine may boot (the runner keeps the same list).
  {
    name: "ALLOWED_IMAGES",
    deploy: ALLOWED_IMAGES,
    local: () => ALLOWED_IMAGES,
  },
  // Requests per minute (API.md §1): the rate-limiting bindings' limits, written into
  // wrangler.toml by gen-wrangler.mjs (see RATE_LIMITS). The test stack sets them out of
  // reach, so that a suite of hundreds of sign-ins from one address can run;
  // tests/e2e/rate-limits.test.mjs starts Workers of its own with low limits.
  { name: "RATE_LIMIT_EXCHANGE_PER_MIN", deploy: "10", local: (c) => (c.test ? "100000" : "10") },
  { name: "RATE_LIMIT_CREATE_PER_MIN", deploy: "20", local: (c) => (c.test ? "100000" : "20") },
  { name: "RATE_LIMIT_PER_MIN", deploy: "600", local: (c) => (c.test ? "100000" : "600") },
  // The test stack proves what a panic answers (x-hangar-test-panic); never deployed on.
  { name: "HANGAR_TEST_PANIC", deploy: "0", local: (c) => (c.test ? "1" : "0") },
];

// The rate-limiting bindings of each function (see shared/src/rate_limit.rs): the
// binding name, the variable holding its limit, and a namespace id unique per account.
// exchange counts per client address; create-machine and instances add a create limit.
export function rateLimits(fn, vars) {
  if (fn === "runner-callback" || fn === "scheduler") return []; // the runner and cron
  const list = [
    { name: "RATE_LIMITER", namespaceId: fn === "exchange" ? "1001" : "1002",
      limit: Number(vars[fn === "exchange" ? "RATE_LIMIT_EXCHANGE_PER_MIN" : "RATE_LIMIT_PER_MIN"]) },
  ];
  if (fn === "create-machine" || fn === "instances") {
    list.push({ name: "CREATE_RATE_LIMITER", namespaceId: "1003", limit: Number(vars.RATE_LIMIT_CREATE_PER_MIN) });
  }
  return list;
}

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

// The workspace version, for HANGAR_VERSION.
export function workspaceVersion() {
  const toml = parseToml(readFileSync(join(ROOT, "Cargo.toml"), "utf8"));
  return toml.workspace?.package?.version ?? toml.package?.version ?? "0.0.0";
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
//   ctx: { functionsUrl, postgrestOrigin } (the stack's actual addresses)
export function resolveConfig(ctx, env = process.env) {
  const { privateKeyFile, publicKeyFile } = privyKeys(env);
  const c = { version: workspaceVersion(), privyPrivateKeyFile: privateKeyFile, privyPublicKeyFile: publicKeyFile, ...ctx };
  const vars = {};
  for (const v of VARIABLES) {
    vars[v.name] = env[v.name] !== undefined ? env[v.name] : String(v.local(c, vars));
  }
  return { vars, privateKeyFile, publicKeyFile };
}

// Values for wrangler.toml: [vars] and the list of secrets.
export function deployConfig() {
  const c = { version: workspaceVersion() };
  const vars = {};
  const secrets = [];
  for (const v of VARIABLES) {
    if (v.secret) secrets.push(v.name);
    else vars[v.name] = typeof v.deploy === "function" ? v.deploy(c) : v.deploy;
  }
  return { vars, secrets };
}
