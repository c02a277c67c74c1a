// The stack's PostgreSQL: a throwaway cluster (fresh per test run; kept in .local/dev for
// `make dev`), migrated with bootstrap.sql and migrations/. startPostgres() at the end.
//
// initdb refuses to run as root, so as root every server-side command runs as
// the `postgres` user (runuser); psql is only a client and connects over the
// cluster's own socket with trust auth. The cluster has its own port and socket
// directory, so it never meets the Debian cluster on 5432.

import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";

const IS_ROOT = process.getuid?.() === 0;

export function pgBin() {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base)
    ? readdirSync(base).filter((v) => existsSync(join(base, v, "bin", "postgres")))
    : [];
  if (!versions.length) throw new Error("no PostgreSQL server in /usr/lib/postgresql: run scripts/setup.sh");
  versions.sort((a, b) => Number(b) - Number(a));
  return join(base, versions[0], "bin");
}

// Run a server-side command (as postgres when we are root); throws with its output.
function asPostgres(cmd, args, { cwd } = {}) {
  const [file, argv] = IS_ROOT ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
  const r = spawnSync(file, argv, { cwd, encoding: "utf8" });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  }
  return r.stdout;
}

// Can the postgres user reach `dir`? (A work tree under /root is not.)
function postgresCanUse(dir) {
  if (!IS_ROOT) return true;
  return spawnSync("runuser", ["-u", "postgres", "--", "test", "-w", dir]).status === 0;
}

// Where a cluster lives: <dir>/pg normally; under /tmp when the postgres user
// cannot write there or the socket path would be too long for a Unix socket.
export function clusterPaths(dir) {
  mkdirSync(dir, { recursive: true });
  let base = join(dir, "pg");
  mkdirSync(base, { recursive: true });
  if (IS_ROOT) chownSync(base, uidOf("postgres"), gidOf("postgres"));
  if (!postgresCanUse(base) || join(base, "sock", ".s.PGSQL.65535").length > 100) {
    base = join("/tmp", `hangar-pg-${createHash("sha1").update(dir).digest("hex").slice(0, 10)}`);
    mkdirSync(base, { recursive: true });
    if (IS_ROOT) chownSync(base, uidOf("postgres"), gidOf("postgres"));
  }
  return { base, pgdata: join(base, "data"), sockDir: join(base, "sock"), log: join(base, "postgres.log") };
}

function uidOf(user) {
  return Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
}
function gidOf(user) {
  return Number(execFileSync("id", ["-g", user], { encoding: "utf8" }).trim());
}

export function clusterExists(paths) {
  return existsSync(join(paths.pgdata, "PG_VERSION"));
}

// A new cluster. initdb takes about a second; with `templateDir` its result is
// kept there once and copied afterwards (a fresh database per test run).
export function initCluster(paths, { templateDir } = {}) {
  const bin = pgBin();
  rmSync(paths.pgdata, { recursive: true, force: true });
  mkdirSync(paths.sockDir, { recursive: true });
  if (IS_ROOT) chownSync(paths.sockDir, uidOf("postgres"), gidOf("postgres"));
  const initdb = (pgdata, cwd) => {
    asPostgres(
      join(bin, "initdb"),
      ["-D", pgdata, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"],
      { cwd },
    );
    // Settings that change per run (port) live in an included file that every
    // start rewrites; pg.sh start picks up the same file.
    const conf = join(pgdata, "postgresql.conf");
    writeFileSync(conf, readFileSync(conf, "utf8") + "\ninclude_if_exists = 'hangar.conf'\n");
  };
  if (!templateDir) return initdb(paths.pgdata, paths.base);
  const template = join(templateDir, `pg${basename(dirname(bin))}`, "data");
  if (!existsSync(join(template, "PG_VERSION"))) {
    const dir = dirname(template);
    mkdirSync(dir, { recursive: true });
    if (IS_ROOT) chownSync(dir, uidOf("postgres"), gidOf("postgres"));
    if (!postgresCanUse(dir)) return initdb(paths.pgdata, paths.base);
    // Concurrent runs may both build it: each in its own folder, first rename wins.
    const tmp = `${template}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    initdb(tmp, dir);
    try {
      renameSync(tmp, template);
    } catch {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  execFileSync("cp", ["-a", template, paths.pgdata]);
}

// (Re)write the per-run settings. `fast`: no durability (tests).
export function configureCluster(paths, { port, fast }) {
  const lines = [
    `port = ${port}`,
    `listen_addresses = '127.0.0.1'`,
    `unix_socket_directories = '${paths.sockDir}'`,
    `max_connections = 100`,
    `log_min_messages = warning`,
    `log_min_error_statement = panic`, // failed statements are the client's business
  ];
  if (fast) lines.push("fsync = off", "synchronous_commit = off", "full_page_writes = off");
  const file = join(paths.pgdata, "hangar.conf");
  writeFileSync(file, lines.join("\n") + "\n");
  if (IS_ROOT) chownSync(file, uidOf("postgres"), gidOf("postgres"));
}

export function isRunning(paths) {
  const [file, argv] = IS_ROOT
    ? ["runuser", ["-u", "postgres", "--", join(pgBin(), "pg_ctl"), "-D", paths.pgdata, "status"]]
    : [join(pgBin(), "pg_ctl"), ["-D", paths.pgdata, "status"]];
  return spawnSync(file, argv).status === 0;
}

export function startCluster(paths) {
  asPostgres(join(pgBin(), "pg_ctl"), ["-D", paths.pgdata, "-l", paths.log, "-w", "-t", "60", "start"], {
    cwd: paths.base,
  });
}

export function stopCluster(paths) {
  if (!existsSync(join(paths.pgdata, "postmaster.pid"))) return;
  try {
    asPostgres(join(pgBin(), "pg_ctl"), ["-D", paths.pgdata, "-m", "fast", "-w", "-t", "30", "stop"], {
      cwd: paths.base,
    });
  } catch (e) {
    if (isRunning(paths)) throw e; // "no server running" is fine
  }
}

// psql as the superuser over the cluster's socket.
export function psql(paths, port, args, { input } = {}) {
  const r = spawnSync(
    join(pgBin(), "psql"),
    ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", paths.sockDir, "-p", String(port), "-U", "postgres", "-d", "postgres", ...args],
    { encoding: "utf8", input },
  );
  return r;
}

export class MigrationChanged extends Error {}

// Apply bootstrap.sql (first time) and every migrations/*.sql not yet applied,
// in name order, each in one transaction with its bookkeeping row. A file
// that changed after it was applied throws MigrationChanged (dev resets).
export function applyMigrations(paths, port, { bootstrapFile, migrationsDir, log = console.log }) {
  const hasBook = psql(paths, port, ["-At", "-c", "select to_regclass('hangar_local.applied_migrations') is not null"]);
  if (hasBook.status !== 0) throw new Error(`psql failed: ${hasBook.stderr}`);
  if (hasBook.stdout.trim() !== "t") {
    const r = psql(paths, port, ["-1", "-f", bootstrapFile]);
    if (r.status !== 0) throw new Error(`bootstrap failed: ${bootstrapFile}\n${r.stdout}${r.stderr}`);
  }
  const applied = new Map(
    psql(paths, port, ["-At", "-F", "\t", "-c", "select name, sha256 from hangar_local.applied_migrations"])
      .stdout.split("\n")
      .filter(Boolean)
      .map((l) => l.split("\t")),
  );
  const files = existsSync(migrationsDir)
    ? readdirSync(migrationsDir).filter((f) => f.endsWith(".sql")).sort()
    : [];
  let count = 0;
  for (const name of files) {
    const file = join(migrationsDir, name);
    const sha = createHash("sha256").update(readFileSync(file)).digest("hex");
    if (applied.has(name)) {
      if (applied.get(name) !== sha) throw new MigrationChanged(`migration ${name} changed after it was applied`);
      continue;
    }
    const r = psql(paths, port, [
      "-1",
      "-f",
      file,
      "-c",
      `insert into hangar_local.applied_migrations (name, sha256) values ('${name.replace(/'/g, "''")}', '${sha}')`,
    ]);
    if (r.status !== 0) {
      throw new Error(`migration failed: migrations/${name}\n${r.stdout}${r.stderr}`.trimEnd());
    }
    count++;
  }
  for (const name of applied.keys()) {
    if (!files.includes(name)) throw new MigrationChanged(`migration ${name} was applied but is gone`);
  }
  log(`[pg] ${count} migration(s) applied, ${files.length} in migrations/`);
}

// ---- the stack's cluster ------------------------------------------------------------

/**
 * The cluster of the run folder `runDir` on `port`: { paths, port, url, start(),
 * stopSync() }. start() applies the migrations; a dev database built from an older
 * version of a migration starts over.
 */
export function postgres({ runDir, localDir, root, port, dev, say, since }) {
  const paths = clusterPaths(runDir);
  const template = { templateDir: join(localDir, "pg-template") };
  const up = () => {
    configureCluster(paths, { port, fast: !dev });
    startCluster(paths);
  };
  const opts = {
    bootstrapFile: join(root, "tests/stack/bootstrap.sql"),
    migrationsDir: join(root, "migrations"),
    log: say,
  };
  return {
    paths,
    port,
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    start() {
      // A cluster left running by a killed run (dev) is stopped first: known state.
      if (clusterExists(paths) && isRunning(paths)) stopCluster(paths);
      const fresh = !clusterExists(paths);
      if (fresh) initCluster(paths, template);
      up();
      try {
        applyMigrations(paths, port, opts);
      } catch (e) {
        if (!(e instanceof MigrationChanged)) throw e;
        say(`${e.message}: recreating the dev database`);
        stopCluster(paths);
        initCluster(paths, template);
        up();
        applyMigrations(paths, port, opts);
      }
      say(`postgres on ${port} (${relative(root, paths.pgdata) || paths.pgdata}${fresh ? ", new" : ""}) at ${since()}`);
    },
    stopSync: () => stopCluster(paths),
  };
}
