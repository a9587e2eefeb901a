#!/usr/bin/env node
// Builds the native addon (build/Release/phi4_onnx.node) unless a matching prebuild exists.
// Runs as package.json's "install" script; `npm run build:addon` passes --force to always build.
// It also serves as prebuildify's node-gyp stand-in (prebuildify 6 only knows node-gyp):
//   prebuildify --napi --strip --node-gyp ./scripts/install-addon.mjs
// prebuildify calls it as `<it> rebuild --target=.. --devdir=.. --arch=.. --release`; `rebuild` means --force.
// Env: ORT_INCLUDE_DIR / ORT_HOME (where the ONNX Runtime C API headers are), PHI4_SOURCES (testing:
// override the source list), PHI4_BUILD_JOBS (parallel jobs, default: the core count).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(path.join(ROOT, "package.json"));
const argv = process.argv.slice(2);
const FORCE = argv.includes("--force") || argv.includes("rebuild");
const DEBUG = argv.includes("--debug");
const TAG = "[phi4-onnx]";

function fail(what, fixes) {
  console.error(`\n${TAG} ${what}`);
  console.error(`${TAG} How to fix:`);
  for (const f of fixes) console.error(`${TAG}   - ${f}`);
  console.error(`${TAG} Then rebuild with: npm run build:addon\n`);
  process.exit(1);
}

// 1. A prebuild for this platform (node-gyp-build's resolution) makes building unnecessary.
if (!FORCE) {
  try {
    process.env.PREBUILDS_ONLY = "1"; // read by node-gyp-build when it is loaded: skip build/
    const nodeGypBuild = require("node-gyp-build");
    delete process.env.PREBUILDS_ONLY;
    const found = nodeGypBuild.path(ROOT);
    if (found && found.startsWith(path.join(ROOT, "prebuilds") + path.sep)) process.exit(0);
  } catch {
    /* no prebuild (or build/ output only): build */
  }
}

// 2. ONNX Runtime C API headers: fetch them only when CMake would not find them otherwise.
function hasHeader(dir) {
  return !!dir && (fs.existsSync(path.join(dir, "onnxruntime_c_api.h")) || fs.existsSync(path.join(dir, "onnxruntime", "onnxruntime_c_api.h")));
}
const env = process.env;
if (env.ORT_INCLUDE_DIR) {
  if (!hasHeader(env.ORT_INCLUDE_DIR)) {
    fail(`ORT_INCLUDE_DIR=${env.ORT_INCLUDE_DIR} has no onnxruntime_c_api.h.`, [
      "point ORT_INCLUDE_DIR at the directory that contains onnxruntime_c_api.h, or unset it to fetch the headers automatically",
    ]);
  }
} else if (env.ORT_HOME) {
  if (!hasHeader(path.join(env.ORT_HOME, "include"))) {
    fail(`ORT_HOME=${env.ORT_HOME} has no include/onnxruntime_c_api.h.`, [
      "point ORT_HOME at an ONNX Runtime release folder, or unset it to fetch the headers automatically",
    ]);
  }
} else {
  const systemDirs = ["/usr/include", "/usr/local/include", "/opt/homebrew/include"];
  const cached = path.join(ROOT, ".cache", "ort-headers", "include");
  if (!systemDirs.some(hasHeader) && !hasHeader(cached)) {
    const r = spawnSync(process.execPath, [path.join(ROOT, "scripts", "fetch-ort-headers.mjs")], { stdio: "inherit" });
    if (r.status !== 0) {
      fail("could not get the ONNX Runtime C API headers (see the error above).", [
        "set ORT_INCLUDE_DIR to a directory with onnxruntime_c_api.h (ONNX Runtime 1.21 or newer), or ORT_HOME to an ONNX Runtime release folder",
        "or install them: apt install libonnxruntime-dev (Debian 13+)",
      ]);
    }
  }
}

// 3. cmake-js (its API, so this is a Node-API build: no Node header download is ever needed).
let BuildSystem;
try {
  ({ BuildSystem } = require("cmake-js"));
} catch (e) {
  fail(`cmake-js is not installed (${e.message}).`, ["run `npm install` in the package folder"]);
}
const jobs = Number(env.PHI4_BUILD_JOBS) || (os.availableParallelism?.() ?? os.cpus().length) || 1;
const cMakeOptions = {};
if (env.PHI4_SOURCES) cMakeOptions.PHI4_SOURCES = env.PHI4_SOURCES;

const start = Date.now();
console.log(`${TAG} building the native addon (cmake-js, ${DEBUG ? "Debug" : "Release"}, ${jobs} jobs)...`);
try {
  const bs = new BuildSystem({ directory: ROOT, config: DEBUG ? "Debug" : "Release", parallel: jobs, cMakeOptions, silent: false });
  bs.options.isNodeApi = true; // shared with bs.cmake/bs.dist: Node-API headers from node-api-headers, no download
  await bs.compile();
} catch (e) {
  const msg = String(e?.message ?? e);
  const noCmake = /CMake executable is not found/i.test(msg);
  fail(`building the native addon failed (${msg}); the CMake/compiler output above says why.`, [
    noCmake
      ? "install CMake (>= 3.15): apt install cmake  (macOS: brew install cmake)"
      : "make sure a C++17 compiler and build tools are installed: apt install cmake g++ make  (macOS: xcode-select --install)",
    "ONNX Runtime headers: set ORT_INCLUDE_DIR (dir with onnxruntime_c_api.h) or ORT_HOME, or run `node scripts/fetch-ort-headers.mjs` (needs xz-utils)",
    "a stale build folder can be removed with: rm -rf build",
  ]);
}
const out = path.join(ROOT, "build", DEBUG ? "Debug" : "Release", "phi4_onnx.node");
if (!fs.existsSync(out)) {
  fail(`the build finished but ${out} is missing.`, ["check the CMake output above; the target must be phi4_onnx"]);
}
console.log(`${TAG} built ${path.relative(ROOT, out)} in ${((Date.now() - start) / 1000).toFixed(1)} s`);
