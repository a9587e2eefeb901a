/** The arguments every `phi4 bench` command shares (--model, --threads, --json, --out) and typed access to its own flags. */
import { parseArgs } from "node:util";

import { Phi4Error } from "../../engine/errors.js";
import { optionalNumber, parseTokenList, requireString } from "../args.js";

export interface BenchArgs {
  /** What every benchmark function takes: the folder, the threads (when given) and a progress printer. */
  common: { modelDir: string; threads: number | undefined; onProgress: (message: string) => void };
  json: boolean;
  out: string | undefined;
  int(flag: string): number | undefined;
  number(flag: string): number | undefined;
  /** A comma-separated list of integers. */
  list(flag: string): number[] | undefined;
}

/** Parses argv for a bench command with these valued `flags` (besides --model, --json, --out); `label` prefixes progress lines. */
export function readBenchArgs(argv: string[], flags: string[], usage: string, label: string): BenchArgs {
  const options = Object.fromEntries([...flags, "model", "threads", "out"].map((flag) => [flag, { type: "string" as const }]));
  const values: Record<string, string | boolean | undefined> = parseArgs({ args: argv, options: { ...options, json: { type: "boolean" } } }).values;
  const out = values.out as string | undefined;
  if (out !== undefined && !out.endsWith(".json")) {
    throw new Phi4Error("INVALID_ARGUMENT", `--out must name a .json file (the .md report goes next to it)\n${usage}`);
  }
  if (values.threads !== undefined && !flags.includes("threads")) throw new Phi4Error("INVALID_ARGUMENT", `--threads does not apply here\n${usage}`);
  return {
    common: {
      modelDir: requireString(values, "model", usage),
      threads: optionalNumber(values, "threads", true),
      onProgress: (message) => process.stderr.write(`[${label}] ${message}\n`),
    },
    json: values.json === true,
    out,
    int: (flag) => optionalNumber(values, flag, true),
    number: (flag) => optionalNumber(values, flag),
    list: (flag) => (values[flag] === undefined ? undefined : parseTokenList(values[flag] as string)),
  };
}
