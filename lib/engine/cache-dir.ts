/**
 * Where phi4-onnx keeps its caches by default: the user's cache directory of the platform
 * ($XDG_CACHE_HOME or ~/.cache on Linux, ~/Library/Caches on macOS, %LOCALAPPDATA% on Windows).
 */
import os from "node:os";
import path from "node:path";

export function userCacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = os.homedir()): string {
  if (platform === "win32") return path.join(env.LOCALAPPDATA || path.join(home, "AppData", "Local"), "phi4-onnx");
  if (platform === "darwin") return path.join(home, "Library", "Caches", "phi4-onnx");
  // XDG: a relative value is invalid and must be ignored.
  const xdg = env.XDG_CACHE_HOME;
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(home, ".cache"), "phi4-onnx");
}

/** The prefix cache's disk tier: PHI4_PREFIX_CACHE_DIR, else prefix-cache in the user's cache directory. */
export function defaultPrefixCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.PHI4_PREFIX_CACHE_DIR || path.join(userCacheDir(env), "prefix-cache");
}
