/**
 * phi4 bench constraint: what guaranteed-valid tool calls cost per token. Times the constraint's work
 * for every generated token (mask + accept) over sampled calls to a set of tool schemas, measures a
 * decode step of the model with and without a mask applied in native code, and reports the overhead as
 * a fraction of the decode step (the target: at most 10% on Phi-4-mini's 200064-token vocabulary).
 * Then times forced calls to the agent tools with and without jump-forward (jump-forward.ts).
 */
import path from "node:path";

import type { TokenConstraint } from "../engine/generation.js";
import { loadModel, type Model } from "../engine/model.js";
import { createToolConstraint } from "../tools/constraint/tool-constraint.js";
import { Vocabulary } from "../tools/constraint/vocabulary.js";
import type { ToolDefinition } from "../messages/types.js";
import { percentile, positiveInt } from "./common.js";
import { AGENT_TOOLS } from "./agent-tools.js";
import { benchJumpForward, type JumpForwardBenchResult } from "./jump-forward.js";
import { machineFacts, type MachineFacts } from "./machine.js";

/** Realistic tool sets: flat with an enum, nested objects and arrays of objects, unions, ten agent tools, keywords. */
export const BENCH_TOOL_SETS: Record<string, ToolDefinition[]> = {
  weather: [
    {
      name: "get_weather",
      description: "Current weather and forecast for a city",
      input_schema: {
        type: "object",
        properties: { city: { type: "string" }, unit: { enum: ["celsius", "fahrenheit"] }, days: { type: "integer" } },
        required: ["city"],
        additionalProperties: false,
      },
    },
  ],
  calendar: [
    {
      name: "create_event",
      description: "Create a calendar event",
      input_schema: {
        type: "object",
        properties: {
          title: { type: "string", minLength: 1 },
          start: {
            type: "object",
            properties: { date: { type: "string" }, hour: { type: "integer" } },
            required: ["date", "hour"],
            additionalProperties: false,
          },
          attendees: {
            type: "array",
            items: {
              type: "object",
              properties: { email: { type: "string" }, name: { type: "string" }, optional: { type: "boolean" } },
              required: ["email"],
              additionalProperties: false,
            },
            maxItems: 4,
          },
          priority: { type: "string", enum: ["low", "normal", "high"] },
          reminders: { type: "array", items: { type: "integer" } },
        },
        required: ["title", "start", "attendees"],
        additionalProperties: false,
      },
    },
  ],
  search: [
    {
      name: "search",
      description: "Search the web",
      input_schema: {
        type: "object",
        properties: {
          query: { type: "string" },
          filters: {
            type: "object",
            properties: {
              site: { type: ["string", "null"] },
              tags: { type: "array", items: { type: "string" } },
              safe: { type: "boolean" },
              score: { type: "number" },
            },
            additionalProperties: false,
          },
          limit: { type: "integer" },
        },
        required: ["query"],
        additionalProperties: false,
      },
    },
  ],
  // Claude Code's and the MCP reference servers' tools (agent-tools.ts).
  agent: AGENT_TOOLS,
  // Keywords with their own automata: numeric bounds, formats, patterns.
  keywords: [
    tool(
      "task_output",
      { task_id: { type: "string", pattern: "^[a-z0-9]{6,12}$" }, block: { type: "boolean" }, timeout: { type: "number", minimum: 0, maximum: 600000 } },
      ["task_id", "block", "timeout"],
    ),
    tool("fetch_url", { url: { type: "string", format: "uri" }, retries: { type: "integer", minimum: 0, maximum: 5 } }, ["url"]),
    tool("schedule", { at: { type: "string", format: "date-time" }, email: { type: "string", format: "email" }, id: { type: "string", format: "uuid" } }, [
      "at",
      "email",
    ]),
  ],
};

/** A tool of the benchmark sets: its name spelled out as the description, and no other properties. */
export function tool(name: string, properties: Record<string, unknown>, required: string[]): ToolDefinition {
  return { name, description: name.replaceAll("_", " "), input_schema: { type: "object", properties, required, additionalProperties: false } };
}

export interface ConstraintBenchOptions {
  modelDir: string;
  /** Sampled calls per tool set (default 5). */
  runs?: number;
  /** maxTokens of each call (default 48). */
  maxTokens?: number;
  /** Tokens per timed decode run (default 8). */
  decodeTokens?: number;
  threads?: number;
  onProgress?: (message: string) => void;
}

export interface Stats {
  samples: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
}

export interface ConstraintBenchResult {
  benchmark: "constraint";
  date: string;
  settings: { runs: number; maxTokens: number; decodeTokens: number; threads: number };
  model: { name: string; vocabSize: number };
  machine: MachineFacts;
  results: {
    /** Building the token byte tries (once per model). */
    vocabularyMs: number;
    /** A decode step without a mask (median over timed runs). */
    decodeStepMs: number;
    /** Extra time of a decode step that passes and applies a full mask in native code (median of paired runs; can read below 0 in noise). */
    maskApplyMs: number;
    /** Constraint work per generated token (mask + accept), all tool sets, caches warm after each set's first call. */
    mask: Stats;
    /** The same for each tool set's first call only (mask cache cold for that schema). */
    coldMask: Stats;
    perToolSet: (Stats & { name: string; tokensPerCall: number })[];
    /** (mask + apply) / decode step, at the mean and at p95 of the mask time. */
    overheadMean: number;
    overheadP95: number;
    /** Greedy forced calls to the ten agent tools, with and without jump-forward. */
    jumpForward: JumpForwardBenchResult;
  };
}

export async function benchConstraint(options: ConstraintBenchOptions): Promise<ConstraintBenchResult> {
  const runs = positiveInt("runs", options.runs ?? 5, 1);
  const maxTokens = positiveInt("max-tokens", options.maxTokens ?? 48, 8);
  const decodeTokens = positiveInt("decode-tokens", options.decodeTokens ?? 8, 2);
  const progress = options.onProgress ?? (() => undefined);
  const date = new Date().toISOString();
  // Without speculation, so that the jump-forward comparison measures jump-forward alone.
  const model = await loadModel(options.modelDir, { threads: options.threads, speculative: false });
  try {
    progress(`loaded ${model.folder.dir} in ${model.loadMs.toFixed(0)} ms; building the vocabulary tries`);
    const vocabularyStarted = performance.now();
    const vocabulary = await Vocabulary.forModel(model);
    const vocabularyMs = performance.now() - vocabularyStarted;
    const prompt = model.tokenizer.encode(model.tokenizer.applyChatTemplate([{ role: "user", content: "Call a tool." }]) + "<|tool_call|>");

    progress("timing decode steps with and without a mask");
    const everyToken = new Uint8Array(vocabulary.maskBytes).fill(0xff);
    const fullMask: TokenConstraint = { allowedTokens: () => everyToken, accept: () => undefined, isComplete: () => false };
    // Interleaved pairs, so drift in the machine's speed cancels out of each difference.
    const plain: number[] = [];
    const applyCost: number[] = [];
    for (let i = 0; i < 5; i++) {
      plain.push(await decodeStepMs(model, prompt, decodeTokens));
      applyCost.push((await decodeStepMs(model, prompt, decodeTokens, fullMask)) - plain[i]);
    }
    const decodeStep = percentile(plain, 0.5);

    const all: number[] = [];
    const cold: number[] = [];
    const perToolSet: ConstraintBenchResult["results"]["perToolSet"] = [];
    for (const [name, tools] of Object.entries(BENCH_TOOL_SETS)) {
      progress(`${runs} sampled calls to "${name}"`);
      const times: number[] = [];
      let tokens = 0;
      for (let run = 0; run < runs; run++) {
        const sequence = await model.createSequence({ capacity: prompt.length + maxTokens });
        try {
          const constraint = await createToolConstraint(model, tools, { mode: "call", budget: maxTokens });
          const timed = timedConstraint(constraint, run === 0 ? [times, cold] : [times]);
          const result = await sequence.generateText(prompt, { maxTokens, sampling: { temperature: 1, seed: run }, stopTokens: [], constraint: timed });
          if (!constraint.isComplete()) throw new Error(`a constrained call to "${name}" did not complete`);
          tokens += result.tokens.length;
        } finally {
          await sequence.dispose();
        }
      }
      all.push(...times);
      perToolSet.push({ name, ...stats(times), tokensPerCall: tokens / runs });
    }
    const jumpForward = await benchJumpForward(model, BENCH_TOOL_SETS.agent, maxTokens, progress);
    const mask = stats(all);
    const maskApplyMs = percentile(applyCost, 0.5);
    return {
      benchmark: "constraint",
      date,
      settings: { runs, maxTokens, decodeTokens, threads: model.threads },
      model: { name: path.basename(model.folder.dir), vocabSize: model.folder.vocabSize },
      machine: machineFacts(),
      results: {
        vocabularyMs,
        decodeStepMs: decodeStep,
        maskApplyMs,
        mask,
        coldMask: stats(cold),
        perToolSet,
        overheadMean: (mask.meanMs + Math.max(0, maskApplyMs)) / decodeStep,
        overheadP95: (mask.p95Ms + Math.max(0, maskApplyMs)) / decodeStep,
        jumpForward,
      },
    };
  } finally {
    await model.dispose();
  }
}

/** Records the time of each token's constraint work (allowedTokens + accept) into every list given. */
function timedConstraint(inner: TokenConstraint, into: number[][]): TokenConstraint {
  let pending = 0;
  return {
    allowedTokens() {
      const started = performance.now();
      const mask = inner.allowedTokens();
      pending = performance.now() - started;
      return mask;
    },
    accept(token) {
      const started = performance.now();
      inner.accept(token);
      const ms = pending + performance.now() - started;
      for (const list of into) list.push(ms);
    },
    isComplete: () => inner.isComplete(),
  };
}

/** Milliseconds per decode step of a greedy run of `tokens` tokens (the first, prefill, not counted). */
async function decodeStepMs(model: Model, prompt: number[], tokens: number, constraint?: TokenConstraint): Promise<number> {
  const sequence = await model.createSequence({ capacity: prompt.length + tokens });
  try {
    const { timings } = await sequence.generateText(prompt, { maxTokens: tokens, sampling: { greedy: true }, stopTokens: [], constraint });
    return (timings.totalMs - timings.ttftMs) / (tokens - 1);
  } finally {
    await sequence.dispose();
  }
}

function stats(values: number[]): Stats {
  const meanMs = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  return { samples: values.length, meanMs, p50Ms: percentile(values, 0.5), p95Ms: percentile(values, 0.95), maxMs: percentile(values, 1) };
}
