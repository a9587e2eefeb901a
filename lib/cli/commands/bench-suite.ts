/**
 * `phi4 bench --model DIR`: the whole benchmark suite on one model folder. Writes
 * bench/results/<date>-<machine>.json, the markdown report next to it and the plots it embeds.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";

import { suiteReport } from "../../bench/report-suite.js";
import { benchSuite, machineSlug } from "../../bench/suite.js";
import { machineFacts } from "../../bench/machine.js";
import { Phi4Error } from "../../engine/errors.js";
import { optionalNumber, parseTokenList, requireString } from "../args.js";

export const suiteUsage = `usage: phi4 bench --model DIR [--threads N] [--out FILE.json] [--json]
       [--prompt-tokens 128,1024,2048] [--gen-tokens 64] [--runs 3] [--prefix-tokens 2000] [--turns 10]
       [--concurrency 1,2,4,8] [--micro-time SECONDS]
  Runs decode (with the roofline), prefix, batch, the transformers.js comparison and the micro-benchmarks,
  and writes FILE.json (default bench/results/<date>-<machine>.json), FILE.md and the SVG plots.`;

export async function suiteCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      threads: { type: "string" },
      out: { type: "string" },
      json: { type: "boolean" },
      "prompt-tokens": { type: "string" },
      "gen-tokens": { type: "string" },
      runs: { type: "string" },
      "prefix-tokens": { type: "string" },
      turns: { type: "string" },
      concurrency: { type: "string" },
      "micro-time": { type: "string" },
    },
  });
  const modelDir = requireString(values, "model", suiteUsage);
  const out = values.out ?? path.join("bench", "results", `${new Date().toISOString().slice(0, 10)}-${machineSlug(machineFacts())}.json`);
  if (!out.endsWith(".json")) throw new Phi4Error("INVALID_ARGUMENT", `--out must name a .json file (the .md and .svg files go next to it)\n${suiteUsage}`);
  const list = (name: "prompt-tokens" | "concurrency") => (values[name] === undefined ? undefined : parseTokenList(values[name]));

  const result = await benchSuite({
    modelDir,
    threads: optionalNumber(values, "threads", true),
    genTokens: optionalNumber(values, "gen-tokens", true),
    runs: optionalNumber(values, "runs", true),
    prefixTokens: optionalNumber(values, "prefix-tokens", true),
    turns: optionalNumber(values, "turns", true),
    concurrency: list("concurrency"),
    peerPromptTokens: list("prompt-tokens"),
    microMaxTime: optionalNumber(values, "micro-time", false),
    onProgress: (message) => process.stderr.write(`[bench] ${message}\n`),
  });

  const baseName = path.basename(out, ".json");
  const dir = path.dirname(path.resolve(out));
  const { markdown, plots } = suiteReport(result, baseName);
  await mkdir(dir, { recursive: true });
  await writeFile(out, JSON.stringify(result, null, 2) + "\n");
  await writeFile(path.join(dir, `${baseName}.md`), markdown);
  for (const [name, svg] of Object.entries(plots)) await writeFile(path.join(dir, name), svg);
  process.stderr.write(`[bench] wrote ${out}, ${baseName}.md and ${Object.keys(plots).join(", ")} in ${dir}\n`);
  process.stdout.write(values.json ? JSON.stringify(result) + "\n" : markdown);
}
