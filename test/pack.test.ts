/**
 * Packaging end to end, as a user gets the library: `npm run prebuild` in a staging copy of
 * the package (so this checkout's build/ and prebuilds/ stay as they are), `npm pack`, then
 * `npm install --ignore-scripts <tarball>` into a fresh project and a generation there. Nothing is
 * compiled at install, so the generation works only if the prebuild in the tarball is found and loads.
 *
 * The install takes the package's dependencies from the local npm cache (--prefer-offline), which
 * this checkout's own `npm install` filled; anything missing comes from the registry.
 */
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

const run = promisify(execFile);
const models = inject("models");
const repo = path.resolve(".");
const platform = `${process.platform}-${process.arch}`;
const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

/** The environment without what `npm test` or the user set that would change what is tested. */
function cleanEnv(): NodeJS.ProcessEnv {
  const keep = new Set(["npm_config_cache", "npm_config_registry", "npm_config_userconfig"]);
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) || keep.has(key.toLowerCase())));
  // An explicit addon or ONNX Runtime library would bypass the prebuild and the installed onnxruntime-node.
  delete env.PHI4_ONNX_ADDON;
  delete env.ORT_LIB;
  delete env.INIT_CWD;
  return { ...env, ONNXRUNTIME_NODE_INSTALL: "skip" };
}

async function sh(cwd: string, file: string, args: string[]) {
  return run(file, args, { cwd, env: cleanEnv(), maxBuffer: 64 << 20 });
}

const npm = "npm";
let stage: string;
let tarball: string;
let packed: string[];
let app: string;
let installed: string;

beforeAll(async () => {
  if (!(await exists(path.join(repo, "dist", "index.js")))) throw new Error("dist/ is missing: run `npx tsc -p tsconfig.build.json` first (npm test does)");
  stage = await mkdtemp(path.join(os.tmpdir(), "phi4-pack-"));
  const pkg = path.join(stage, "package");
  const manifest = JSON.parse(await readFile(path.join(repo, "package.json"), "utf8")) as { files: string[] };
  await mkdir(path.join(pkg, "prebuilds"), { recursive: true });
  for (const entry of [...manifest.files.filter((f) => !f.startsWith("prebuilds")), "package.json", "README.md"]) {
    await cp(path.join(repo, entry), path.join(pkg, entry), { recursive: true });
  }
  await cp(path.join(repo, "prebuilds", "README.md"), path.join(pkg, "prebuilds", "README.md"));
  // Build tools (cmake-js, node-addon-api, prebuildify) and the ONNX Runtime headers this checkout
  // already has; npm pack never includes node_modules or .cache.
  await symlink(path.join(repo, "node_modules"), path.join(pkg, "node_modules"), "junction");
  if (await exists(path.join(repo, ".cache"))) await symlink(path.join(repo, ".cache"), path.join(pkg, ".cache"), "junction");

  await sh(pkg, npm, ["run", "prebuild"]);
  const out = JSON.parse((await sh(pkg, npm, ["pack", "--ignore-scripts", "--json", "--pack-destination", stage])).stdout) as {
    filename: string;
    files: { path: string }[];
  }[];
  tarball = path.join(stage, out[0]!.filename);
  packed = out[0]!.files.map((f) => f.path);

  app = path.join(stage, "app");
  await mkdir(app);
  await writeFile(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  await sh(app, npm, ["install", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball]);
  installed = path.join(app, "node_modules", "phi4-onnx");
}, 600_000);

afterAll(async () => {
  if (stage) await rm(stage, { recursive: true, force: true });
});

describe("npm pack + install --ignore-scripts", () => {
  it("the tarball carries the prebuild, the compiled library and the sources, and no build output", () => {
    expect(packed).toContain(`prebuilds/${platform}/phi4-onnx.node`);
    expect(packed).toEqual(
      expect.arrayContaining(["dist/index.js", "dist/cli/main.js", "bin/phi4.js", "native/addon.cc", "CMakeLists.txt", "scripts/install-addon.mjs"]),
    );
    expect(packed.filter((f) => f.startsWith("build/") || f.startsWith("node_modules/") || f.startsWith("lib/"))).toEqual([]);
  });

  it("generates with the installed package through its bin and its import, with the prebuild and no compile", async () => {
    expect(await exists(path.join(installed, "build"))).toBe(false);
    const args = ["generate", "--model", models.tiny, "--tokens", "5,6,7,8", "--max-tokens", "6", "--greedy", "--json"];
    const cli = JSON.parse((await sh(app, process.execPath, [path.join(app, "node_modules", ".bin", "phi4"), ...args])).stdout);
    const reference = JSON.parse((await sh(repo, process.execPath, [path.join(repo, "bin", "phi4.js"), ...args])).stdout);
    expect(cli.tokens.length).toBeGreaterThan(0);
    expect(cli.tokens).toEqual(reference.tokens);

    const script = [
      'import { loadModel } from "phi4-onnx";',
      "const model = await loadModel(process.argv[1]);",
      "const sequence = await model.createSequence({ capacity: 64 });",
      "const result = await sequence.generateText([5, 6, 7, 8], { maxTokens: 6, sampling: { greedy: true } });",
      "console.log(JSON.stringify(result.tokens));",
      "await model.dispose();",
    ].join("\n");
    const fromImport = JSON.parse((await sh(app, process.execPath, ["--input-type=module", "-e", script, models.tiny])).stdout);
    expect(fromImport).toEqual(reference.tokens);
    expect(await exists(path.join(installed, "build"))).toBe(false);
  });

  it("resolves every subpath entry of the exports map from the installed package", async () => {
    const manifest = JSON.parse(await readFile(path.join(installed, "package.json"), "utf8")) as { exports: Record<string, unknown> };
    const entries = Object.keys(manifest.exports)
      .filter((key) => key !== "./package.json")
      .map((key) => `phi4-onnx${key.slice(1)}`);
    expect(entries).toEqual(expect.arrayContaining(["phi4-onnx", "phi4-onnx/tools", "phi4-onnx/agents", "phi4-onnx/server", "phi4-onnx/testing"]));
    const script = `for (const entry of ${JSON.stringify(entries)}) console.log(entry, Object.keys(await import(entry)).length);`;
    const lines = (await sh(app, process.execPath, ["--input-type=module", "-e", script])).stdout.trim().split("\n");
    expect(lines.map((line) => line.split(" ")[0])).toEqual(entries);
    for (const line of lines) expect(Number(line.split(" ")[1]), line).toBeGreaterThan(0);
  });

  it("the install script finds the prebuild and does not build", async () => {
    const { stdout, stderr } = await sh(installed, process.execPath, ["scripts/install-addon.mjs"]);
    expect(stdout + stderr).not.toContain("building");
    expect(await exists(path.join(installed, "build"))).toBe(false);
  });

  it("with no binary for the platform, the error lists the fixes", async () => {
    await rename(path.join(installed, "prebuilds", platform), path.join(stage, "moved-prebuild"));
    const failure = await sh(app, process.execPath, [path.join(app, "node_modules", ".bin", "phi4"), "info"]).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain("phi4 info: ADDON_LOAD_FAILED: phi4-onnx: could not load the native addon");
    for (const fix of ["npm run build:addon", "npm rebuild phi4-onnx", "ORT_INCLUDE_DIR", "ORT_LIB", "Supported platforms", "ships prebuilds for: none"]) {
      expect(failure?.stderr).toContain(fix);
    }
    expect(await readdir(path.join(installed, "prebuilds"))).toEqual(["README.md"]);
  });
});
