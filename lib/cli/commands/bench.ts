/**
 * phi4 bench: the whole suite (no subcommand, see bench-suite.ts) or one benchmark per subcommand.
 * Progress goes to stderr, results to stdout.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";

import { benchBatch } from "../../bench/batch.js";
import { benchConstraint } from "../../bench/constraint.js";
import { benchDecode } from "../../bench/decode.js";
import { benchMicro } from "../../bench/micro.js";
import { benchPeer } from "../../bench/peer.js";
import { benchPrefix } from "../../bench/prefix.js";
import { batchReportMarkdown, constraintReportMarkdown, decodeReportMarkdown, microReportMarkdown, peerReportMarkdown, prefixReportMarkdown } from "../../bench/report.js";
import { Phi4Error } from "../../engine/errors.js";
import { optionalNumber, parseTokenList, requireString } from "../args.js";
import { suiteCommand, suiteUsage } from "./bench-suite.js";

const decodeUsage = `usage: phi4 bench decode --model DIR [--prompt-tokens 128] [--gen-tokens 64] [--threads N] [--runs 3]
       [--bandwidth-mib 1024] [--json] [--out FILE.json]`;

const prefixUsage = `usage: phi4 bench prefix --model DIR [--prefix-tokens 2000] [--turns 10] [--turn-tokens 32] [--reply-tokens 16]
       [--threads N] [--json] [--out FILE.json]`;

const batchUsage = `usage: phi4 bench batch --model DIR [--concurrency 1,2,4,8] [--prompt-tokens 32] [--gen-tokens 32] [--threads N]
       [--json] [--out FILE.json]`;

const constraintUsage = `usage: phi4 bench constraint --model DIR [--runs 5] [--max-tokens 48] [--decode-tokens 8] [--threads N]
       [--json] [--out FILE.json]`;

const microUsage = "usage: phi4 bench micro --model DIR [--max-time SECONDS] [--json] [--out FILE.json]";

const peerUsage = `usage: phi4 bench peer --model DIR [--prompt-tokens 128,1024,2048] [--gen-tokens 64] [--threads N]
       [--json] [--out FILE.json]`;

const BENCHMARKS: Record<string, (argv: string[]) => Promise<void>> = {
  decode: decodeCommand,
  prefix: prefixCommand,
  batch: batchCommand,
  constraint: constraintCommand,
  peer: peerCommand,
  micro: microCommand,
};

const usage = `${suiteUsage}
   or: phi4 bench <${Object.keys(BENCHMARKS).join("|")}> [options]`;

export async function benchCommand(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name.startsWith("-")) return suiteCommand(argv);
  if (!Object.hasOwn(BENCHMARKS, name)) throw new Phi4Error("INVALID_ARGUMENT", `unknown benchmark "${name}"\n${usage}`);
  await BENCHMARKS[name](rest);
}

async function decodeCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      "prompt-tokens": { type: "string" },
      "gen-tokens": { type: "string" },
      threads: { type: "string" },
      runs: { type: "string" },
      "bandwidth-mib": { type: "string" },
      json: { type: "boolean" },
      out: { type: "string" },
    },
  });
  checkOut(values.out, decodeUsage);
  const result = await benchDecode({
    modelDir: requireString(values, "model", decodeUsage),
    promptTokens: optionalNumber(values, "prompt-tokens", true),
    genTokens: optionalNumber(values, "gen-tokens", true),
    threads: optionalNumber(values, "threads", true),
    runs: optionalNumber(values, "runs", true),
    bandwidthMiB: optionalNumber(values, "bandwidth-mib", true),
    onProgress: (message) => process.stderr.write(`[bench decode] ${message}\n`),
  });
  await report("decode", result, decodeReportMarkdown(result), values);
}

async function prefixCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      "prefix-tokens": { type: "string" },
      turns: { type: "string" },
      "turn-tokens": { type: "string" },
      "reply-tokens": { type: "string" },
      threads: { type: "string" },
      json: { type: "boolean" },
      out: { type: "string" },
    },
  });
  checkOut(values.out, prefixUsage);
  const result = await benchPrefix({
    modelDir: requireString(values, "model", prefixUsage),
    prefixTokens: optionalNumber(values, "prefix-tokens", true),
    turns: optionalNumber(values, "turns", true),
    turnTokens: optionalNumber(values, "turn-tokens", true),
    replyTokens: optionalNumber(values, "reply-tokens", true),
    threads: optionalNumber(values, "threads", true),
    onProgress: (message) => process.stderr.write(`[bench prefix] ${message}\n`),
  });
  await report("prefix", result, prefixReportMarkdown(result), values);
}

async function batchCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      concurrency: { type: "string" },
      "prompt-tokens": { type: "string" },
      "gen-tokens": { type: "string" },
      threads: { type: "string" },
      json: { type: "boolean" },
      out: { type: "string" },
    },
  });
  checkOut(values.out, batchUsage);
  const result = await benchBatch({
    modelDir: requireString(values, "model", batchUsage),
    concurrency: values.concurrency === undefined ? undefined : parseTokenList(values.concurrency),
    promptTokens: optionalNumber(values, "prompt-tokens", true),
    genTokens: optionalNumber(values, "gen-tokens", true),
    threads: optionalNumber(values, "threads", true),
    onProgress: (message) => process.stderr.write(`[bench batch] ${message}\n`),
  });
  await report("batch", result, batchReportMarkdown(result), values);
}

async function constraintCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      runs: { type: "string" },
      "max-tokens": { type: "string" },
      "decode-tokens": { type: "string" },
      threads: { type: "string" },
      json: { type: "boolean" },
      out: { type: "string" },
    },
  });
  checkOut(values.out, constraintUsage);
  const result = await benchConstraint({
    modelDir: requireString(values, "model", constraintUsage),
    runs: optionalNumber(values, "runs", true),
    maxTokens: optionalNumber(values, "max-tokens", true),
    decodeTokens: optionalNumber(values, "decode-tokens", true),
    threads: optionalNumber(values, "threads", true),
    onProgress: (message) => process.stderr.write(`[bench constraint] ${message}\n`),
  });
  await report("constraint", result, constraintReportMarkdown(result), values);
}

async function peerCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      "prompt-tokens": { type: "string" },
      "gen-tokens": { type: "string" },
      threads: { type: "string" },
      json: { type: "boolean" },
      out: { type: "string" },
    },
  });
  checkOut(values.out, peerUsage);
  const result = await benchPeer({
    modelDir: requireString(values, "model", peerUsage),
    promptLengths: values["prompt-tokens"] === undefined ? undefined : parseTokenList(values["prompt-tokens"]),
    genTokens: optionalNumber(values, "gen-tokens", true),
    threads: optionalNumber(values, "threads", true),
    onProgress: (message) => process.stderr.write(`[bench peer] ${message}\n`),
  });
  await report("peer", result, peerReportMarkdown(result), values);
}

async function microCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { model: { type: "string" }, "max-time": { type: "string" }, json: { type: "boolean" }, out: { type: "string" } },
  });
  checkOut(values.out, microUsage);
  const result = await benchMicro({
    modelDir: requireString(values, "model", microUsage),
    maxTime: optionalNumber(values, "max-time"),
    onProgress: (message) => process.stderr.write(`[bench micro] ${message}\n`),
  });
  await report("micro", result, microReportMarkdown(result), values);
}

function checkOut(out: string | undefined, usage: string): void {
  if (out !== undefined && !out.endsWith(".json")) throw new Phi4Error("INVALID_ARGUMENT", `--out must name a .json file (the .md goes next to it)\n${usage}`);
}

/** Prints the result (JSON with --json, else markdown); with --out also writes FILE.json and FILE.md. */
async function report(name: string, result: object, markdown: string, values: { json?: boolean; out?: string }): Promise<void> {
  const out = values.out;
  if (out !== undefined) {
    const markdownPath = out.replace(/\.json$/, ".md");
    await mkdir(path.dirname(path.resolve(out)), { recursive: true });
    await writeFile(out, JSON.stringify(result, null, 2) + "\n");
    await writeFile(markdownPath, markdown);
    process.stderr.write(`[bench ${name}] wrote ${out} and ${markdownPath}\n`);
  }
  process.stdout.write(values.json ? JSON.stringify(result) + "\n" : markdown);
}
