#!/usr/bin/env node
// The house style checks `npm test` runs first: ESLint and Prettier over the TypeScript and JavaScript,
// clang-format over native/. `node scripts/lint.mjs --fix` rewrites the files instead of checking them.
// clang-format comes from the clang-format npm package, which bundles binaries for x64 Linux, macOS and
// Windows; elsewhere a clang-format on the PATH is used, and without one the C++ check says it did not run.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(path.join(ROOT, "package.json"));
const FIX = process.argv.includes("--fix");
let failed = false;

function run(what, command, args) {
  const r = spawnSync(command, args, { cwd: ROOT, stdio: "inherit" });
  if (r.error || r.status !== 0) {
    console.error(`lint: ${what} failed${r.error ? ` (${r.error.message})` : ""}${FIX ? "" : `; \`node scripts/lint.mjs --fix\` fixes what can be fixed`}`);
    failed = true;
  }
}

function binOf(pkg, bin) {
  return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), bin);
}

function clangFormat() {
  try {
    return require("clang-format").getNativeBinary();
  } catch {
    const which = spawnSync(process.platform === "win32" ? "where" : "which", ["clang-format"], { encoding: "utf8" });
    return which.status === 0 ? which.stdout.split(/\r?\n/)[0] : undefined;
  }
}

run("ESLint", process.execPath, [binOf("eslint", "bin/eslint.js"), ...(FIX ? ["--fix"] : []), "."]);
run("Prettier", process.execPath, [binOf("prettier", "bin/prettier.cjs"), FIX ? "--write" : "--check", "--log-level", "warn", "."]);

const sources = fs
  .readdirSync(path.join(ROOT, "native"))
  .filter((f) => /\.(cc|h)$/.test(f)) // not the .inc fragments: clang-format does not take them for C++
  .map((f) => path.join("native", f));
const binary = clangFormat();
if (binary) {
  run("clang-format", binary, [...(FIX ? ["-i"] : ["--dry-run", "--Werror"]), ...sources]);
} else {
  console.log(`lint: no clang-format for ${process.platform}-${process.arch} (install one on the PATH); the C++ format was not checked`);
}
process.exit(failed ? 1 : 0);
