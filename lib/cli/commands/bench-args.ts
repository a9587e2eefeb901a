/** The arguments every `phi4 bench` command shares (--model, --threads, --int4-kernel, --json, --out) and typed access to its own flags. */
import { parseArgs } from "node:util";

import { Phi4Error } from "../../engine/errors.js";
import type { Int4KernelChoice } from "../../engine/model.js";
import { INT4_KERNEL_VARIANTS, type Int4KernelVariantName } from "../../engine/native-types.js";
import { optionalNumber, parseTokenList, requireString } from "../args.js";

export interface BenchArgs {
  /** What every benchmark function takes: the folder, the threads (when given) and a progress printer. */
  common: { modelDir: string; threads: number | undefined; int4Kernel: Int4KernelChoice | undefined; onProgress: (message: string) => void };
  json: boolean;
  out: string | undefined;
  int(flag: string): number | undefined;
  number(flag: string): number | undefined;
  /** A comma-separated list of integers. */
  list(flag: string): number[] | undefined;
  string(flag: string): string | undefined;
}

/** Parses argv for a bench command with these valued `flags` (besides --model, --json, --out); `label` prefixes progress lines. */
export function readBenchArgs(argv: string[], flags: string[], usage: string, label: string): BenchArgs {
  const options = Object.fromEntries([...flags, "model", "threads", "int4-kernel", "out"].map((flag) => [flag, { type: "string" as const }]));
  const values: Record<string, string | boolean | undefined> = parseArgs({ args: argv, options: { ...options, json: { type: "boolean" } } }).values;
  const out = values.out as string | undefined;
  if (out !== undefined && !out.endsWith(".json")) {
    throw new Phi4Error("INVALID_ARGUMENT", `--out must name a .json file (the .md report goes next to it)\n${usage}`);
  }
  for (const shared of ["threads", "int4-kernel"]) {
    if (values[shared] !== undefined && !flags.includes(shared)) throw new Phi4Error("INVALID_ARGUMENT", `--${shared} does not apply here\n${usage}`);
  }
  const kernel = values["int4-kernel"] as string | undefined;
  const variants: readonly string[] = INT4_KERNEL_VARIANTS;
  if (kernel !== undefined && kernel !== "on" && kernel !== "off" && !variants.includes(kernel))
    throw new Phi4Error("INVALID_ARGUMENT", `--int4-kernel must be on, off or a variant (${variants.join(", ")}; got ${kernel})\n${usage}`);
  // off: ONNX Runtime's MatMulNBits instead of the addon's int4 kernel; a variant: that micro-kernel
  // set instead of the fastest (LoadModelOptions.int4Kernel).
  const int4Kernel = kernel === undefined ? undefined : kernel === "on" || kernel === "off" ? kernel === "on" : (kernel as Int4KernelVariantName);
  return {
    common: {
      modelDir: requireString(values, "model", usage),
      threads: optionalNumber(values, "threads", true),
      int4Kernel,
      onProgress: (message) => process.stderr.write(`[${label}] ${message}\n`),
    },
    json: values.json === true,
    out,
    int: (flag) => optionalNumber(values, flag, true),
    number: (flag) => optionalNumber(values, flag),
    list: (flag) => (values[flag] === undefined ? undefined : parseTokenList(values[flag] as string)),
    string: (flag) => values[flag] as string | undefined,
  };
}
