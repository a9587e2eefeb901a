/**
 * phi4 bench: the whole suite (no subcommand, see bench-suite.ts) or one benchmark per subcommand.
 * Every subcommand takes --model, --json and --out FILE.json plus its own valued flags; progress goes
 * to stderr, results to stdout.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

import { benchBatch } from "../../bench/batch.js";
import { benchConstraint } from "../../bench/constraint.js";
import { benchDecode } from "../../bench/decode.js";
import { benchMicro } from "../../bench/micro.js";
import { benchPeer } from "../../bench/peer.js";
import { PEER_ENGINES, type PeerEngineName } from "../../bench/peer-engine.js";
import { benchPrefix } from "../../bench/prefix.js";
import { benchSpeculative, speculativeReportMarkdown, type SpeculativeScenario } from "../../bench/speculative.js";
import {
  batchReportMarkdown,
  constraintReportMarkdown,
  decodeReportMarkdown,
  microReportMarkdown,
  peerReportMarkdown,
  prefixReportMarkdown,
} from "../../bench/report.js";
import { Phi4Error } from "../../engine/errors.js";
import type { KvType } from "../../engine/model.js";
import { readBenchArgs, type BenchArgs } from "./bench-args.js";
import { suiteCommand, suiteUsage } from "./bench-suite.js";

interface Benchmark {
  usage: string;
  /** Flags besides --model, --json and --out; each takes a value. */
  flags: string[];
  run(args: BenchArgs): Promise<{ result: object; markdown: string }>;
}

const BENCHMARKS: Record<string, Benchmark> = {
  decode: {
    usage: "[--prompt-tokens 128] [--gen-tokens 64] [--threads N] [--int4-kernel on|off|VARIANT] [--kv-type float32|float16] [--runs 3] [--bandwidth-mib 1024]",
    flags: ["prompt-tokens", "gen-tokens", "threads", "int4-kernel", "kv-type", "runs", "bandwidth-mib"],
    async run(a) {
      const kvType = a.string("kv-type") as KvType | undefined; // loadModel refuses any other value
      const result = await benchDecode({
        ...a.common,
        kvType,
        promptTokens: a.int("prompt-tokens"),
        genTokens: a.int("gen-tokens"),
        runs: a.int("runs"),
        bandwidthMiB: a.int("bandwidth-mib"),
      });
      return { result, markdown: decodeReportMarkdown(result) };
    },
  },
  prefix: {
    usage: "[--prefix-tokens 2000] [--turns 10] [--turn-tokens 32] [--reply-tokens 16] [--agent-tokens 18000 (0: skip)] [--threads N]",
    flags: ["prefix-tokens", "turns", "turn-tokens", "reply-tokens", "agent-tokens", "threads"],
    async run(a) {
      const result = await benchPrefix({
        ...a.common,
        prefixTokens: a.int("prefix-tokens"),
        turns: a.int("turns"),
        turnTokens: a.int("turn-tokens"),
        replyTokens: a.int("reply-tokens"),
        agentTokens: a.int("agent-tokens"),
      });
      return { result, markdown: prefixReportMarkdown(result) };
    },
  },
  batch: {
    usage: "[--concurrency 1,2,4,8] [--prompt-tokens 32] [--gen-tokens 32] [--threads N] [--int4-kernel on|off|VARIANT] [--speculative on|off]",
    flags: ["concurrency", "prompt-tokens", "gen-tokens", "threads", "int4-kernel", "speculative"],
    async run(a) {
      const speculative = a.string("speculative");
      if (speculative !== undefined && speculative !== "on" && speculative !== "off")
        throw new Phi4Error("INVALID_ARGUMENT", `--speculative must be on or off (got ${speculative})`);
      const result = await benchBatch({
        ...a.common,
        speculative: speculative === "on",
        concurrency: a.list("concurrency"),
        promptTokens: a.int("prompt-tokens"),
        genTokens: a.int("gen-tokens"),
      });
      return { result, markdown: batchReportMarkdown(result) };
    },
  },
  peer: {
    usage:
      `[--engines ${PEER_ENGINES.join(",")}] [--gguf FILE.gguf] [--prompt-tokens 128,1024,4096] [--gen-tokens 64] ` +
      "[--concurrency 1,4] [--batch-prompt-tokens 32] [--threads 2] [--int4-kernel on|off|VARIANT] [--kv-type float32|float16]",
    flags: ["engines", "gguf", "prompt-tokens", "gen-tokens", "concurrency", "batch-prompt-tokens", "threads", "int4-kernel", "kv-type"],
    async run(a) {
      const engines = a
        .string("engines")
        ?.split(",")
        .map((e) => e.trim()) as PeerEngineName[] | undefined;
      const result = await benchPeer({
        ...a.common,
        engines,
        gguf: a.string("gguf"),
        promptLengths: a.list("prompt-tokens"),
        genTokens: a.int("gen-tokens"),
        concurrency: a.list("concurrency"),
        batchPromptTokens: a.int("batch-prompt-tokens"),
        kvType: a.string("kv-type") as KvType | undefined, // loadModel refuses any other value
      });
      return { result, markdown: peerReportMarkdown(result) };
    },
  },
  constraint: {
    usage: "[--runs 5] [--max-tokens 48] [--decode-tokens 8] [--threads N]",
    flags: ["runs", "max-tokens", "decode-tokens", "threads"],
    async run(a) {
      const result = await benchConstraint({ ...a.common, runs: a.int("runs"), maxTokens: a.int("max-tokens"), decodeTokens: a.int("decode-tokens") });
      return { result, markdown: constraintReportMarkdown(result) };
    },
  },
  speculative: {
    usage: "[--scenarios rewrite,tool-call,free-text] [--file-tokens 1000] [--gen-tokens 128] [--runs 1] [--threads N] [--int4-kernel on|off|VARIANT]",
    flags: ["scenarios", "file-tokens", "gen-tokens", "runs", "threads", "int4-kernel"],
    async run(a) {
      const result = await benchSpeculative({
        ...a.common,
        scenarios: a.string("scenarios")?.split(",") as SpeculativeScenario["name"][] | undefined, // benchSpeculative refuses other names
        fileTokens: a.int("file-tokens"),
        genTokens: a.int("gen-tokens"),
        runs: a.int("runs"),
      });
      return { result, markdown: speculativeReportMarkdown(result) };
    },
  },
  micro: {
    usage: "[--max-time SECONDS]",
    flags: ["max-time"],
    async run(a) {
      const result = await benchMicro({ modelDir: a.common.modelDir, onProgress: a.common.onProgress, maxTime: a.number("max-time") });
      return { result, markdown: microReportMarkdown(result) };
    },
  },
};

const usageOf = (name: string) => `usage: phi4 bench ${name} --model DIR ${BENCHMARKS[name].usage} [--json] [--out FILE.json]`;

const usage = `${suiteUsage}
   or: phi4 bench <${Object.keys(BENCHMARKS).join("|")}> [options]`;

/** `phi4 bench --help` and `phi4 bench NAME --help`: the full usage of the suite or of one benchmark. */
export function benchUsage(argv: string[]): string {
  const name = argv.find((a) => !a.startsWith("-"));
  return name !== undefined && Object.hasOwn(BENCHMARKS, name) ? usageOf(name) : usage;
}

export async function benchCommand(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name.startsWith("-")) return suiteCommand(argv);
  if (!Object.hasOwn(BENCHMARKS, name)) throw new Phi4Error("INVALID_ARGUMENT", `unknown benchmark "${name}"\n${usage}`);
  const benchmark = BENCHMARKS[name];
  const args = readBenchArgs(rest, benchmark.flags, usageOf(name), `bench ${name}`);
  const { result, markdown } = await benchmark.run(args);
  await report(name, result, markdown, args);
}

/** Prints the result (JSON with --json, else markdown); with --out also writes FILE.json and FILE.md. */
async function report(name: string, result: object, markdown: string, args: BenchArgs): Promise<void> {
  if (args.out !== undefined) {
    const markdownPath = args.out.replace(/\.json$/, ".md");
    await mkdir(path.dirname(path.resolve(args.out)), { recursive: true });
    await writeFile(args.out, JSON.stringify(result, null, 2) + "\n");
    await writeFile(markdownPath, markdown);
    process.stderr.write(`[bench ${name}] wrote ${args.out} and ${markdownPath}\n`);
  }
  process.stdout.write(args.json ? JSON.stringify(result) + "\n" : markdown);
}
