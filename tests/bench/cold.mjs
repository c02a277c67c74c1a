// Cold start: compile + instantiate of each function's release wasm in node (V8, as in
// workerd), each sample in a fresh process (V8 caches compiled modules within one).
//
//   node tests/bench/cold.mjs DIR [--out FILE.json]    DIR/<function>/index_bg.wasm
//
// Reports the median of BENCH_COLD_SAMPLES (default 5) per function, with V8's default
// (lazy) wasm compilation and with eager compilation (--no-wasm-lazy-compilation, every
// function compiled up front: the worst case). Budget: default compile + instantiate
// <= BENCH_COLD_BUDGET_MS (30) per function; exits 1 when one is over.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

if (process.argv[2] === "--one") {
  // A child: one sample. Imports are stubs (instantiation only links them; wasm-bindgen's
  // start is run by its JS glue after instantiation, not part of this measurement).
  const bytes = readFileSync(process.argv[3]);
  const t0 = performance.now();
  const module = new WebAssembly.Module(bytes);
  const t1 = performance.now();
  const imports = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    imports[imp.module] ??= {};
    if (imp.kind === "function") imports[imp.module][imp.name] = () => {};
    else if (imp.kind === "memory") imports[imp.module][imp.name] = new WebAssembly.Memory({ initial: 17 });
    else if (imp.kind === "table") imports[imp.module][imp.name] = new WebAssembly.Table({ initial: 128, element: "externref" });
    else if (imp.kind === "global") imports[imp.module][imp.name] = new WebAssembly.Global({ value: "i32", mutable: true }, 0);
    // wasm-bindgen's JS exception tag (catching JS exceptions in wasm).
    else if (imp.kind === "tag") imports[imp.module][imp.name] = WebAssembly.JSTag ?? new WebAssembly.Tag({ parameters: ["externref"] });
  }
  new WebAssembly.Instance(module, imports);
  const t2 = performance.now();
  process.stdout.write(JSON.stringify({ compile: t1 - t0, instantiate: t2 - t1 }));
  process.exit(0);
}

const dir = process.argv[2];
const outIdx = process.argv.indexOf("--out");
const OUT = outIdx > 0 ? process.argv[outIdx + 1] : undefined;
const SAMPLES = Number(process.env.BENCH_COLD_SAMPLES || 5);
const BUDGET_MS = Number(process.env.BENCH_COLD_BUDGET_MS || 30);
const self = fileURLToPath(import.meta.url);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const sample = (wasm, flags) => JSON.parse(execFileSync(process.execPath, [...flags, self, "--one", wasm], { encoding: "utf8" }));
const rows = [];
for (const name of readdirSync(dir).sort()) {
  const wasm = join(dir, name, "index_bg.wasm");
  if (!existsSync(wasm)) continue;
  const measure = (flags) => {
    const s = Array.from({ length: SAMPLES }, () => sample(wasm, flags));
    return { compile: median(s.map((x) => x.compile)), instantiate: median(s.map((x) => x.instantiate)), total: median(s.map((x) => x.compile + x.instantiate)) };
  };
  rows.push({ name, kib: readFileSync(wasm).length / 1024, lazy: measure([]), eager: measure(["--no-wasm-lazy-compilation"]) });
}

console.log(`\nCold start: compile + instantiate in node ${process.version} (ms, median of ${SAMPLES} fresh processes; budget ${BUDGET_MS} ms, V8 default)`);
console.log(`${"function".padEnd(22)}${"wasm KiB".padStart(9)}${"compile".padStart(9)}${"inst.".padStart(7)}${"total".padStart(7)}${"eager total".padStart(13)}`);
let failed = false;
for (const r of rows) {
  const over = r.lazy.total > BUDGET_MS;
  failed ||= over;
  console.log(`${r.name.padEnd(22)}${r.kib.toFixed(0).padStart(9)}${r.lazy.compile.toFixed(1).padStart(9)}${r.lazy.instantiate.toFixed(1).padStart(7)}${r.lazy.total.toFixed(1).padStart(7)}${r.eager.total.toFixed(1).padStart(13)}${over ? "  OVER BUDGET" : ""}`);
}
if (OUT) writeFileSync(OUT, JSON.stringify(rows, null, 2));
if (!rows.length) {
  console.error(`cold start: no */index_bg.wasm under ${dir}`);
  process.exit(1);
}
process.exit(failed ? 1 : 0);
