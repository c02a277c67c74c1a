// postrust: the PostgREST-compatible server in front of the stack's Postgres.

import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { logSink, onExit, pipeLines, running, sleep } from "./util.mjs";

/**
 * Starts postrust on `port` against Postgres on `dbPort`; resolves once its pool reaches
 * the database. Returns { origin, log, stopSync(), died } (died: rejects if it exits
 * before stopSync()).
 */
export async function startPostrust({ runDir, dev, port, dbPort, jwtSecret, say, since, sinks }) {
  const dbUri = `postgres://authenticator@127.0.0.1:${dbPort}/postgres`;
  const origin = `http://127.0.0.1:${port}`;
  const log = join(runDir, "postrust.log");
  // A clean environment: postrust reads DATABASE_URL *over* PGRST_DB_URI, and a
  // DATABASE_URL inherited from a sourced stack.env (the superuser's) would
  // silently bypass RLS.
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: dbUri,
    PGRST_DB_URI: dbUri,
    PGRST_DB_ANON_ROLE: "anon",
    PGRST_DB_SCHEMAS: "public",
    PGRST_JWT_SECRET: jwtSecret,
    // Tokens with aud=authenticated (sessions, Supabase Auth) and tokens with no
    // aud (anon / service_role keys) pass; any other aud is 401.
    PGRST_JWT_AUD: "authenticated",
    PGRST_SERVER_HOST: "127.0.0.1",
    PGRST_SERVER_PORT: String(port),
    // `NOTIFY pgrst, 'reload schema'` after a manual migration reloads the cache.
    PGRST_DB_CHANNEL_ENABLED: "true",
    // PostgREST's response shapes (RPC results unwrapped, database errors as
    // PostgREST reports them), which is what Supabase serves.
    PGRST_COMPAT_MODE: process.env.PGRST_COMPAT_MODE ?? "true",
    PGRST_DB_POOL_TIMEOUT: "5",
    PGRST_LOG_LEVEL: process.env.PGRST_LOG_LEVEL ?? "warn",
    NO_COLOR: "1",
  };
  const sink = logSink(log, { dev, prefix: "[postrust] " });
  sinks.push(sink);
  const child = spawn("postrust", [], { env, stdio: ["ignore", "pipe", "pipe"] });
  if (child.pid) writeFileSync(join(runDir, "postrust.pid"), String(child.pid));
  pipeLines([child.stdout, child.stderr], sink);
  let stopping = false;
  const spawnError = new Promise((_, rej) => child.once("error", (e) => rej(new Error(`postrust: ${e.message} (run scripts/setup.sh)`))));
  const died = onExit(child).then(() => {
    if (!stopping) throw new Error(`postrust exited (${child.exitCode ?? child.signalCode}); see ${log}`);
  });
  // Ready = its pool reaches the database.
  const ready = (async () => {
    for (let i = 0; i < 300; i++) {
      try {
        if ((await fetch(`${origin}/_/ready`)).ok) return;
      } catch {}
      await sleep(100);
    }
    throw new Error("postrust did not become ready in 30s");
  })();
  await Promise.race([ready, spawnError, died]);
  say(`postrust on ${port} at ${since()}`);
  return {
    origin,
    log,
    died,
    stopSync() {
      stopping = true;
      if (running(child)) child.kill("SIGTERM");
    },
  };
}
