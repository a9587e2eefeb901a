/** Facts about the machine a benchmark ran on, and its measured memory read bandwidth. */
import os from "node:os";

import { loadBinding } from "../engine/binding.js";
import { callNative } from "../engine/errors.js";
import { runtimeInfo } from "../engine/runtime.js";
import { physicalCoreCount } from "../engine/threads.js";

export interface MachineFacts {
  cpuModel: string;
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
    logicalCores: os.cpus().length,
    physicalCores: physicalCoreCount(),
    totalMemoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    onnxruntime: runtimeInfo().version,
  };
}

/** Best-pass read bandwidth in bytes/s of `threads` threads summing a `mib` MiB buffer (native/bandwidth.cc). */
export async function measureReadBandwidth(mib: number, threads: number): Promise<number> {
  const binding = loadBinding();
  return callNative(() => binding.measureReadBandwidth(mib, threads));
}
