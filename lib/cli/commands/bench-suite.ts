/**
 * `phi4 bench --model DIR`: the whole benchmark suite on one model folder. Writes
 * bench/results/<date>-<machine>.json, the markdown report next to it and the plots it embeds.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

import { machineFacts } from "../../bench/machine.js";
import { suiteReport } from "../../bench/report-suite.js";
import { benchSuite, machineSlug } from "../../bench/suite.js";
import { readBenchArgs } from "./bench-args.js";

export const suiteUsage = `usage: phi4 bench --model DIR [--threads N] [--out FILE.json] [--json]
       [--prompt-tokens 128,1024,2048] [--gen-tokens 64] [--runs 3] [--prefix-tokens 2000] [--turns 10]
       [--concurrency 1,2,4,8] [--micro-time SECONDS]
  Runs decode (with the roofline), prefix, batch, the transformers.js comparison and the micro-benchmarks,
  and writes FILE.json (default bench/results/<date>-<machine>.json), FILE.md and the SVG plots.`;

const FLAGS = ["threads", "prompt-tokens", "gen-tokens", "runs", "prefix-tokens", "turns", "concurrency", "micro-time"];

export async function suiteCommand(argv: string[]): Promise<void> {
  const args = readBenchArgs(argv, FLAGS, suiteUsage, "bench");
  const out = args.out ?? path.join("bench", "results", `${new Date().toISOString().slice(0, 10)}-${machineSlug(machineFacts())}.json`);
  const result = await benchSuite({
    ...args.common,
    genTokens: args.int("gen-tokens"),
    runs: args.int("runs"),
    prefixTokens: args.int("prefix-tokens"),
    turns: args.int("turns"),
    concurrency: args.list("concurrency"),
    peerPromptTokens: args.list("prompt-tokens"),
    microMaxTime: args.number("micro-time"),
  });

  const baseName = path.basename(out, ".json");
  const dir = path.dirname(path.resolve(out));
  const { markdown, plots } = suiteReport(result, baseName);
  await mkdir(dir, { recursive: true });
  await writeFile(out, JSON.stringify(result, null, 2) + "\n");
  await writeFile(path.join(dir, `${baseName}.md`), markdown);
  for (const [name, svg] of Object.entries(plots)) await writeFile(path.join(dir, name), svg);
  process.stderr.write(`[bench] wrote ${out}, ${baseName}.md and ${Object.keys(plots).join(", ")} in ${dir}\n`);
  process.stdout.write(args.json ? JSON.stringify(result) + "\n" : markdown);
}
