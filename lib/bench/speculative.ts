/**
 * The speculative decoding benchmark: decode tokens/s with and without prompt-lookup speculation on
 * (a) a request that rewrites a file it was given with a small change, (b) a tool call quoting ids
 * from its context, (c) free text, with the acceptance rate and tokens per model step of each.
 *
 * A model with random weights does not copy its input by itself, so (a) and (b) force the expected
 * output: a constraint allows only its next token at each position (the same in both runs, so both
 * pay the same mask cost), and greedy decoding follows it. Drafts come from prompt lookup as always;
 * the constraint cuts a draft at its first wrong token before it is verified, so these two count no
 * rejected rows (docs/speculative.md). (c) runs unforced: what the model writes, greedy.
 */
import type { GenerationResult, TokenConstraint } from "../engine/generation.js";
import { Phi4Error } from "../engine/errors.js";
import { type Int4KernelChoice, loadModel, type Model } from "../engine/model.js";
import { lcgPrompt, median, positiveInt } from "./common.js";

export interface SpeculativeBenchOptions {
  modelDir: string;
  /** Tokens of the file (a) rewrites, about (default 1000). */
  fileTokens?: number;
  /** Tokens of free text (c) generates (default 128). */
  genTokens?: number;
  /** Timed runs of each scenario and mode after a warm-up; medians are reported (default 1). */
  runs?: number;
  /** The scenarios to run (default all three). */
  scenarios?: SpeculativeScenario["name"][];
  threads?: number;
  int4Kernel?: Int4KernelChoice;
  onProgress?: (message: string) => void;
}

const SCENARIOS = ["rewrite", "tool-call", "free-text"] as const;

export interface SpeculativeScenario {
  name: (typeof SCENARIOS)[number];
  promptTokens: number;
  outputTokens: number;
  plainTokensPerSec: number;
  speculativeTokensPerSec: number;
  speedup: number;
  acceptanceRate: number;
  tokensPerStep: number;
}

export interface SpeculativeBenchResult {
  benchmark: "speculative";
  date: string;
  settings: { fileTokens: number; genTokens: number; runs: number; threads: number; int4Kernel: boolean };
  model: { name: string };
  scenarios: SpeculativeScenario[];
}

/** Allows only the next token of `target` (the forced output); fork() lets drafts be checked on a copy. */
class ForcedOutput implements TokenConstraint {
  private readonly mask: Uint8Array;
  constructor(
    private readonly target: readonly number[],
    vocabSize: number,
    private at = 0,
  ) {
    this.mask = new Uint8Array(Math.ceil(vocabSize / 8));
  }
  allowedTokens(): Uint8Array {
    this.mask.fill(0);
    const token = this.target[Math.min(this.at, this.target.length - 1)];
    this.mask[token >> 3] |= 1 << (token & 7);
    return this.mask;
  }
  accept(): void {
    this.at++;
  }
  isComplete(): boolean {
    return this.at >= this.target.length;
  }
  fork(): ForcedOutput {
    return new ForcedOutput(this.target, this.mask.length * 8, this.at);
  }
}

/** A code-like file of about `tokens` tokens, and the same file with one line changed. */
function rewriteTask(model: Model, tokens: number): { prompt: string; output: string } {
  const lines: string[] = [];
  for (let i = 0; model.tokenizer.encode(lines.join("\n")).length < tokens; i++) lines.push(`const item${i} = compute("field_${(i * 37) % 101}", ${i * 7});`);
  const changed = lines.map((line, i) => (i === Math.floor(lines.length / 2) ? line.replace("compute", "evaluate") : line));
  return {
    prompt: `Rewrite this file, calling evaluate instead of compute on the middle line:\n\`\`\`js\n${lines.join("\n")}\n\`\`\``,
    output: `\`\`\`js\n${changed.join("\n")}\n\`\`\``,
  };
}

/** A context listing ids (short enough for the 256-token test models), and a tool call that quotes two of them. */
function toolCallTask(): { prompt: string; output: string } {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const ids = Array.from({ length: 6 }, (_, i) =>
    lcgPrompt(16, alphabet.length, 100 + i)
      .map((c) => alphabet[c])
      .join(""),
  );
  const listing = ids.map((id, i) => `- ticket ${i}: toolu_${id} (status: ${i % 3 === 0 ? "open" : "closed"})`).join("\n");
  const quoted = [ids[0], ids[3]].map((id) => `"toolu_${id}"`).join(", ");
  return {
    prompt: `Open tickets are listed below. Close the open ones with the close_tickets tool.\n${listing}`,
    output: `{"name": "close_tickets", "arguments": {"ids": [${quoted}]}}`,
  };
}

export async function benchSpeculative(options: SpeculativeBenchOptions): Promise<SpeculativeBenchResult> {
  const fileTokens = positiveInt("file-tokens", options.fileTokens ?? 1000, 8);
  const genTokens = positiveInt("gen-tokens", options.genTokens ?? 128, 2);
  const runs = positiveInt("runs", options.runs ?? 1, 1);
  for (const name of options.scenarios ?? []) {
    if (!SCENARIOS.includes(name)) throw new Phi4Error("INVALID_ARGUMENT", `unknown scenario "${name}" (expected some of ${SCENARIOS.join(", ")})`);
  }
  const progress = options.onProgress ?? (() => undefined);
  const model = await loadModel(options.modelDir, { threads: options.threads, int4Kernel: options.int4Kernel, prefixCache: false });
  try {
    const tokenizer = model.tokenizer;
    const chat = (content: string) => tokenizer.encodeChat([{ role: "user", content }]);
    const rewrite = rewriteTask(model, fileTokens);
    const tool = toolCallTask();
    const cases = [
      { name: "rewrite" as const, prompt: chat(rewrite.prompt), forced: tokenizer.encode(rewrite.output, { allowSpecial: false }) },
      { name: "tool-call" as const, prompt: chat(tool.prompt), forced: tokenizer.encode(tool.output, { allowSpecial: false }) },
      { name: "free-text" as const, prompt: chat("Write a short story about a lighthouse keeper who finds a message in a bottle."), forced: null },
    ];
    const scenarios: SpeculativeScenario[] = [];
    for (const c of cases.filter((c) => !options.scenarios || options.scenarios.includes(c.name))) {
      const maxTokens = c.forced ? c.forced.length : genTokens;
      const runOnce = async (speculative: boolean): Promise<GenerationResult> => {
        const sequence = await model.createSequence({ capacity: Math.min(model.contextLength, c.prompt.length + maxTokens + 1) });
        try {
          const constraint = c.forced ? new ForcedOutput(c.forced, model.folder.vocabSize) : undefined;
          return await sequence.generateText(c.prompt, { maxTokens, stopTokens: [], sampling: { greedy: true }, speculative, constraint });
        } finally {
          await sequence.dispose();
        }
      };
      const timed: Record<"plain" | "speculative", GenerationResult[]> = { plain: [], speculative: [] };
      for (let run = 0; run <= runs; run++) {
        for (const mode of ["plain", "speculative"] as const) {
          progress(`${c.name}: ${mode} run ${run === 0 ? "(warm-up)" : `${run}/${runs}`}`);
          const result = await runOnce(mode === "speculative");
          if (run > 0) timed[mode].push(result);
        }
      }
      const plain = median(timed.plain.map((r) => r.timings.decodeTokensPerSec));
      const spec = median(timed.speculative.map((r) => r.timings.decodeTokensPerSec));
      const last = timed.speculative[timed.speculative.length - 1];
      scenarios.push({
        name: c.name,
        promptTokens: c.prompt.length,
        outputTokens: last.tokens.length,
        plainTokensPerSec: plain,
        speculativeTokensPerSec: spec,
        speedup: plain > 0 ? spec / plain : 0,
        acceptanceRate: last.timings.acceptanceRate,
        tokensPerStep: last.timings.tokensPerStep,
      });
    }
    return {
      benchmark: "speculative",
      date: new Date().toISOString(),
      settings: { fileTokens, genTokens, runs, threads: model.threads, int4Kernel: model.info.int4Kernel },
      model: { name: model.folder.dir.split(/[\\/]/).pop() ?? "" },
      scenarios,
    };
  } finally {
    await model.dispose();
  }
}

export function speculativeReportMarkdown(result: SpeculativeBenchResult): string {
  const rows = result.scenarios.map(
    (s) =>
      `| ${s.name} | ${s.promptTokens} | ${s.outputTokens} | ${s.plainTokensPerSec.toFixed(2)} | ${s.speculativeTokensPerSec.toFixed(2)} | ` +
      `${s.speedup.toFixed(2)}x | ${(s.acceptanceRate * 100).toFixed(0)}% | ${s.tokensPerStep.toFixed(2)} |`,
  );
  return [
    `## Speculative decoding (${result.model.name}, ${result.settings.threads} threads, median of ${result.settings.runs})`,
    "",
    "| Scenario | Prompt tokens | Output tokens | Plain tok/s | Speculative tok/s | Speedup | Acceptance | Tokens/step |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
    "",
  ].join("\n");
}
