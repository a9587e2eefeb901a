/**
 * The CLI tests run bin/phi4.js, which runs the compiled dist/, not lib/: a dist/ older than its
 * sources would test yesterday's code. Before the tests, every lib/ source must have a compiled file
 * at least as new; if one has not, dist/ is rebuilt (tsc -p tsconfig.build.json), and a build that
 * fails stops the run with tsc's errors.
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
  try {
    await promisify(execFile)(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: root, maxBuffer: 16 << 20 });
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    throw new Error(
      `dist/ is older than lib/ (${stale.slice(0, 3).join(", ")}${stale.length > 3 ? ", ..." : ""}) and rebuilding it failed:\n${stdout}${stderr}`,
      {
        cause: error,
      },
    );
  }
  const still = staleOutputs(root);
  if (still.length > 0) throw new Error(`dist/ is still older than lib/ after a build: ${still.slice(0, 3).join(", ")}`);
}
