// The production configuration of every function, in ONE place: the variables the
// Workers receive as bindings (env.NAME) and the rate-limiting bindings.
// scripts/gen-wrangler.mjs writes it into wrangler.toml; the local stack gives each
// variable its local value in tests/stack/config.mjs (LOCAL there: one per name).
//
// Each entry:
//   deploy        the value written into wrangler.toml's [vars] (a placeholder where it
//                 depends on the account); a function of { version } or a string.
//   secret: true  never written to wrangler.toml; `wrangler secret put`.
//   optional: true  (a secret) make deploy-secrets puts it only when the env file has it.
//
// Adding a variable: add one entry here and its local value in tests/stack/config.mjs,
// run `make wrangler` (regenerates wrangler.toml). The stack passes it to every worker
// and writes it to stack.env (single-line values).

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseToml } from "smol-toml";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

// Google's Debian images have no cloud-init (which installs the agent): not on GCP.
export const ALLOWED_IMAGES = ["aws", "gcp", "azure"]
  .flatMap((p) => ["ubuntu-22.04", "ubuntu-24.04", "debian-12"].map((i) => `${p}:${i}`))
  .filter((pair) => pair !== "gcp:debian-12")
  .join(",");

export const VARIABLES = [
  { name: "HANGAR_VERSION", deploy: (c) => c.version },
  { name: "FUNCTIONS_URL", deploy: "https://api.hangar.example" },
  { name: "SUPABASE_URL", deploy: "https://YOUR-PROJECT-REF.supabase.co" },
  // Supabase serves PostgREST at /rest/v1 (postrust, locally, at /api).
  { name: "POSTGREST_URL", deploy: "https://YOUR-PROJECT-REF.supabase.co/rest/v1" },
  { name: "SUPABASE_JWT_SECRET", secret: true },
  { name: "SUPABASE_ANON_KEY", secret: true },
  { name: "SUPABASE_SERVICE_ROLE_KEY", secret: true },
  { name: "PRIVY_APP_ID", deploy: "YOUR-PRIVY-APP-ID" },
  // Privy's verification key, as PEM text.
  { name: "PRIVY_VERIFICATION_KEY", secret: true },
  { name: "ALLOWED_ORIGINS", deploy: "https://app.hangar.example" },
  { name: "SESSION_TTL_SECONDS", deploy: "3600" },
  { name: "REFRESH_TTL_DAYS", deploy: "30" },
  { name: "DEFAULT_PROVIDER", deploy: "aws" },
  // Comma-separated runners, each optionally `provider=url` (a bare URL takes every provider).
  { name: "RUNNER_URL", deploy: "https://runner.hangar.example/" },
  // The mode the stage's runners must be in: health is `degraded` when one says otherwise.
  { name: "RUNNER_MODE", deploy: "terraform" },
  { name: "RUNNER_SECRET", secret: true },
  { name: "RUNNER_MAX_ATTEMPTS", deploy: "5" },
  // The first retry delay; it doubles per attempt.
  { name: "RUNNER_RETRY_BASE_MS", deploy: "10000" },
  // provider:image pairs a machine may boot (the runner keeps the same list).
  { name: "ALLOWED_IMAGES", deploy: ALLOWED_IMAGES },
  // Secret values (API.md §7): AES-256-GCM keys, 32 random bytes in base64
  // (`openssl rand -base64 32`). PREVIOUS only during a rotation (README); `optional`:
  // make deploy-secrets does not require it.
  { name: "SECRETS_KEY", secret: true },
  { name: "SECRETS_KEY_PREVIOUS", secret: true, optional: true },
  // Requests per minute (API.md §1): the limits of the rate-limiting bindings (RATE_LIMITS
  // below), which gen-wrangler.mjs writes into wrangler.toml.
  { name: "RATE_LIMIT_EXCHANGE_PER_MIN", deploy: "10" },
  { name: "RATE_LIMIT_CREATE_PER_MIN", deploy: "20" },
  { name: "RATE_LIMIT_PER_MIN", deploy: "600" },
  // Only the test stack turns it on (x-hangar-test-panic proves what a panic answers).
  { name: "HANGAR_TEST_PANIC", deploy: "0" },
];

// The rate-limiting bindings of each function (see shared/src/http/rate_limit.rs): the binding name,
// the variable holding its limit, and a namespace id unique per account. exchange counts
// per client address; create-machine and instances add a create limit.
// A stage's namespaces are its own (namespaceBase), so staging never spends production's.
export function rateLimits(fn, vars, { namespaceBase = 1000 } = {}) {
  if (fn === "runner-callback" || fn === "scheduler") return []; // the runner and cron
  const ns = (n) => String(namespaceBase + n);
  const list = [
    { name: "RATE_LIMITER", namespaceId: ns(fn === "exchange" ? 1 : 2),
      limit: Number(vars[fn === "exchange" ? "RATE_LIMIT_EXCHANGE_PER_MIN" : "RATE_LIMIT_PER_MIN"]) },
  ];
  if (fn === "create-machine" || fn === "instances") {
    list.push({ name: "CREATE_RATE_LIMITER", namespaceId: ns(3), limit: Number(vars.RATE_LIMIT_CREATE_PER_MIN) });
  }
  return list;
}

/** The value of RATE_LIMIT_BINDINGS for `fn`: the bindings its Worker must have (a Worker
 * missing one answers 503 rather than serve without a limit), `none` for the unlimited. */
export function rateLimitBindings(fn, vars) {
  const names = rateLimits(fn, vars).map((rl) => rl.name);
  return names.length ? names.join(",") : "none";
}

// The deployment stages (`make deploy STAGE=…`). Wrangler's environments already hold one
// Worker per function ([env.<function>]) and cannot nest, so a stage is a wrangler
// configuration of its own (scripts/deploy.mjs writes .local/deploy/wrangler.<stage>.toml):
// its Worker names, its routes' host and zone, its rate-limit namespaces, and the values
// of its variables (the placeholders below, overridden by the stage's env file).
export const STAGES = {
  production: { workerPrefix: "hangar-", host: "api.hangar.example", zone: "hangar.example", namespaceBase: 1000, vars: {} },
  staging: {
    workerPrefix: "hangar-staging-", host: "api-staging.hangar.example", zone: "hangar.example", namespaceBase: 2000,
    vars: {
      FUNCTIONS_URL: "https://api-staging.hangar.example",
      ALLOWED_ORIGINS: "https://staging.app.hangar.example",
      RUNNER_URL: "https://runner-staging.hangar.example/",
    },
  },
};

// The web console (scripts/deploy-console.mjs): its Worker's name after the stage's prefix,
// and the sign-in methods of its production build (Supabase Auth). It is served on the
// host of the stage's first ALLOWED_ORIGINS origin.
export const CONSOLE = { name: "console", auth: "email,github" };

// The workspace version, for HANGAR_VERSION.
export function workspaceVersion() {
  const toml = parseToml(readFileSync(join(ROOT, "Cargo.toml"), "utf8"));
  return toml.workspace?.package?.version ?? toml.package?.version ?? "0.0.0";
}

// Values for a wrangler configuration: [vars] and the list of secrets. `overrides`
// (a stage's own values, then its env file's) replace the placeholders of non-secrets.
export function deployConfig(overrides = {}) {
  const c = { version: workspaceVersion() };
  const vars = {};
  const secrets = [];
  for (const v of VARIABLES) {
    if (v.secret) secrets.push(v.name);
    else vars[v.name] = overrides[v.name] ?? (typeof v.deploy === "function" ? v.deploy(c) : v.deploy);
  }
  return { vars, secrets };
}
