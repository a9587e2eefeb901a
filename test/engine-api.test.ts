/** The TypeScript engine API on the tiny-phi4 model: streaming, sampling, stops, rewind, Generator. */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { Generator, loadModel, runtimeInfo, type Model } from "../lib/index.js";
import { EXACT_ORACLE_OPTIONS, Oracle } from "./helpers/oracle.js";

const models = inject("models");

describe("engine API", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(models.tinyPhi4, EXACT_ORACLE_OPTIONS);
  });
  afterAll(() => model.dispose());

  it("reports the loaded ONNX Runtime and its providers", () => {
    const info = runtimeInfo();
    expect(info.version).toMatch(/^1\.\d+\.\d+/);
    expect(info.apiVersion).toBeGreaterThanOrEqual(21);
    expect(info.providers).toContain("CPUExecutionProvider");
  });

  it("exposes the session's I/O and preallocated KV facts", () => {
    expect(model.info.inputNames).toContain("input_ids");
    expect(model.info.kvType).toBe("float32");
    expect(model.info.hasPositionIds).toBe(false);
    expect(model.info.kvBytesPerToken).toBe(2 * 2 * 2 * 64 * 4); // layers * (K,V) * kv heads * head * fp32
  });

  it("streams chunks whose text adds up to the result, from a text prompt", async () => {
    const sequence = await model.createSequence({ capacity: 256 });
    const generation = sequence.generate("Hello, world!", { maxTokens: 24, stopTokens: [] });
    let streamed = "";
    const tokens: number[] = [];
    for await (const chunk of generation) {
      streamed += chunk.text;
      if (chunk.token !== undefined) tokens.push(chunk.token);
    }
    const result = await generation.result;
    expect(streamed).toBe(result.text);
    expect(tokens).toEqual(result.tokens);
    expect(result.usage).toEqual({ promptTokens: model.tokenizer.encode("Hello, world!").length, outputTokens: 24, cachedTokens: 0 });
    expect(result.text).toBe(model.tokenizer.decode(result.tokens));
    expect(sequence.tokens).toEqual([...model.tokenizer.encode("Hello, world!"), ...result.tokens]);
    expect(result.timings.ttftMs).toBeGreaterThan(0);
    await sequence.dispose();
  });

  it("seeded sampling is reproducible and differs from greedy and across seeds", async () => {
    const run = async (sampling: object) => {
      const sequence = await model.createSequence({ capacity: 64 });
      const { tokens } = await sequence.generateText([10, 20, 30], { maxTokens: 16, stopTokens: [], sampling });
      await sequence.dispose();
      return tokens;
    };
    const a = await run({ temperature: 1.5, topK: 50, topP: 0.95, seed: 42 });
    const b = await run({ temperature: 1.5, topK: 50, topP: 0.95, seed: 42 });
    const c = await run({ temperature: 1.5, topK: 50, topP: 0.95, seed: 43 });
    const greedy = await run({ greedy: true });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a).not.toEqual(greedy);
    // Pure temperature sampling (no top-k/top-p) and a repetition penalty also run.
    expect(await run({ temperature: 0.8, seed: 1 })).toHaveLength(16);
    const penalised = await run({ greedy: true, repetitionPenalty: 10 });
    expect(new Set(penalised).size).toBeGreaterThan(new Set(greedy).size - 1);
  });

  it("top-k 1 is greedy", async () => {
    const s1 = await model.createSequence({ capacity: 64 });
    const s2 = await model.createSequence({ capacity: 64 });
    const a = await s1.generateText([5, 6, 7], { maxTokens: 10, stopTokens: [], sampling: { greedy: true } });
    const b = await s2.generateText([5, 6, 7], { maxTokens: 10, stopTokens: [], sampling: { temperature: 1, topK: 1, seed: 9 } });
    expect(b.tokens).toEqual(a.tokens);
    await Promise.all([s1.dispose(), s2.dispose()]);
  });

  it("a token constraint's mask is applied in native code before sampling", async () => {
    const vocab = model.folder.vocabSize;
    const allowedSet = [11, 222, 3333, vocab - 1];
    const mask = new Uint8Array(Math.ceil(vocab / 8));
    for (const id of allowedSet) mask[id >> 3] |= 1 << (id & 7);
    const accepted: number[] = [];
    const constraint = {
      allowedTokens: () => mask,
      accept: (token: number) => void accepted.push(token),
      isComplete: () => accepted.length === 12,
    };
    const sequence = await model.createSequence({ capacity: 64 });
    for (const sampling of [{ greedy: true }, { temperature: 2, seed: 3 }, { temperature: 1, topP: 0.5, seed: 4 }]) {
      accepted.length = 0;
      sequence.rewind(0);
      const result = await sequence.generateText([1, 2, 3], { maxTokens: 40, stopTokens: [], sampling, constraint });
      expect(result.tokens).toHaveLength(12);
      expect(result.stopReason).toBe("stop");
      expect(result.tokens.every((t) => allowedSet.includes(t))).toBe(true);
      expect(accepted).toEqual(result.tokens);
    }
    sequence.rewind(0);
    const none = { allowedTokens: () => new Uint8Array(Math.ceil(vocab / 8)), accept: () => {}, isComplete: () => false };
    await expect(sequence.generateText([1], { constraint: none })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await sequence.dispose();
  });

  it("stops on a stop string without emitting it", async () => {
    const sequence = await model.createSequence({ capacity: 128 });
    const free = await sequence.generateText([1, 2, 3], { maxTokens: 30, stopTokens: [], sampling: { greedy: true } });
    // Use a piece of the greedy text as the stop string: the same run must stop right before it.
    const stop = free.text.slice(8, 11);
    expect(stop.length).toBe(3);
    sequence.rewind(0);
    const stopped = await sequence.generateText([1, 2, 3], { maxTokens: 30, stopTokens: [], stop: [stop], sampling: { greedy: true } });
    expect(stopped.stopReason).toBe("stop");
    expect(stopped.text).toBe(free.text.slice(0, free.text.indexOf(stop)));
    await sequence.dispose();
  });

  it("stops on end-of-sequence tokens and reports eos", async () => {
    const sequence = await model.createSequence({ capacity: 64 });
    const free = await sequence.generateText([1, 2, 3], { maxTokens: 10, stopTokens: [], sampling: { greedy: true } });
    sequence.rewind(0);
    const eos = free.tokens[4];
    const result = await sequence.generateText([1, 2, 3], { maxTokens: 10, stopTokens: [eos], sampling: { greedy: true } });
    expect(result.stopReason).toBe("eos");
    expect(result.tokens).toEqual(free.tokens.slice(0, free.tokens.indexOf(eos) + 1));
    await sequence.dispose();
  });

  it("rewind then continue gives the same greedy tokens, and multi-turn appends", async () => {
    const sequence = await model.createSequence({ capacity: 128 });
    const first = await sequence.generateText([7, 8, 9], { maxTokens: 12, stopTokens: [], sampling: { greedy: true } });
    sequence.rewind(3 + 5);
    expect(sequence.tokens).toEqual([7, 8, 9, ...first.tokens.slice(0, 5)]);
    const resumed = await sequence.generateText([], { maxTokens: 7, stopTokens: [], sampling: { greedy: true } });
    expect(resumed.tokens).toEqual(first.tokens.slice(5, 12));
    // A second turn continues from the sequence's state: same as running the whole thing at once.
    const turn = await sequence.generateText([42, 43], { maxTokens: 5, stopTokens: [], sampling: { greedy: true } });
    const oracle = await Oracle.load(models.tinyPhi4);
    await oracle.expectGreedy([7, 8, 9, ...first.tokens.slice(0, 12), 42, 43], turn.tokens, 5);
    await oracle.release();
    await sequence.dispose();
  });

  it("the onnxruntime-genai style Generator gives the same tokens as generate", async () => {
    const prompt = model.tokenizer.encode(model.tokenizer.applyChatTemplate([{ role: "user", content: "Hi there" }]));
    const sequence = await model.createSequence({ capacity: 128 });
    const expected = await sequence.generateText(prompt, { maxTokens: 10, stopTokens: [], sampling: { greedy: true } });
    await sequence.dispose();

    const generator = await Generator.create(model, { maxLength: prompt.length + 10, sampling: { greedy: true } });
    await generator.appendTokens(prompt);
    const out: number[] = [];
    while (!generator.isDone()) {
      await generator.generateNextToken();
      out.push(...generator.getNextTokens());
      if (out.length === 10) break;
    }
    expect(out).toEqual(expected.tokens);
    expect(generator.getSequence()).toEqual([...prompt, ...out]);
    expect((await generator.getLogits()).length).toBe(model.folder.vocabSize);
    await generator.dispose();
  });

  it("disposing the model disposes its sequences", async () => {
    const other = await loadModel(models.tiny);
    const sequence = await other.createSequence({ capacity: 256 });
    const generation = sequence.generate([1, 2], { stopTokens: [] });
    const running = generation.result;
    await generation[Symbol.asyncIterator]().next(); // in flight for sure (and not aborted by a break)
    await other.dispose();
    expect(sequence.isDisposed).toBe(true);
    await expect(running).rejects.toMatchObject({ code: "ABORTED" });
    expect(sequence.length).toBeLessThan(20); // stopped at once, not run to the capacity
  });
});
