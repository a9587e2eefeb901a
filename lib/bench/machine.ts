/** Facts about the machine a benchmark ran on, and its measured memory read bandwidth. */
import { readFileSync } from "node:fs";
import os from "node:os";

import { loadBinding } from "../engine/binding.js";
import { callNative } from "../engine/errors.js";
import { runtimeInfo } from "../engine/runtime.js";
import { physicalCoreCount } from "../engine/threads.js";

export interface MachineFacts {
  cpuModel: string;
  /**
   * The SIMD features int4 kernels dispatch on that this CPU reports (of avx2, fma, f16c, avx512f,
   * avx512bw, avx512_vnni, avx_vnni, amx_int8); null where /proc/cpuinfo is not there to read.
   */
  cpuFeatures: string[] | null;
  logicalCores: number;
  physicalCores: number;
  totalMemoryBytes: number;
  os: string;
  node: string;
  onnxruntime: string;
}

export function machineFacts(): MachineFacts {
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? "unknown",
    cpuFeatures: cpuFeatures(),
    logicalCores: os.cpus().length,
    physicalCores: physicalCoreCount(),
    totalMemoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    onnxruntime: runtimeInfo().version,
  };
}

const KERNEL_FEATURES = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8"];

function cpuFeatures(): string[] | null {
  let cpuinfo: string;
  try {
    cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return null;
  }
  const flags = new Set(/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1].trim().split(/\s+/) ?? []);
  return KERNEL_FEATURES.filter((f) => flags.has(f));
}

/** Best-pass read bandwidth in bytes/s of `threads` threads summing a `mib` MiB buffer (native/bandwidth.cc). */
export async function measureReadBandwidth(mib: number, threads: number): Promise<number> {
  const binding = loadBinding();
  return callNative(() => binding.measureReadBandwidth(mib, threads));
}
