/**
 * Jump-forward decoding of constrained tool calls on the tiny-phi4 random model (Phi-4's vocabulary,
 * random weights), over the corpus of realistic tools: greedy jump-forward writes the same tokens, and
 * so the same calls, as token-by-token decoding that spells the forced text the same way; each seam is
 * a real tokenization; every token sampled after a jump is the oracle's choice under the same mask, and
 * the KV the jumps left behind gives the oracle's logits; streaming and the batched decode carry on.
 *
 * Why "spells the forced text the same way": with random weights the model left to itself writes
 * forced text in arbitrary token splits (`"`, `name`, `"`, `:` ...) and wherever it writes whitespace,
 * and every later choice depends on that, so free greedy decoding is compared in the benchmark on the
 * real model instead (docs/tool-calling.md). Here the token-by-token run gets exactly the jumped tokens
 * as its only allowed token at their positions, one model step each, and picks everything else itself.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import type { TokenConstraint } from "../lib/engine/generation.js";
import { loadModel, type Model } from "../lib/engine/model.js";
import type { Sequence } from "../lib/engine/sequence.js";
import { createToolConstraint, type ToolCallConstraint } from "../lib/tools/constraint/tool-constraint.js";
import { renderToolPrompt } from "../lib/tools/prompt.js";
import { parseToolCalls } from "../lib/tools/stream-parser.js";
import { generateToolTurn } from "../lib/tools/turn.js";
import type { ToolDefinition } from "../lib/messages/types.js";
import { argmax, maxAbs, Oracle, relativeError } from "./helpers/oracle.js";
import { TOOLS } from "./helpers/tool-corpus.js";

const models = inject("models");
// tiny-phi4 has a context of 256 tokens: each call sees only its own tool, and the answer gets 96.
const MAX_TOKENS = 96;
const GREEDY = { greedy: true };

/** The tool constraint, with a record of what the generation did through it. */
class Recorder implements TokenConstraint {
  /** The output as the constraint saw it, and whether each token was sampled (else jumped). */
  readonly tokens: number[] = [];
  readonly sampled: boolean[] = [];
  /** The mask each output position was sampled under. */
  readonly masks: (Uint8Array | null)[] = [];
  /** Each jump: how many tokens it took back, its tokens, and the whole output right after it. */
  readonly jumps: { takeBack: number; tokens: number[]; output: number[] }[] = [];
  /** Tokens sampled, those a later seam took back included. */
  sampledEver = 0;
  private mask: Uint8Array | null = null;

  constructor(private readonly inner: ToolCallConstraint) {}

  allowedTokens(): Uint8Array | null {
    const mask = this.inner.allowedTokens();
    this.mask = mask && mask.slice();
    return mask;
  }

  accept(token: number): void {
    this.inner.accept(token);
    this.sampledEver++;
    this.push([token], true);
  }

  isComplete(): boolean {
    return this.inner.isComplete();
  }

  forced(): Uint8Array {
    return this.inner.forced();
  }

  acceptForced(takenBack: number, tokens: readonly number[]): boolean {
    if (!this.inner.acceptForced(takenBack, tokens)) return false;
    for (const list of [this.tokens, this.sampled, this.masks]) list.splice(list.length - takenBack);
    this.push(tokens, false);
    this.jumps.push({ takeBack: takenBack, tokens: [...tokens], output: [...this.tokens] });
    return true;
  }

  private push(tokens: readonly number[], sampled: boolean): void {
    for (const token of tokens) {
      this.tokens.push(token);
      this.sampled.push(sampled);
      this.masks.push(sampled ? this.mask : null);
    }
  }
}

/** Token-by-token decoding that must write `script[i]` wherever `forcedAt[i]`: its mask there allows only that token. */
class Scripted implements TokenConstraint {
  private position = 0;
  private readonly only: Uint8Array;

  constructor(
    private readonly inner: ToolCallConstraint,
    private readonly script: readonly number[],
    private readonly forcedAt: readonly boolean[],
    maskBytes: number,
  ) {
    this.only = new Uint8Array(maskBytes);
  }

  allowedTokens(): Uint8Array | null {
    if (!this.forcedAt[this.position]) return this.inner.allowedTokens();
    const token = this.script[this.position];
    this.only.fill(0);
    this.only[token >> 3] |= 1 << (token & 7);
    return this.only;
  }

  accept(token: number): void {
    this.position++;
    this.inner.accept(token);
  }

  isComplete(): boolean {
    return this.inner.isComplete();
  }
}

describe("jump-forward decoding of constrained tool calls", () => {
  let model: Model;
  let oracle: Oracle;

  beforeAll(async () => {
    // The default kernels compute a position the same way in a chunk (a jump) and in a decode step, so
    // with and without jump-forward the model sees the same bits wherever the tokens agree.
    model = await loadModel(models.tinyPhi4);
  });
  afterAll(async () => {
    await model?.dispose();
    await oracle?.release();
  });

  const promptFor = (m: Model, tool: ToolDefinition) =>
    m.tokenizer.encode(
      renderToolPrompt(m.tokenizer, { messages: [{ role: "user", content: `Use ${tool.name}.` }], tools: [tool], toolChoice: { type: "any" } }).prompt,
    );
  const constraintFor = (m: Model, tool: ToolDefinition) => createToolConstraint(m, [tool], { mode: "call", budget: MAX_TOKENS });

  /** One greedy constrained generation from `prompt`; its streamed text too. */
  async function generate(sequence: Sequence, prompt: number[], constraint: TokenConstraint, jumpForward: boolean) {
    const generation = sequence.generate(prompt, { maxTokens: MAX_TOKENS, sampling: GREEDY, constraint, append: false, jumpForward });
    let streamed = "";
    for await (const chunk of generation) streamed += chunk.text;
    return { result: await generation.result, streamed };
  }

  /** Jump-forward on `tool` with a fresh sequence of `m`, recorded. */
  async function jumped(m: Model, tool: ToolDefinition) {
    const sequence = await m.createSequence();
    const recorder = new Recorder(await constraintFor(m, tool));
    const prompt = promptFor(m, tool);
    const run = await generate(sequence, prompt, recorder, true);
    return { ...run, recorder, prompt, sequence };
  }

  let saved = { tokens: 0, sampled: 0 };

  for (const tool of TOOLS) {
    it(`${tool.name}: the same tokens and calls as token-by-token decoding, with real tokenizations at the seams`, async () => {
      const a = await jumped(model, tool);
      await a.sequence.dispose();
      const { result, recorder } = a;
      expect(recorder.tokens).toEqual(result.tokens);
      expect(a.streamed).toBe(result.text);
      expect(result.text).toBe(model.tokenizer.decode(result.tokens));
      const calls = parseToolCalls(result.text.replace("<|/tool_call|>", ""), [tool]);
      expect(calls.errors).toEqual([]);
      expect(calls.calls.length).toBeGreaterThan(0);

      // Every tool has required properties: the opening and at least one property name are forced.
      expect(result.steps.jumps).toBeGreaterThan(0);
      expect(result.steps.sampled).toBe(recorder.sampledEver);
      expect(result.steps.jumpedTokens).toBe(recorder.jumps.reduce((n, j) => n + j.tokens.length, 0));
      expect(result.steps.sampled).toBeLessThan(result.tokens.length);
      saved = { tokens: saved.tokens + result.tokens.length, sampled: saved.sampled + recorder.sampled.filter(Boolean).length };

      // Each seam is a real tokenization: a jump's tokens are how the tokenizer ends the whole output's
      // text up to there (the output holds no special token before the closer).
      for (const jump of recorder.jumps) {
        const whole = model.tokenizer.encode(model.tokenizer.decode(jump.output), { allowSpecial: false });
        expect(whole.slice(-jump.tokens.length)).toEqual(jump.tokens);
      }

      // Token by token, with each jumped token as the only one allowed at its position.
      const sequence = await model.createSequence();
      const b = await generate(
        sequence,
        promptFor(model, tool),
        new Scripted(
          await constraintFor(model, tool),
          result.tokens,
          recorder.sampled.map((s) => !s),
          Math.ceil(model.folder.vocabSize / 8),
        ),
        false,
      );
      await sequence.dispose();
      expect(b.result.steps).toMatchObject({ sampled: result.tokens.length, jumps: 0, jumpedTokens: 0 });
      expect(b.result.tokens).toEqual(result.tokens);
      expect(parseToolCalls(b.result.text.replace("<|/tool_call|>", ""), [tool]).calls).toEqual(calls.calls);
    });
  }

  it("saves a share of the decode steps over the corpus", () => {
    // Filled by the tests above; each call's opening and required names are jumped.
    expect(saved.tokens).toBeGreaterThan(0);
    expect(saved.sampled / saved.tokens).toBeLessThan(1);
  });

  it("every token sampled after a jump is the oracle's under its mask, and the KV left by jumps gives the oracle's logits", async () => {
    oracle = await Oracle.load(models.tinyPhi4);
    // Full recomputation per position is slow: two tools, and the first token sampled after each jump.
    for (const tool of [TOOLS[0], TOOLS[4]]) {
      const { result, recorder, prompt, sequence } = await jumped(model, tool);
      expect(result.steps.jumps).toBeGreaterThan(0);
      for (let i = 1; i < result.tokens.length; i++) {
        if (!recorder.sampled[i] || recorder.sampled[i - 1]) continue;
        const mask = recorder.masks[i]!;
        const { logits, tolerance } = await oracle.reference([...prompt, ...result.tokens.slice(0, i)]);
        const masked = logits.map((v, t) => (mask[t >> 3] & (1 << (t & 7)) ? v : Number.NEGATIVE_INFINITY));
        const best = argmax(masked);
        const slack = tolerance * maxAbs(logits);
        expect(
          logits[result.tokens[i]],
          `${tool.name} step ${i}: token ${result.tokens[i]} where the oracle's masked argmax is ${best}`,
        ).toBeGreaterThanOrEqual(logits[best] - slack);
      }
      // The sequence holds the prompt and the output, the closer last (not yet evaluated).
      expect(sequence.tokens).toEqual([...prompt, ...result.tokens]);
      const engine = await sequence.evaluate([]);
      const reference = await oracle.reference([...prompt, ...result.tokens]);
      expect(relativeError(engine, reference.logits)).toBeLessThanOrEqual(reference.tolerance);
      await sequence.dispose();
    }
  }, 600_000);

  it("runs inside a context's batched decode: each sequence writes what it writes alone", async () => {
    const tools = TOOLS.slice(0, 3);
    const alone = [];
    for (const tool of tools) {
      const run = await jumped(model, tool);
      await run.sequence.dispose();
      alone.push(run.result.tokens);
    }
    const context = await model.createContext({ sequences: tools.length, capacity: 256 });
    const results = await Promise.all(
      tools.map(async (tool) => {
        const generation = await context.generate(promptFor(model, tool), {
          maxTokens: MAX_TOKENS,
          sampling: GREEDY,
          constraint: await constraintFor(model, tool),
        });
        return generation.result;
      }),
    );
    expect(results.map((r) => r.tokens)).toEqual(alone);
    expect(results.every((r) => r.steps.jumps > 0)).toBe(true);
    expect(context.stats.decodedTokens / context.stats.decodeSteps).toBeGreaterThan(1); // decode steps were still shared
    await context.dispose();
  });

  it("is on by default in a tool turn and off with jumpForward: false", async () => {
    const tool = TOOLS[0];
    const options = {
      messages: [{ role: "user" as const, content: "Use it." }],
      tools: [tool],
      toolChoice: { type: "any" as const },
      maxTokens: MAX_TOKENS,
      sampling: GREEDY,
    };
    const on = await generateToolTurn(model, options);
    const off = await generateToolTurn(model, { ...options, jumpForward: false });
    expect(on.toolCalls).toHaveLength(1);
    expect(off.toolCalls).toHaveLength(1);
    expect(on.generation.steps.jumps).toBeGreaterThan(0);
    expect(off.generation.steps).toMatchObject({ sampled: off.generation.tokens.length, jumps: 0, jumpedTokens: 0 });
  });
});
