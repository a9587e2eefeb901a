/**
 * The CLI tests run bin/phi4.js, which runs the compiled dist/, not lib/: a dist/ older than its
 * sources would test yesterday's code. Before the tests, every lib/ source must have a compiled file
 * at least as new; if one has not, dist/ is rebuilt (tsc -p tsconfig.build.json). A build that
 * leaves dist/ stale stops the run with tsc's errors; type errors alone (tsc still writes its
 * output) are printed and left to the typecheck.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { promisify } from "node:util";

/** lib/ sources whose dist/ file is missing or older than they are (paths relative to lib/). */
export function staleOutputs(root: string): string[] {
  const lib = path.join(root, "lib");
  const stale: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
        const relative = path.relative(lib, file);
        const output = path.join(root, "dist", relative.replace(/\.ts$/, ".js"));
        if (!existsSync(output) || statSync(output).mtimeMs < statSync(file).mtimeMs) stale.push(relative);
      }
    }
  };
  walk(lib);
  return stale;
}

export async function ensureFreshDist(root: string): Promise<void> {
  const stale = staleOutputs(root);
  if (stale.length === 0) return;
  const tsc = createRequire(path.join(root, "package.json")).resolve("typescript/bin/tsc");
  let failure: { error: unknown; output: string } | undefined;
  try {
    await promisify(execFile)(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: root, maxBuffer: 16 << 20 });
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    failure = { error, output: `${stdout}${stderr}` };
  }
  const still = staleOutputs(root);
  if (still.length > 0) {
    const why = failure ? `rebuilding it failed:\n${failure.output}` : "a build left it so";
    throw new Error(`dist/ is older than lib/ (${still.slice(0, 3).join(", ")}${still.length > 3 ? ", ..." : ""}) and ${why}`, { cause: failure?.error });
  }
  // tsc writes its output despite type errors; the tests run on it, and the type errors are the typecheck's to report.
  if (failure) process.stderr.write(`dist/ was rebuilt, with type errors:\n${failure.output}`);
}
