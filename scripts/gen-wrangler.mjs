#!/usr/bin/env node
// Generate wrangler.toml: one [env.<name>] per function crate (functions/*/Cargo.toml),
// with its routes, build command and the non-secret vars of config/variables.mjs.
//
//   node scripts/gen-wrangler.mjs          write wrangler.toml
//   node scripts/gen-wrangler.mjs --check  exit 1 if wrangler.toml is out of date
//
// Adding a function: create functions/<name>, run `make wrangler`.
// Env: HANGAR_ROUTE_HOST (default "*", any host) and HANGAR_ZONE (the zone the
// routes belong to). scripts/deploy.mjs renders a stage's configuration with the same
// function (renderWrangler).

import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { deployConfig, rateLimitBindings, rateLimits, ROOT } from "../config/variables.mjs";

// Per-function extras. aliases: more names the function answers to
// (/functions/v1/<alias>, for URLs the frontend already uses). crons: cron
// triggers. routes: false for a function that is only run by its cron.
const EXTRA = {
  "get-logs": { aliases: ["get-recent-logs"] },
  // Its route serves operators: POST with the service-role key runs one tick.
  scheduler: { crons: ["* * * * *"] },
};

// Not newer than what the bundled workerd of miniflare supports.
export const COMPATIBILITY_DATE = "2026-07-01";

export const functionNames = () =>
  readdirSync(join(ROOT, "functions"))
    .filter((n) => existsSync(join(ROOT, "functions", n, "Cargo.toml")))
    .sort();

/**
 * A wrangler configuration with one [env.<function>] per function crate.
 *   host, zone      the routes' host pattern and zone
 *   workerPrefix    Worker names: <workerPrefix><function>
 *   namespaceBase   the rate-limiting namespaces (config/variables.mjs rateLimits)
 *   overrides       variable values replacing the placeholders of config/variables.mjs
 *   build           true: each env carries its release build command (wrangler.toml, for a
 *                   hand-run `wrangler deploy --env <fn>`); a stage's file has none, as
 *                   scripts/deploy.mjs builds every function once first
 *   header          comment lines at the top
 *   root            the repository relative to the file (wrangler resolves `main` from it)
 */
export function renderWrangler({ host = "*", zone = "hangar.example", workerPrefix = "hangar-", namespaceBase = 1000,
  overrides = {}, build = true, header = [], root = "" } = {}) {
  const functions = functionNames();
  const { vars, secrets } = deployConfig(overrides);
  const str = (s) => JSON.stringify(String(s)); // a TOML basic string
  const out = [...header.map((l) => (l ? `# ${l}` : "#")),
    "# Secrets are never in this file; per function:",
    ...secrets.map((s) => `#   npx wrangler secret put ${s} --env <function>`),
    "",
    `name = ${str(`${workerPrefix}functions`)}`,
    `compatibility_date = ${str(COMPATIBILITY_DATE)}`,
    "",
  ];
  for (const name of functions) {
    const extra = EXTRA[name] ?? {};
    out.push(
      `[env.${name}]`,
      `name = ${str(`${workerPrefix}${name}`)}`,
      `main = ${str(`${root}functions/${name}/build/entry.js`)}`,
      `compatibility_date = ${str(COMPATIBILITY_DATE)}`,
    );
    if (extra.routes !== false) {
      // ONE pattern ending in `*` per name. Cloudflare (and Miniflare) match a
      // route against the whole URL *including the query string*, and a pattern
      // may not contain one: `/functions/v1/me` alone would miss `/functions/v1/me?x=1`.
      // The price: `me*` also matches `/functions/v1/metrics-x`. A more specific
      // (longer) route of another function wins over it; for a path no function
      // owns, the worker itself must answer 404 not_found (shared request code:
      // accept only `/functions/v1/<name>` and `/functions/v1/<name>/...`).
      out.push("routes = [");
      for (const n of [name, ...(extra.aliases ?? [])]) {
        out.push(`  { pattern = ${str(`${host}/functions/v1/${n}*`)}, zone_name = ${str(zone)} },`);
      }
      out.push("]");
    } else {
      out.push("workers_dev = false");
    }
    out.push("");
    if (build) out.push(`[env.${name}.build]`, `command = ${str(`bash scripts/build-functions.sh release ${name}`)}`, "");
    if (extra.crons) out.push(`[env.${name}.triggers]`, `crons = [${extra.crons.map(str).join(", ")}]`, "");
    for (const rl of rateLimits(name, vars, { namespaceBase })) {
      out.push(`[[env.${name}.ratelimits]]`, `name = ${str(rl.name)}`, `namespace_id = ${str(rl.namespaceId)}`,
        `simple = { limit = ${rl.limit}, period = 60 }`, "");
    }
    out.push(`[env.${name}.vars]`);
    for (const [k, v] of Object.entries(vars)) out.push(`${k} = ${str(v)}`);
    out.push(`RATE_LIMIT_BINDINGS = ${str(rateLimitBindings(name, vars))}`);
    out.push("");
  }
  return { text: out.join("\n"), functions };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { text, functions } = renderWrangler({
    host: process.env.HANGAR_ROUTE_HOST || "*",
    zone: process.env.HANGAR_ZONE || "hangar.example",
    header: [
      "GENERATED by scripts/gen-wrangler.mjs from functions/*/Cargo.toml and",
      "config/variables.mjs: edit those and run `make wrangler`, not this file.",
      "",
      "One Worker per function (Supabase Edge Functions URL shape). The local stack",
      "(Miniflare) reads this file; `make deploy STAGE=production|staging` deploys with a",
      "configuration of the stage's own (README: Deployment). By hand:",
      "  npx wrangler deploy --env <function>",
    ],
  });
  const file = join(ROOT, "wrangler.toml");
  if (process.argv.includes("--check")) {
    const current = existsSync(file) ? readFileSync(file, "utf8") : "";
    if (current !== text) {
      console.error("wrangler.toml is out of date: run `make wrangler`");
      process.exit(1);
    }
  } else if (!existsSync(file) || readFileSync(file, "utf8") !== text) {
    writeFileSync(file, text);
    console.log(`wrangler.toml written: ${functions.length} function(s): ${functions.join(", ")}`);
  }
}
