/**
 * The KV memory budget: how many bytes of KV cache a context (or a standalone sequence) may back
 * with memory. Host KV grows on demand within it (docs/engine.md, "KV memory"); this file holds the
 * default and the parsing of sizes such as "8G" given on the command line.
 */
import { readdir, stat } from "node:fs/promises";
import { totalmem } from "node:os";
import path from "node:path";

import { Phi4Error } from "./errors.js";

const GIB = 1024 ** 3;

/**
 * The default budget: half of the machine's memory, less the model's weights (they are read into
 * memory too), and at least 1 GiB so that a small machine still runs short prompts.
 */
export function defaultKvMemory(weightsBytes: number, machineBytes = totalmem()): number {
  return Math.max(Math.floor(machineBytes / 2 - weightsBytes), GIB);
}

/** Bytes of the model's weight files in its folder (.onnx and external .data files). */
export async function weightBytes(dir: string): Promise<number> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const sizes = await Promise.all(
    names.filter((name) => /\.(onnx|data)$/i.test(name)).map(async (name) => (await stat(path.join(dir, name)).catch(() => undefined))?.size ?? 0),
  );
  return sizes.reduce((sum, size) => sum + size, 0);
}

const UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: GIB, T: 1024 ** 4 };

/** "8G", "512M", "1.5G", "4096K" or plain bytes (binary units; an optional trailing "B" or "iB"). */
export function parseByteSize(text: string, name = "kvMemory"): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(text);
  const bytes = match ? Math.floor(Number(match[1]) * UNITS[match[2].toUpperCase()]) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new Phi4Error("INVALID_ARGUMENT", `${name} must be a size such as 8G, 512M or a number of bytes (got ${JSON.stringify(text)})`);
  }
  return bytes;
}

/** Bytes for people: "640 KiB", "512 MiB", "7.5 GiB". */
export function formatBytes(bytes: number): string {
  if (bytes >= GIB) return `${(bytes / GIB).toFixed(1)} GiB`;
  if (bytes >= 1024 ** 2) return `${Math.floor(bytes / 1024 ** 2)} MiB`;
  return `${Math.floor(bytes / 1024)} KiB`;
}

/** Checks a kvMemory option (bytes). */
export function checkKvMemory(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new Phi4Error("INVALID_ARGUMENT", `kvMemory must be a positive integer number of bytes (got ${bytes})`);
  return bytes;
}
