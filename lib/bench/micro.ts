/**
 * phi4 bench micro: the TypeScript work around the model, per call, with no inference: tokenizer encode
 * and decode (whole and streaming), the tool-call parser (whole outputs and fed token by token, as a
 * turn feeds it), and the tool-call constraint's mask per generated token. Throughputs come from
 * benchmark.js (a development dependency); the mask, whose tail matters, from a timing loop per step.
 */
import path from "node:path";
import { isDeepStrictEqual } from "node:util";

import { Phi4Error } from "../engine/errors.js";
import { loadModel, type Model } from "../engine/model.js";
import { StreamDecoder } from "../tokenizer/stream-decoder.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { ToolCatalog } from "../tools/catalog.js";
import { createToolConstraint } from "../tools/constraint/tool-constraint.js";
import { Vocabulary } from "../tools/constraint/vocabulary.js";
import { parseToolCalls, TOOL_CALL_CLOSE, ToolCallStreamParser } from "../tools/stream-parser.js";
import { percentile } from "./common.js";
import { machineFacts, type MachineFacts } from "./machine.js";
import { constrainedCallTexts, microText, MICRO_TOOLS, toolOutputs } from "./micro-corpus.js";

export interface MicroBenchOptions {
  modelDir: string;
  /** Seconds each measurement may run (benchmark.js maxTime; the constraint's repeat passes). Default 2. */
  maxTime?: number;
  onProgress?: (message: string) => void;
}

/** A benchmark.js figure: operations per second, its relative margin of error (95%), samples taken. */
export interface OpsRate {
  opsPerSec: number;
  rmePercent: number;
  samples: number;
}

export interface MicrosecondStats {
  samples: number;
  meanUs: number;
  p50Us: number;
  p95Us: number;
  maxUs: number;
}

export interface MicroBenchResult {
  benchmark: "micro";
  date: string;
  settings: { maxTimeSec: number };
  model: { name: string; vocabSize: number };
  machine: MachineFacts;
  /** What was measured: the text, the tool-call outputs (and the calls they hold), the constrained calls. */
  corpus: {
    textBytes: number;
    textTokens: number;
    toolOutputs: number;
    toolOutputBytes: number;
    toolCalls: number;
    constrainedCalls: number;
    constrainedTokens: number;
  };
  results: {
    /** tokenizer.encode of the whole text (one op = the whole text). */
    encode: OpsRate & { mbPerSec: number; tokensPerSec: number };
    /** tokenizer.decode of all its tokens at once. */
    decode: OpsRate & { tokensPerSec: number };
    /** The StreamDecoder generation uses, one token at a time. */
    streamDecode: OpsRate & { tokensPerSec: number };
    /** parseToolCalls over every output (one op = all outputs). callsParsed: calls read back equal to those written (of corpus.toolCalls); errors: error entries (0 expected). */
    parser: OpsRate & { callsPerSec: number; mbPerSec: number; callsParsed: number; errors: number };
    /** ToolCallStreamParser fed each output one decoded token at a time. */
    streamParser: OpsRate & { callsPerSec: number; mbPerSec: number };
    constraint: {
      /** Building the token byte tries (once per model). */
      vocabularyMs: number;
      /** allowedTokens() per step, first pass over the calls (mask cache cold). */
      coldMask: MicrosecondStats;
      /** allowedTokens() per step, repeat passes (cache warm, as for a tool set used before). */
      mask: MicrosecondStats;
      /** accept(token) per step, repeat passes. */
      accept: MicrosecondStats;
    };
  };
}

type BenchmarkClass = typeof import("benchmark");

export async function benchMicro(options: MicroBenchOptions): Promise<MicroBenchResult> {
  const maxTime = options.maxTime ?? 2;
  if (!(Number.isFinite(maxTime) && maxTime > 0)) throw new Phi4Error("INVALID_ARGUMENT", `--max-time must be a number of seconds > 0 (got ${maxTime})`);
  const progress = options.onProgress ?? (() => undefined);
  const Benchmark = await importBenchmark();
  const date = new Date().toISOString();
  // The model's own tokenizer loading; nothing below runs the network.
  const model = await loadModel(options.modelDir);
  try {
    const tokenizer = model.tokenizer;
    const measure = (name: string, fn: () => void): OpsRate => {
      progress(name);
      const bench = new Benchmark(name, fn, { maxTime }).run();
      if (bench.error) throw bench.error;
      return { opsPerSec: bench.hz, rmePercent: bench.stats.rme, samples: bench.stats.sample.length };
    };

    const text = microText();
    const textBytes = Buffer.byteLength(text);
    const ids = tokenizer.encode(text);
    if (streamDecode(tokenizer, ids) !== tokenizer.decode(ids)) throw new Error("the streaming decoder and decode disagree on the benchmark text");
    const encode = measure("encode", () => tokenizer.encode(text));
    const decode = measure("decode", () => tokenizer.decode(ids));
    const streamed = measure("streaming decode", () => streamDecode(tokenizer, ids));

    const catalog = ToolCatalog.from(MICRO_TOOLS);
    const outputs = toolOutputs();
    const outputBytes = outputs.reduce((sum, o) => sum + Buffer.byteLength(o.text), 0);
    const toolCalls = outputs.reduce((sum, o) => sum + o.calls.length, 0);
    let callsParsed = 0;
    let errors = 0;
    for (const output of outputs) {
      const parsed = parseToolCalls(output.text, catalog);
      callsParsed += parsed.calls.filter((c, i) => isDeepStrictEqual(c, output.calls[i])).length;
      errors += parsed.errors.length;
    }
    // Chunks as generation hands them to the parser: one decoded token each.
    const chunked = outputs.map((o) => {
      const decoder = new StreamDecoder(tokenizer);
      return [...tokenizer.encode(o.text).map((id) => decoder.push(id)), decoder.flush()];
    });
    const parser = measure("parseToolCalls", () => {
      for (const output of outputs) parseToolCalls(output.text, catalog);
    });
    const streamParser = measure("ToolCallStreamParser", () => {
      for (const chunks of chunked) {
        const streaming = new ToolCallStreamParser(catalog);
        for (const chunk of chunks) streaming.push(chunk);
        streaming.end();
      }
    });

    progress("constraint masks");
    const vocabularyStarted = performance.now();
    const vocabulary = await Vocabulary.forModel(model);
    const vocabularyMs = performance.now() - vocabularyStarted;
    const closer = vocabulary.addedTokenId(TOOL_CALL_CLOSE);
    if (closer === undefined)
      throw new Phi4Error("INVALID_ARGUMENT", `the tokenizer has no ${TOOL_CALL_CLOSE} token; the constraint benchmark needs Phi-4's tool tokens`);
    const forced = constrainedCallTexts().map((t) => [...tokenizer.encode(t, { allowSpecial: false }), closer]);
    const steps = { mask: [] as number[], accept: [] as number[] };
    const forceAll = async () => {
      for (const tokens of forced) await forceCall(model, catalog, tokens, steps);
    };
    await forceAll();
    const coldMask = stats(steps.mask);
    steps.mask = [];
    steps.accept = [];
    const started = performance.now();
    do await forceAll();
    while (performance.now() - started < maxTime * 1000);

    return {
      benchmark: "micro",
      date,
      settings: { maxTimeSec: maxTime },
      model: { name: path.basename(model.folder.dir), vocabSize: model.folder.vocabSize },
      machine: machineFacts(),
      corpus: {
        textBytes,
        textTokens: ids.length,
        toolOutputs: outputs.length,
        toolOutputBytes: outputBytes,
        toolCalls,
        constrainedCalls: forced.length,
        constrainedTokens: forced.reduce((sum, tokens) => sum + tokens.length, 0),
      },
      results: {
        encode: { ...encode, mbPerSec: (encode.opsPerSec * textBytes) / 1e6, tokensPerSec: encode.opsPerSec * ids.length },
        decode: { ...decode, tokensPerSec: decode.opsPerSec * ids.length },
        streamDecode: { ...streamed, tokensPerSec: streamed.opsPerSec * ids.length },
        parser: { ...parser, callsPerSec: parser.opsPerSec * toolCalls, mbPerSec: (parser.opsPerSec * outputBytes) / 1e6, callsParsed, errors },
        streamParser: { ...streamParser, callsPerSec: streamParser.opsPerSec * toolCalls, mbPerSec: (streamParser.opsPerSec * outputBytes) / 1e6 },
        constraint: { vocabularyMs, coldMask, mask: stats(steps.mask), accept: stats(steps.accept) },
      },
    };
  } finally {
    await model.dispose();
  }
}

async function importBenchmark(): Promise<BenchmarkClass> {
  try {
    return (await import("benchmark")).default;
  } catch (error) {
    throw new Phi4Error(
      "INVALID_ARGUMENT",
      'phi4 bench micro needs the benchmark package, a development dependency: run "npm install" in the phi4-onnx checkout (not --omit=dev)',
      { cause: error },
    );
  }
}

function streamDecode(tokenizer: Tokenizer, ids: number[]): string {
  const decoder = new StreamDecoder(tokenizer);
  let text = "";
  for (const id of ids) text += decoder.push(id);
  return text + decoder.flush();
}

/** The default maxTokens of a tool turn: the budget the constraint plans against. */
const TURN_BUDGET = 1024;

/**
 * Drives a "call"-mode constraint through `tokens` as if the model had sampled them, timing each step's
 * mask and accept. A token the mask does not allow means the call is not what the constraint produces.
 */
async function forceCall(model: Model, catalog: ToolCatalog, tokens: number[], into: { mask: number[]; accept: number[] }): Promise<void> {
  const constraint = await createToolConstraint(model, catalog, { mode: "call", budget: Math.max(TURN_BUDGET, tokens.length) });
  for (const token of tokens) {
    const started = performance.now();
    const mask = constraint.allowedTokens();
    const masked = performance.now();
    if (mask && !(mask[token >> 3] & (1 << (token & 7)))) throw new Error(`the constraint does not allow token ${token} of a benchmark call`);
    const accepting = performance.now();
    constraint.accept(token);
    into.accept.push((performance.now() - accepting) * 1000);
    into.mask.push((masked - started) * 1000);
  }
  if (!constraint.isComplete()) throw new Error("a benchmark call did not complete the constraint");
}

function stats(us: number[]): MicrosecondStats {
  const meanUs = us.reduce((a, b) => a + b, 0) / Math.max(1, us.length);
  return { samples: us.length, meanUs, p50Us: percentile(us, 0.5), p95Us: percentile(us, 0.95), maxUs: percentile(us, 1) };
}
