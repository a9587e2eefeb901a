/** Default thread count: physical cores, because int4 matmuls gain nothing from SMT siblings. */
import { readFileSync } from "node:fs";
import os from "node:os";

export function physicalCoreCount(): number {
  try {
    const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
    const cores = new Set<string>();
    let physical = "0";
    for (const line of cpuinfo.split("\n")) {
      const [key, value] = line.split(":").map((part) => part?.trim());
      if (key === "physical id") physical = value ?? "0";
      if (key === "core id") cores.add(`${physical}:${value}`);
    }
    if (cores.size > 0) return cores.size;
  } catch {
    // not Linux: fall through
  }
  return Math.max(1, os.availableParallelism());
}
