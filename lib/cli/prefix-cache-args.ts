/**
 * The prefix cache's disk tier on the command line (serve, chat, agent, generate): on by default,
 * under the user's cache directory, so a restarted command skips the prefill of a long prompt it
 * has seen before (docs/kv-reuse.md).
 */
import { defaultPrefixCacheDir } from "../engine/cache-dir.js";
import type { PrefixDiskOptions } from "../engine/prefix-disk.js";
import { optionalByteSize, optionalNumber } from "./args.js";

export const prefixCacheArgs = {
  "prefix-cache-dir": { type: "string" },
  "prefix-cache-disk-bytes": { type: "string" },
  "prefix-cache-min-tokens": { type: "string" },
  "no-prefix-cache-disk": { type: "boolean" },
} as const;

export const prefixCacheUsage = `  --prefix-cache-dir DIR: where the KV of long prompts is kept across runs (default: PHI4_PREFIX_CACHE_DIR,
    else prefix-cache in the user's cache directory); --prefix-cache-disk-bytes SIZE: its budget (e.g. 8G, 500M,
    bytes; default 16 GiB);
    --prefix-cache-min-tokens N: shortest prompt stored (default 1024); --no-prefix-cache-disk: off.`;

/** The disk tier's options from the parsed arguments, or false when it is off. */
export function prefixCacheDisk(values: Record<string, unknown>): PrefixDiskOptions | false {
  if (values["no-prefix-cache-disk"] === true) return false;
  const maxBytes = optionalByteSize(values, "prefix-cache-disk-bytes");
  const minTokens = optionalNumber(values, "prefix-cache-min-tokens", true);
  const dir = typeof values["prefix-cache-dir"] === "string" ? values["prefix-cache-dir"] : defaultPrefixCacheDir();
  return { dir, maxBytes, minTokens };
}
