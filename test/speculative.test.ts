/**
 * Speculative decoding against plain decoding on the tiny random models.
 *
 * Why equality is asked for, not a tolerance: a verify run computes the pending token and its draft
 * as one chunk, plain decoding one position per run. Every operator of the graph computes a position's
 * output from that position's row alone and in the same order whatever the number of rows (the
 * attention kernel and ONNX Runtime's attention take each query row's keys in the same blocks; the
 * int4 kernel's tiles compute every row alike whatever their number; norms and the rest are row-wise), so a
 * draft position's logits and KV are the very bits plain decoding computes (docs/speculative.md).
 * The tests hold that: greedy tokens equal, the KV and next logits after a rejection equal to the bit.
 *
 * The random models do not repeat their context on their own, so the verify steps are driven with
 * drafts made from plain decoding's own output (hits) with tokens changed (misses); generate() is
 * run on prompts that repeat themselves, where the random models fall into the loops prompt lookup
 * catches, and on prompts that do not.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import type { Sequence } from "../lib/engine/sequence.js";
import type { GenerationChunk, TokenConstraint } from "../lib/engine/generation.js";
import { startServer } from "../lib/server/index.js";
import { EXACT_ORACLE_OPTIONS, Oracle, tokenIds } from "./helpers/oracle.js";
import { metric } from "./helpers/server-metrics.js";

const models = inject("models");
const GREEDY = { greedy: true, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 };

/** A prompt that repeats a random run of tokens, so prompt lookup finds matches. */
function repeatingPrompt(length: number, vocab: number, seed: number): number[] {
  const run = tokenIds(Math.max(4, Math.floor(length / 3)), vocab, seed);
  const out: number[] = [];
  while (out.length < length) out.push(...run);
  return out.slice(0, length);
}

describe.each([
  { name: "tiny", dir: models.tiny, options: {} },
  { name: "tiny (ONNX Runtime's kernels, fp32 KV)", dir: models.tiny, options: EXACT_ORACLE_OPTIONS },
  { name: "tiny-phi4", dir: models.tinyPhi4, options: {} },
])("$name", ({ dir, options }) => {
  let model: Model;
  let vocab: number;

  beforeAll(async () => {
    model = await loadModel(dir, options);
    vocab = Math.min(model.folder.vocabSize, 5000);
  });
  afterAll(() => model.dispose());

  /** Plain greedy decoding's tokens after `prompt`, on a sequence that is then returned (length prompt + count). */
  async function plain(prompt: number[], count: number): Promise<{ tokens: number[]; sequence: Sequence }> {
    const sequence = await model.createSequence({ capacity: 200 });
    const result = await sequence.generateText(prompt, { maxTokens: count, stopTokens: [], sampling: { greedy: true }, speculative: false });
    return { tokens: result.tokens, sequence };
  }

  it.each([
    { label: "short prompt", promptLength: 6 },
    { label: "verify runs that cross the LongRoPE switch (tiny: 64)", promptLength: 50 },
  ])("verify steps with hits and misses keep plain greedy's tokens and leave the KV exactly as plain decoding: $label", async ({ promptLength }) => {
    const prompt = tokenIds(promptLength, vocab, promptLength + 3);
    const count = 48;
    const reference = await plain(prompt, count);
    const expected = reference.tokens;

    const sequence = await model.createSequence({ capacity: 200 });
    const first = await sequence.step(prompt, { sampling: GREEDY });
    const got = [first.token!];
    let misses = 0;
    let hits = 0;
    for (let step = 0; got.length < count; step++) {
      const length = 1 + (step % 11); // verify runs of 2 to 12 rows (past the int4 kernel's tiles of 4 and 8 rows)
      const draft = expected.slice(got.length, got.length + length);
      // Every other draft is wrong at one position (a miss there); the rest are the plain tokens (hits).
      const wrongAt = step % 2 === 1 ? step % draft.length : -1;
      if (wrongAt >= 0) draft[wrongAt] = (draft[wrongAt] + 1) % vocab;
      const result = await sequence.step([], { sampling: GREEDY, draft });
      const accepted = result.accepted!;
      const kept = draft.slice(0, wrongAt >= 0 ? wrongAt : draft.length);
      // The native side cuts a draft where it would cross the LongRoPE switch; what it checked matches.
      expect(accepted).toEqual(kept.slice(0, accepted.length));
      if (accepted.length < kept.length) expect(sequence.length - 1).toBe(model.folder.ropeOriginalLength);
      hits += accepted.length;
      if (wrongAt >= 0 && accepted.length === wrongAt) misses++;
      got.push(...accepted, result.token!);
    }
    expect(got.slice(0, count)).toEqual(expected);
    expect(hits).toBeGreaterThan(10);
    expect(misses).toBeGreaterThanOrEqual(3);

    // The same tokens, and the same KV: the spec sequence may be past `count` by its last step's bonus.
    sequence.truncate(prompt.length + count);
    expect(sequence.tokens).toEqual(reference.sequence.tokens);
    const kvLength = Math.min(sequence.evaluatedTokens.length, reference.sequence.evaluatedTokens.length);
    const [a, b] = await Promise.all([stateBytes(sequence, kvLength), stateBytes(reference.sequence, kvLength)]);
    expect(Buffer.compare(a, b)).toBe(0);
    // And the next step's logits, to the bit.
    const next = (prompt[0] + 1) % vocab;
    const [la, lb] = await Promise.all([sequence.evaluate([next]), reference.sequence.evaluate([next])]);
    expect(Buffer.compare(Buffer.from(la.buffer), Buffer.from(lb.buffer))).toBe(0);
    await sequence.dispose();
    await reference.sequence.dispose();
  });

  it("generate: the same tokens, text and stream with speculation as without, on prompts that repeat and prompts that do not, across the switch", async () => {
    let drafted = 0;
    let accepted = 0;
    for (const [length, seed, repeat, looping] of [
      [12, 1, true, false],
      [40, 2, true, false],
      [50, 3, false, false],
      [70, 4, true, false],
      [20, 5, false, true],
    ] as const) {
      const prompt = repeat ? repeatingPrompt(length, vocab, seed) : tokenIds(length, vocab, seed);
      const runs = [];
      for (const speculative of [false, true]) {
        const sequence = await model.createSequence({ capacity: 200 });
        const chunks: GenerationChunk[] = [];
        // One-token matches too (minNgram 1): the random models repeat little, and this test needs drafts.
        const generation = sequence.generate(prompt, {
          maxTokens: 48,
          stopTokens: [],
          sampling: { greedy: true },
          speculative: speculative && { minNgram: 1 },
          // Whether a random model repeats itself depends on its numerics, so one run makes it: a
          // loop of 3 tokens first, whose drafts are accepted on any CPU, then free output that
          // reads the KV those accepted drafts wrote.
          constraint: looping ? new LoopThenFreeConstraint(model.folder.vocabSize, tokenIds(3, vocab, seed), 24) : undefined,
        });
        for await (const chunk of generation) chunks.push(chunk);
        runs.push({ result: await generation.result, chunks, tokens: sequence.tokens });
        await sequence.dispose();
      }
      const [off, on] = runs;
      expect(on.result.tokens).toEqual(off.result.tokens);
      expect(on.result.text).toBe(off.result.text);
      expect(on.chunks).toEqual(off.chunks);
      expect(on.tokens).toEqual(off.tokens);
      expect(on.result.stopReason).toBe("max_tokens");
      expect(off.result.steps.drafts).toBe(0);
      drafted += on.result.steps.draftedTokens;
      accepted += on.result.steps.acceptedTokens;
      const { steps, timings } = on.result;
      expect(timings.tokensPerStep).toBeCloseTo(steps.sampled / (steps.sampled - steps.acceptedTokens), 12);
    }
    // Both kinds of step happened.
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(drafted);
  });

  it("stops inside an accepted run where plain decoding stops: max_tokens and stop strings, with the same text", async () => {
    const prompt = repeatingPrompt(24, vocab, 9);
    const full = await plain(prompt, 40);
    await full.sequence.dispose();
    const text = model.tokenizer.decode(full.tokens);
    const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
    for (const options of [{ maxTokens: 17 }, { maxTokens: 23 }, { maxTokens: 40, stop: [stop] }]) {
      const results = [];
      for (const speculative of [false, true]) {
        const sequence = await model.createSequence({ capacity: 200 });
        results.push({
          result: await sequence.generateText(prompt, { ...options, stopTokens: [], sampling: { greedy: true }, speculative }),
          tokens: sequence.tokens,
        });
        await sequence.dispose();
      }
      expect(results[1].result.tokens).toEqual(results[0].result.tokens);
      expect(results[1].result.text).toBe(results[0].result.text);
      expect(results[1].result.stopReason).toBe(results[0].result.stopReason);
      expect(results[1].result.stopSequence).toBe(results[0].result.stopSequence);
      expect(results[1].tokens).toEqual(results[0].tokens);
    }
  });

  it("in a context: concurrent generations with speculation write what each writes alone without it", async () => {
    const prompts = [repeatingPrompt(20, vocab, 21), tokenIds(15, vocab, 22), repeatingPrompt(30, vocab, 23)];
    const alone: number[][] = [];
    for (const prompt of prompts) {
      const { tokens, sequence } = await plain(prompt, 32);
      alone.push(tokens);
      await sequence.dispose();
    }
    const context = await model.createContext({ sequences: 3, capacity: 200 });
    // Staggered lengths: the sequences run alone (verifying drafts) and together (batched) in turn.
    const results = await Promise.all(
      prompts.map((prompt, i) => context.generateText(prompt, { maxTokens: 32 - 8 * i, stopTokens: [], sampling: { greedy: true } })),
    );
    results.forEach((result, i) => expect(result.tokens).toEqual(alone[i].slice(0, 32 - 8 * i)));
    await context.dispose();
  });

  it("in a context: drafts verified inside batched steps (rows padded to the longest draft) keep each sequence's plain greedy output", async () => {
    const prompts = [repeatingPrompt(20, vocab, 41), repeatingPrompt(24, vocab, 42), tokenIds(18, vocab, 43), repeatingPrompt(28, vocab, 44)];
    // The last one loops first (as in the generate test above), so some drafts are accepted on any CPU.
    const constraintFor = (i: number) => (i === 3 ? new LoopThenFreeConstraint(model.folder.vocabSize, tokenIds(3, vocab, 45), 16) : undefined);
    const alone: number[][] = [];
    for (const [i, prompt] of prompts.entries()) {
      const sequence = await model.createSequence({ capacity: 200 });
      const options = { maxTokens: 40, stopTokens: [], sampling: { greedy: true }, speculative: false, constraint: constraintFor(i) };
      alone.push((await sequence.generateText(prompt, options)).tokens);
      await sequence.dispose();
    }
    const context = await model.createContext({ sequences: prompts.length, capacity: 200 });
    // batchRows 32: every sequence may draft inside the batched steps, on any CPU (the default keeps
    // a step within half the int4 kernel's register tile, which on AVX2 leaves 4 sequences no room).
    const speculative = { batchRows: 32 };
    const results = await Promise.all(
      prompts.map((prompt, i) =>
        context.generateText(prompt, { maxTokens: 40, stopTokens: [], sampling: { greedy: true }, speculative, constraint: constraintFor(i) }),
      ),
    );
    results.forEach((result, i) => expect(result.tokens).toEqual(alone[i]));
    // The four decode side by side nearly all the time: drafts were verified in batched steps, and
    // some were accepted there.
    expect(context.stats.batchedDrafts).toBeGreaterThan(0);
    expect(results.reduce((sum, r) => sum + r.steps.acceptedTokens, 0)).toBeGreaterThan(0);
    await context.dispose();
  });

  it("speculative: false drafts nothing; a bad tuning is INVALID_ARGUMENT", async () => {
    const sequence = await model.createSequence({ capacity: 200 });
    const result = await sequence.generateText(repeatingPrompt(30, vocab, 5), { maxTokens: 20, stopTokens: [], speculative: false });
    expect(result.steps.drafts).toBe(0);
    expect(result.timings.tokensPerStep).toBe(1);
    await expect(sequence.generateText([1, 2, 3], { maxTokens: 4, speculative: { maxDraft: 0 } })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await sequence.dispose();
  });
});

describe("greedy speculation against the oracle", () => {
  it("tiny, across the LongRoPE switch: the oracle's greedy choices (teacher forcing)", async () => {
    const model = await loadModel(models.tiny, EXACT_ORACLE_OPTIONS);
    const oracle = await Oracle.load(models.tiny);
    try {
      const prompt = repeatingPrompt(52, Math.min(model.folder.vocabSize, 5000), 31);
      const sequence = await model.createSequence({ capacity: 200 });
      const result = await sequence.generateText(prompt, { maxTokens: 24, stopTokens: [], sampling: { greedy: true } });
      expect(result.steps.drafts).toBeGreaterThan(0);
      await oracle.expectGreedy(prompt, result.tokens, 24);
      await sequence.dispose();
    } finally {
      await model.dispose();
      await oracle.release();
    }
  });
});

/** The KV of the first `length` positions of a sequence. */
async function stateBytes(sequence: Sequence, length: number): Promise<Buffer> {
  const state = await sequence.saveState();
  // [layer][K, V][kv head][position][head_size]: the first `length` positions of every region.
  const regions = state.layers * 2 * state.kvHeads;
  const row = state.kv.byteLength / (regions * state.kvLength);
  const parts: Buffer[] = [];
  for (let r = 0; r < regions; r++) parts.push(Buffer.from(state.kv.buffer, state.kv.byteOffset + r * state.kvLength * row, length * row));
  return Buffer.concat(parts);
}

/** Allows only loop[i % loop.length] at output positions i < count, then any token. */
class LoopThenFreeConstraint implements TokenConstraint {
  private position = 0;
  constructor(
    private readonly vocab: number,
    private readonly loop: readonly number[],
    private readonly count: number,
  ) {}
  allowedTokens(): Uint8Array | null {
    if (this.position >= this.count) return null;
    const token = this.loop[this.position % this.loop.length];
    const mask = new Uint8Array(Math.ceil(this.vocab / 8));
    mask[token >> 3] = 1 << (token & 7);
    return mask;
  }
  accept(): void {
    this.position++;
  }
  isComplete(): boolean {
    return false;
  }
  fork(): LoopThenFreeConstraint {
    return Object.assign(new LoopThenFreeConstraint(this.vocab, this.loop, this.count), { position: this.position });
  }
}

/** Allows, at output position i, only tokens t with t % 3 !== i % 3 (so some drafted tokens are forbidden). */
class RotatingConstraint implements TokenConstraint {
  private position = 0;
  constructor(private readonly vocab: number) {}
  allowedTokens(): Uint8Array {
    const mask = new Uint8Array(Math.ceil(this.vocab / 8));
    for (let t = 0; t < this.vocab; t++) if (t % 3 !== this.position % 3) mask[t >> 3] |= 1 << (t & 7);
    return mask;
  }
  accept(token: number): void {
    if (token % 3 === this.position % 3) throw new Error(`token ${token} was not allowed at ${this.position}`);
    this.position++;
  }
  isComplete(): boolean {
    return false;
  }
  fork(): RotatingConstraint {
    return Object.assign(new RotatingConstraint(this.vocab), { position: this.position });
  }
}

describe("with a constraint and with sampling", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(models.tiny);
  });
  afterAll(() => model.dispose());

  it("a constrained generation drafts only what the constraint allows, and writes what plain decoding writes", async () => {
    const vocab = model.folder.vocabSize;
    let drafted = 0;
    for (const seed of [41, 42, 43]) {
      const prompt = repeatingPrompt(30, vocab, seed);
      const runs = [];
      for (const speculative of [false, true]) {
        const sequence = await model.createSequence({ capacity: 200 });
        runs.push(
          await sequence.generateText(prompt, {
            maxTokens: 40,
            stopTokens: [],
            sampling: { greedy: true },
            speculative,
            constraint: new RotatingConstraint(vocab),
          }),
        );
        await sequence.dispose();
      }
      expect(runs[1].tokens).toEqual(runs[0].tokens);
      drafted += runs[1].steps.draftedTokens;
    }
    expect(drafted).toBeGreaterThan(0);
  });

  it("seeded sampling with speculation is reproducible", async () => {
    const prompt = repeatingPrompt(30, model.folder.vocabSize, 51);
    const sample = async () => {
      const sequence = await model.createSequence({ capacity: 200 });
      const result = await sequence.generateText(prompt, {
        maxTokens: 40,
        stopTokens: [],
        sampling: { temperature: 0.7, seed: 7 },
        speculative: { minNgram: 1 },
      });
      await sequence.dispose();
      return result;
    };
    const [a, b] = [await sample(), await sample()];
    expect(b.tokens).toEqual(a.tokens);
    expect(a.steps.drafts).toBeGreaterThan(0);
  });

  it("the rejection rule leaves the sampling distribution unchanged: a drafted token is emitted as often as sampling picks it", async () => {
    const prompt = tokenIds(10, model.folder.vocabSize, 61);
    const sequence = await model.createSequence({ capacity: 64 });
    const logits = await sequence.evaluate(prompt);
    // Top-3 at temperature 1: p over three tokens; the draft is the second most likely.
    const top = [...logits.keys()].sort((a, b) => logits[b] - logits[a]).slice(0, 3);
    const weights = top.map((t) => Math.exp(logits[t] - logits[top[0]]));
    const total = weights.reduce((a, b) => a + b, 0);
    const p = weights.map((w) => w / total);
    const sampling = { greedy: false, temperature: 1, topK: 3, topP: 1, repetitionPenalty: 1 };
    const n = 3000;
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const result = await sequence.step([], { sampling, draft: [top[1]] });
      const first = result.accepted!.length > 0 ? result.accepted![0] : result.token!;
      counts.set(first, (counts.get(first) ?? 0) + 1);
      sequence.truncate(prompt.length);
    }
    expect([...counts.keys()].every((t) => top.includes(t))).toBe(true);
    top.forEach((t, i) => {
      const sigma = Math.sqrt((p[i] * (1 - p[i])) / n);
      expect(Math.abs((counts.get(t) ?? 0) / n - p[i]), `token ${t}: p ${p[i]}`).toBeLessThan(5 * sigma + 1e-9);
    });
    await sequence.dispose();
  });
});

describe("reporting", () => {
  it("the model counts every generation's speculation, and the server's /metrics reports it", async () => {
    const model = await loadModel(models.tinyPhi4);
    const server = await startServer({ model, port: 0, maxConcurrency: 1, capacity: 200 });
    try {
      const words = "alpha beta gamma delta epsilon zeta eta theta ".repeat(4);
      const res = await fetch(`${server.url}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "phi4", max_tokens: 24, temperature: 0, messages: [{ role: "user", content: words }] }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { usage: { output_tokens: number } };
      const stats = model.speculativeStats;
      expect(stats.sampled).toBe(body.usage.output_tokens);
      expect(await metric(server, "phi4_decode_sampled_tokens_total")).toBe(stats.sampled);
      expect(await metric(server, "phi4_speculative_steps_total")).toBe(stats.drafts);
      expect(await metric(server, "phi4_speculative_drafted_tokens_total")).toBe(stats.draftedTokens);
      expect(await metric(server, "phi4_speculative_accepted_tokens_total")).toBe(stats.acceptedTokens);
      expect(await metric(server, "phi4_decode_tokens_per_step")).toBeCloseTo(stats.sampled / (stats.sampled - stats.acceptedTokens), 9);
    } finally {
      await server.close();
      await model.dispose();
    }
  });
});
