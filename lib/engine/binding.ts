// Loads the native addon (phi4_onnx.node) and locates the ONNX Runtime shared library it dlopen()s.
//
// Addon resolution (node-gyp-build style, prebuilds first):
//   1. env PHI4_ONNX_ADDON: an explicit path to a .node file;
//   2. prebuilds/<platform>-<arch>/*.node, chosen with node-gyp-build's own tag matching;
//   3. build/Release/phi4_onnx.node (what `npm run build:addon` produces), then build/Debug/.
// The package root is found from this file's location, so this works both from lib/engine/ (vitest,
// tsx) and from the compiled dist/engine/.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { Phi4Error } from "./errors.js";
import type { NativeBinding } from "./native-types.js";

export type { NativeBinding };

const PACKAGE_NAME = "phi4-onnx";
const ADDON_FILE = "phi4_onnx.node";

let packageRootCache: string | undefined;

/** The folder holding this package's package.json. */
export function packageRoot(): string {
  if (packageRootCache !== undefined) return packageRootCache;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(dir, "package.json");
    try {
      const name = (JSON.parse(fs.readFileSync(pj, "utf8")) as { name?: unknown }).name;
      if (name === PACKAGE_NAME) return (packageRootCache = dir);
    } catch {
      // no (readable) package.json here: keep walking up
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  // Fall back to the layout: lib/engine/binding.ts and dist/engine/binding.js are both two levels down.
  return (packageRootCache = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", ".."));
}

interface Tuple {
  name: string;
  platforms: string[];
  architectures: string[];
}
interface Tags {
  file: string;
  specificity: number;
}
interface NodeGypBuildHelpers {
  parseTuple(name: string): Tuple | undefined;
  matchTuple(platform: string, arch: string): (t: Tuple | undefined) => boolean;
  compareTuples(a: Tuple, b: Tuple): number;
  parseTags(file: string): Tags | undefined;
  matchTags(runtime: string, abi: string | undefined): (t: Tags | undefined) => boolean;
  compareTags(runtime: string): (a: Tags, b: Tags) => number;
}

function readdir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** The best prebuild for this platform, using node-gyp-build's matching rules (or undefined). */
function findPrebuild(root: string, req: ReturnType<typeof createRequire>): string | undefined {
  const dir = path.join(root, "prebuilds");
  const names = readdir(dir);
  if (names.length === 0) return undefined;
  const platform = process.env.npm_config_platform || process.platform;
  const arch = process.env.npm_config_arch || process.arch;
  let ngb: NodeGypBuildHelpers | undefined;
  try {
    ngb = req("node-gyp-build") as NodeGypBuildHelpers;
  } catch {
    ngb = undefined;
  }
  if (ngb?.parseTuple) {
    const helpers = ngb;
    const tuple = names
      .map((n) => helpers.parseTuple(n))
      .filter(helpers.matchTuple(platform, arch))
      .sort((a, b) => helpers.compareTuples(a as Tuple, b as Tuple))[0];
    if (!tuple) return undefined;
    const folder = path.join(dir, tuple.name);
    const winner = readdir(folder)
      .map((f) => helpers.parseTags(f))
      .filter(helpers.matchTags("node", process.versions.modules))
      .sort((a, b) => helpers.compareTags("node")(a as Tags, b as Tags))[0];
    return winner ? path.join(folder, winner.file) : undefined;
  }
  // node-gyp-build unavailable: plain prebuilds/<platform>-<arch>/*.node
  const folder = path.join(dir, `${platform}-${arch}`);
  const file = readdir(folder).find((f) => f.endsWith(".node"));
  return file ? path.join(folder, file) : undefined;
}

let bindingCache: NativeBinding | undefined;

/** Platforms where the onnxruntime-node dependency ships libonnxruntime (elsewhere ORT_LIB must name one). */
const ORT_BUNDLED = ["linux-x64", "linux-arm64", "darwin-arm64", "win32-x64", "win32-arm64"];

/** Loads the native addon (once); throws ADDON_LOAD_FAILED with how to fix a missing or broken build. */
export function loadBinding(): NativeBinding {
  if (bindingCache) return bindingCache;
  const root = packageRoot();
  const req = createRequire(path.join(root, "package.json"));

  const candidates: string[] = [];
  const explicit = process.env.PHI4_ONNX_ADDON;
  if (explicit) candidates.push(path.resolve(explicit));
  const prebuild = findPrebuild(root, req);
  if (prebuild) candidates.push(prebuild);
  candidates.push(path.join(root, "build", "Release", ADDON_FILE), path.join(root, "build", "Debug", ADDON_FILE));

  const tried: string[] = [];
  for (const file of candidates) {
    if (!fs.existsSync(file)) {
      tried.push(`${file} (not found)`);
      continue;
    }
    try {
      bindingCache = req(file) as NativeBinding;
      return bindingCache;
    } catch (e) {
      tried.push(`${file} (failed to load: ${e instanceof Error ? e.message : String(e)})`);
    }
  }
  const here = `${process.platform}-${process.arch}`;
  const shipped = readdir(path.join(root, "prebuilds")).filter((d) => !d.includes("."));
  throw new Phi4Error(
    "ADDON_LOAD_FAILED",
    [
      `phi4-onnx: could not load the native addon (${ADDON_FILE}) for ${here}, Node ${process.version}.`,
      "Tried:",
      ...tried.map((t) => `  - ${t}`),
      ...(prebuild ? [] : [`  (no prebuild for ${here}; this package ships prebuilds for: ${shipped.join(", ") || "none"})`]),
      "To fix it, build the addon from source:",
      `  cd ${root} && npm run build:addon`,
      // Without a matching prebuild the install script builds; it did not run under --ignore-scripts.
      ...(prebuild ? [] : ["  or, in your project: npm rebuild phi4-onnx  (reruns the install script, which builds when no prebuild matches)"]),
      "That needs CMake and a C++17 compiler (Debian/Ubuntu: apt install cmake g++ make xz-utils; macOS: xcode-select --install && brew install cmake)",
      "and the ONNX Runtime C API headers (>= 1.21), which the build fetches from Debian's libonnxruntime-dev, or which you can point to with",
      "ORT_INCLUDE_DIR=/dir/with/onnxruntime_c_api.h (or ORT_HOME=/path/to/onnxruntime). Set PHI4_ONNX_ADDON=/path/to/phi4_onnx.node to load a specific build.",
      `Supported platforms: onnxruntime-node bundles the ONNX Runtime CPU library for ${ORT_BUNDLED.join(", ")}; on any other`,
      "platform build the addon from source and set ORT_LIB to an ONNX Runtime shared library (1.21 or newer).",
    ].join("\n"),
  );
}

/** File names of the ONNX Runtime shared library, per platform. */
function ortLibraryMatcher(platform: NodeJS.Platform): (name: string) => boolean {
  switch (platform) {
    case "linux":
      return (n) => n === "libonnxruntime.so.1";
    case "darwin":
      return (n) => /^libonnxruntime\..*dylib$/.test(n);
    case "win32":
      return (n) => n === "onnxruntime.dll";
    default:
      return (n) => /^libonnxruntime\.so(\.\d+)?$/.test(n);
  }
}

/**
 * The ONNX Runtime library to dlopen(): env ORT_LIB if set, else the library bundled by the
 * `onnxruntime-node` dependency (bin/napi-v<N>/<platform>/<arch>/).
 */
export function defaultOrtLibraryPath(): string {
  const env = process.env.ORT_LIB;
  if (env) {
    if (!fs.existsSync(env)) throw new Error(`phi4-onnx: ORT_LIB=${env} does not exist. Point ORT_LIB at libonnxruntime (.so/.dylib/.dll) or unset it.`);
    return path.resolve(env);
  }
  const root = packageRoot();
  const req = createRequire(path.join(root, "package.json"));
  let ortRoot: string;
  try {
    ortRoot = path.dirname(req.resolve("onnxruntime-node/package.json"));
  } catch (e) {
    throw new Error(
      `phi4-onnx: the onnxruntime-node package is not installed (${e instanceof Error ? e.message : String(e)}). ` +
        "Run `npm install`, or set ORT_LIB to an ONNX Runtime shared library (1.21 or newer).",
      { cause: e },
    );
  }
  const binDir = path.join(ortRoot, "bin");
  const match = ortLibraryMatcher(process.platform);
  // Newest Node-API folder first (napi-v6, napi-v3, ...).
  const napiDirs = readdir(binDir)
    .filter((d) => /^napi-v\d+$/.test(d))
    .sort((a, b) => Number(b.slice(6)) - Number(a.slice(6)));
  const looked: string[] = [];
  for (const d of napiDirs) {
    const dir = path.join(binDir, d, process.platform, process.arch);
    looked.push(dir);
    const found = readdir(dir).filter(match).sort();
    if (found.length > 0) return path.join(dir, found[0]!);
  }
  throw new Error(
    `phi4-onnx: no ONNX Runtime library for ${process.platform}-${process.arch} in onnxruntime-node (${ortRoot}); looked in: ` +
      `${looked.length ? looked.join(", ") : `${binDir}/napi-v*/${process.platform}/${process.arch}`}. ` +
      "Set ORT_LIB to the path of libonnxruntime (.so.1 / .dylib / onnxruntime.dll), version 1.21 or newer.",
  );
}
