/**
 * The agent part of the prefix benchmark: a Claude Code-shaped prompt (system prompt and 24 tools,
 * agent-prompt.ts) as the server renders it, answered (1) cold, (2) by a new session whose billing
 * hash and question differ (what Claude Code sends for each new session), and (3) by a new process
 * on the same prefix cache directory (a restarted server). Time to first token of each, and the
 * prompt tokens that came from the cache.
 */
import { fork } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { Phi4Error } from "../engine/errors.js";
import { loadModel, type Model } from "../engine/model.js";
import { commonPrefixLength } from "../engine/prefix-cache.js";
import { LocalProvider } from "../providers/local.js";
import type { Sequence } from "../engine/sequence.js";
import { AGENT_TOOLS, claudeCodeRequest, fitParagraphs } from "./agent-prompt.js";
import type { RestartMessage, RestartRequest } from "./prefix-restart-child.js";

export interface AgentPrefixOptions {
  modelDir: string;
  threads?: number;
  /** Prompt length to aim for (the largest that fits the model's context when it does not). */
  targetTokens: number;
  onProgress?: (message: string) => void;
}

export interface AgentPromptRun {
  ttftMs: number;
  cachedTokens: number;
}

export type AgentPrefixResult =
  | {
      promptTokens: number;
      tools: number;
      cold: AgentPromptRun;
      /** A new session: another billing hash and question. */
      changedHash: AgentPromptRun & { ratio: number };
      /** A new process on the same cache directory. */
      restart: AgentPromptRun & { ratio: number; loadMs: number };
      /** Tokens the two sessions' prompts share, with the billing block left out (the default) and kept. */
      sharedTokens: number;
      sharedTokensKeepingMetadata: number;
    }
  | { skipped: string };

/** Room for the answer's first token and the question's variation. */
const SLACK = 64;

export async function benchAgentPrefix(options: AgentPrefixOptions): Promise<AgentPrefixResult> {
  const progress = options.onProgress ?? (() => undefined);
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), "phi4-bench-prefix-"));
  try {
    const disk = { dir: cacheDir, minTokens: 256 };
    const model = await loadModel(options.modelDir, { threads: options.threads, prefixCacheDisk: disk });
    let sessions: Sessions | { skipped: string };
    try {
      sessions = await twoSessions(model, options.targetTokens, progress);
    } finally {
      // Its memory (weights, two sequences' KV) is given back before the second process needs as much.
      await model.dispose();
    }
    if ("skipped" in sessions) return sessions;
    const { cold, changed, capacity, promptTokens, restartPrompt } = sessions;
    progress("agent prompt: a new process on the same cache directory");
    const restart = await restartedProcess({ modelDir: options.modelDir, threads: options.threads, disk, capacity, prompt: restartPrompt });
    return {
      promptTokens,
      tools: AGENT_TOOLS.length,
      cold,
      changedHash: { ...changed, ratio: changed.ttftMs / cold.ttftMs },
      restart: { ttftMs: restart.ttftMs, cachedTokens: restart.cachedTokens, loadMs: restart.loadMs, ratio: restart.ttftMs / cold.ttftMs },
      sharedTokens: sessions.sharedTokens,
      sharedTokensKeepingMetadata: sessions.sharedTokensKeepingMetadata,
    };
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
}

interface Sessions {
  cold: AgentPromptRun;
  changed: AgentPromptRun;
  capacity: number;
  promptTokens: number;
  /** A third session's prompt, for the restarted process. */
  restartPrompt: number[];
  sharedTokens: number;
  sharedTokensKeepingMetadata: number;
}

/** The first session (cold, its prompt then written to the disk tier) and a second one with another billing hash, in this process. */
async function twoSessions(model: Model, targetTokens: number, progress: (message: string) => void): Promise<Sessions | { skipped: string }> {
  const target = Math.min(targetTokens, model.contextLength - SLACK);
  const renderer = new LocalProvider(model, { capacity: model.contextLength });
  const fitted = fitParagraphs(target, (request) => renderer.promptTokens(request).length);
  if (fitted.tokens > target) {
    return {
      skipped: `the Claude Code-shaped prompt takes at least ${fitted.tokens} tokens: more than --agent-tokens ${targetTokens} or the model's context (${model.contextLength}) allows`,
    };
  }
  const capacity = Math.min(model.contextLength, fitted.tokens + SLACK);
  const requests = [
    claudeCodeRequest("a3f", "What does this repository do?", fitted.paragraphs),
    claudeCodeRequest("7c1", "Which tests cover the parser?", fitted.paragraphs),
  ];
  const [first, second] = requests.map((request) => renderer.promptTokens(request));
  const keeping = new LocalProvider(model, { keepClientMetadata: true });
  const [keptFirst, keptSecond] = requests.map((request) => keeping.promptTokens(request));

  progress(`agent prompt: ${first.length} tokens (system + ${AGENT_TOOLS.length} tools), cold`);
  const cold = await firstToken(await model.createSequence({ capacity }), first);
  await model.prefixDisk!.flush();
  progress("agent prompt: a new session (another billing hash and question)");
  const changed = await firstToken(await model.createSequence({ capacity }), second);
  return {
    cold,
    changed,
    capacity,
    promptTokens: first.length,
    restartPrompt: renderer.promptTokens(claudeCodeRequest("e52", "How do I run the benchmarks?", fitted.paragraphs)),
    sharedTokens: commonPrefixLength(first, second),
    sharedTokensKeepingMetadata: commonPrefixLength(keptFirst, keptSecond),
  };
}

async function firstToken(sequence: Sequence, prompt: number[]): Promise<AgentPromptRun> {
  const result = await sequence.generateText(prompt, { maxTokens: 1, append: false, sampling: { greedy: true } });
  return { ttftMs: result.timings.ttftMs, cachedTokens: result.usage.cachedTokens };
}

/** Forks prefix-restart-child.js (next to this file in dist/) and resolves with what it reports. */
function restartedProcess(request: RestartRequest): Promise<{ ttftMs: number; cachedTokens: number; loadMs: number }> {
  const script = path.join(path.dirname(new URL(import.meta.url).pathname), "prefix-restart-child.js");
  return new Promise((resolve, reject) => {
    const child = fork(script, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    let outcome: RestartMessage | undefined;
    child.on("message", (message: RestartMessage) => (outcome ??= message));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (outcome?.type === "result") resolve(outcome);
      else
        reject(
          new Phi4Error(
            "ORT_ERROR",
            `the restarted benchmark process failed: ${outcome?.type === "error" ? outcome.message : `it exited (${signal ?? `code ${code}`}) without a result`}`,
          ),
        );
    });
    child.send(request);
  });
}
