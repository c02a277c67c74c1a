// A node:test reporter for suite.mjs: one line per test file with its duration (the file's
// own test:complete event: from its process's start to its end) and its top-level tests,
// slowest first; then the run's counts as `counts {json}` (node's test:summary).

import { resolve } from "node:path";

export default async function* summary(source) {
  const files = new Map();
  let counts = null;
  for await (const { type, data } of source) {
    if (type === "test:summary" && !data.file) counts = data.counts;
    if (!data?.file) continue;
    const file = resolve(data.file); // given as on the command line, or absolute
    const f = files.get(file) ?? { ms: 0, tests: 0 };
    if (type === "test:complete" && resolve(data.name) === file) f.ms = data.details?.duration_ms ?? 0;
    else if (type === "test:complete" && data.nesting === 0) f.tests += 1;
    files.set(file, f);
  }
  const cwd = process.cwd() + "/";
  for (const [file, f] of [...files].sort((a, b) => b[1].ms - a[1].ms)) {
    yield `${(f.ms / 1000).toFixed(1).padStart(6)}s ${String(f.tests).padStart(4)} tests  ${file.replace(cwd, "")}\n`;
  }
  yield `counts ${JSON.stringify(counts ?? {})}\n`;
}
