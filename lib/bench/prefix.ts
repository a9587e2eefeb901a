/**
 * The prefix benchmark: what KV reuse buys. (1) Time to first token for a request whose N-token
 * prefix is cached (held by an idle sequence) vs not cached. (2) A 10-turn conversation where every request resends the whole
 * conversation (the Anthropic API style), with reuse (one sequence, prefix cache on) and without
 * (prefix cache off, a fresh sequence per turn): per-turn latency for each. (3) A Claude Code-shaped
 * prompt cold, from a new session with another billing hash, and from a restarted process
 * (prefix-agent.ts).
 */
import { loadModel, type Model } from "../engine/model.js";
import type { Sequence } from "../engine/sequence.js";
import { lcgPrompt, positiveInt, PROMPT_ID_LIMIT } from "./common.js";
import { machineFacts, type MachineFacts } from "./machine.js";
import { benchAgentPrefix, type AgentPrefixResult } from "./prefix-agent.js";

export interface PrefixBenchOptions {
  modelDir: string;
  /** Shared prefix length (default 2000). */
  prefixTokens?: number;
  /** Turns of the conversation (default 10). */
  turns?: number;
  /** New user tokens per turn (default 32) and reply tokens per turn (default 16). */
  turnTokens?: number;
  replyTokens?: number;
  threads?: number;
  /** Length of the Claude Code-shaped prompt (default 18000, or the most the model's context holds); 0 skips it. */
  agentTokens?: number;
  onProgress?: (message: string) => void;
}

export interface TurnTiming {
  turn: number;
  contextTokens: number;
  cachedTokens: number;
  ttftMs: number;
  totalMs: number;
}

export interface PrefixBenchResult {
  benchmark: "prefix";
  date: string;
  prefixTokens: number;
  uncachedTtftMs: number;
  cachedTtftMs: number;
  /** cachedTtftMs / uncachedTtftMs. */
  cachedRatio: number;
  conversation: { withReuse: TurnTiming[]; withoutReuse: TurnTiming[] };
  /** The Claude Code-shaped prompt; null when skipped with agentTokens 0. */
  agent: AgentPrefixResult | null;
  threads: number;
  machine: MachineFacts;
}

const SUFFIX_TOKENS = 16;

export async function benchPrefix(options: PrefixBenchOptions): Promise<PrefixBenchResult> {
  const prefixTokens = positiveInt("prefix-tokens", options.prefixTokens ?? 2000, 1);
  const turns = positiveInt("turns", options.turns ?? 10, 1);
  const turnTokens = positiveInt("turn-tokens", options.turnTokens ?? 32, 1);
  const replyTokens = positiveInt("reply-tokens", options.replyTokens ?? 16, 1);
  const agentTokens = positiveInt("agent-tokens", options.agentTokens ?? 18_000, 0);
  const progress = options.onProgress ?? (() => undefined);
  const date = new Date().toISOString();

  const reuse = await loadModel(options.modelDir, { threads: options.threads });
  const noReuse = await loadModel(options.modelDir, { threads: options.threads, prefixCache: false });
  try {
    const limit = Math.min(reuse.folder.vocabSize, PROMPT_ID_LIMIT);
    const prefix = lcgPrompt(prefixTokens, limit, 1);
    const capacity = Math.min(reuse.contextLength, Math.max(prefixTokens + 2 * SUFFIX_TOKENS + 8, turns * (turnTokens + replyTokens) + 8));

    progress(`uncached: ${prefixTokens}-token prefix + ${SUFFIX_TOKENS} tokens from scratch`);
    // The first request's sequence stays alive (idle): the second, on another sequence, copies its prefix.
    const first = await reuse.createSequence({ capacity });
    const uncached = await firstTokenMs(first, [...prefix, ...lcgPrompt(SUFFIX_TOKENS, limit, 3)]);
    progress("cached: the same prefix, a different suffix, on another sequence");
    const second = await reuse.createSequence({ capacity });
    const cached = await firstTokenMs(second, [...prefix, ...lcgPrompt(SUFFIX_TOKENS, limit, 2)]);
    await Promise.all([first.dispose(), second.dispose()]);

    progress(`conversation: ${turns} turns with reuse`);
    const withReuse = await conversation(reuse, turns, turnTokens, replyTokens, limit, capacity, true);
    progress(`conversation: ${turns} turns without reuse`);
    const withoutReuse = await conversation(noReuse, turns, turnTokens, replyTokens, limit, capacity, false);
    await Promise.all([reuse.dispose(), noReuse.dispose()]);
    const agent =
      agentTokens === 0
        ? null
        : await benchAgentPrefix({ modelDir: options.modelDir, threads: options.threads, targetTokens: agentTokens, onProgress: progress });
    return {
      benchmark: "prefix",
      date,
      prefixTokens,
      uncachedTtftMs: uncached,
      cachedTtftMs: cached,
      cachedRatio: cached / uncached,
      conversation: { withReuse, withoutReuse },
      agent,
      threads: reuse.threads,
      machine: machineFacts(),
    };
  } finally {
    await Promise.all([reuse.dispose(), noReuse.dispose()]);
  }
}

async function firstTokenMs(sequence: Sequence, prompt: number[]): Promise<number> {
  const result = await sequence.generateText(prompt, { maxTokens: 1, append: false, sampling: { greedy: true } });
  return result.timings.ttftMs;
}

/** Each turn resends the whole conversation; with reuse one sequence serves every turn. */
async function conversation(model: Model, turns: number, turnTokens: number, replyTokens: number, limit: number, capacity: number, reuse: boolean) {
  const timings: TurnTiming[] = [];
  const context: number[] = [];
  const kept = reuse ? await model.createSequence({ capacity }) : undefined;
  for (let turn = 1; turn <= turns; turn++) {
    context.push(...lcgPrompt(turnTokens, limit, 100 + turn));
    const sequence = kept ?? (await model.createSequence({ capacity }));
    const result = await sequence.generateText(context, { maxTokens: replyTokens, stopTokens: [], sampling: { greedy: true }, append: false });
    if (!kept) await sequence.dispose();
    timings.push({
      turn,
      contextTokens: context.length,
      cachedTokens: result.usage.cachedTokens,
      ttftMs: result.timings.ttftMs,
      totalMs: result.timings.totalMs,
    });
    context.push(...result.tokens);
  }
  await kept?.dispose();
  return timings;
}
