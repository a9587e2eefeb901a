/**
 * Continuous batching: concurrent generations on a context share decode steps and still produce
 * exactly the greedy tokens of the same requests run one at a time (and of the oracle), with ONNX
 * Runtime's int4 kernel and with the addon's (whose rows are computed independently of each other).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, Phi4Error, type Model } from "../lib/index.js";
import { EXACT_ORACLE_OPTIONS, Oracle } from "./helpers/oracle.js";

const models = inject("models");
const greedy = { greedy: true };

function ids(count: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: count }, () => (x = (x * 1103515245 + 12345) % 2147483648) % 500);
}

describe("continuous batching", () => {
  let model: Model;
  let withInt4Kernel: Model;
  let oracle: Oracle;
  beforeAll(async () => {
    model = await loadModel(models.tiny, { ...EXACT_ORACLE_OPTIONS, prefillChunk: 16, prefixCache: false });
    withInt4Kernel = await loadModel(models.tiny, { prefillChunk: 16, prefixCache: false });
    oracle = await Oracle.load(models.tiny);
  });
  afterAll(async () => {
    await model.dispose();
    await withInt4Kernel.dispose();
    await oracle.release();
  });

  async function alone(prompt: number[], maxTokens: number, on = model): Promise<number[]> {
    const sequence = await on.createSequence({ capacity: 200 });
    const { tokens } = await sequence.generateText(prompt, { maxTokens, stopTokens: [], sampling: greedy });
    await sequence.dispose();
    return tokens;
  }

  it.each([
    { kernel: "ONNX Runtime's int4 kernel", pick: () => model, checkOracle: true },
    { kernel: "the addon's int4 kernel", pick: () => withInt4Kernel, checkOracle: false },
  ])("N concurrent requests (different prompt lengths and max tokens) equal the same requests one at a time ($kernel)", async ({ pick, checkOracle }) => {
    const on = pick();
    // Prompt lengths on both sides of tiny's RoPE switch (64) and longer than a prefill chunk (16).
    const requests = [
      { prompt: ids(5, 1), maxTokens: 20 },
      { prompt: ids(40, 2), maxTokens: 7 },
      { prompt: ids(23, 3), maxTokens: 30 },
      { prompt: ids(70, 4), maxTokens: 12 },
      { prompt: ids(60, 5), maxTokens: 15 }, // crosses the switch while decoding
      { prompt: ids(2, 6), maxTokens: 25 },
    ];
    const expected = [];
    for (const r of requests) expected.push(await alone(r.prompt, r.maxTokens, on));
    const context = await on.createContext({ sequences: 6, capacity: 200 });
    const results = await Promise.all(requests.map((r) => context.generateText(r.prompt, { maxTokens: r.maxTokens, stopTokens: [], sampling: greedy })));
    expect(results.map((r) => r.tokens)).toEqual(expected);
    if (checkOracle) {
      await oracle.expectGreedy(requests[3].prompt, expected[3], 12);
      await oracle.expectGreedy(requests[4].prompt, expected[4], 15);
    }
    const stats = context.stats;
    expect(stats.decodedTokens / stats.decodeSteps).toBeGreaterThan(2); // steps really were shared
    expect(stats.prefillChunks).toBeGreaterThan(requests.length); // long prompts went in chunks
    await context.dispose();
  });

  it("idle sequences inside a batched range keep their KV exactly", async () => {
    const context = await model.createContext({ sequences: 3, capacity: 200 });
    const [a, b, c] = [context.getSequence(), context.getSequence(), context.getSequence()];
    const bFirst = await b.generateText(ids(30, 7), { maxTokens: 5, stopTokens: [], sampling: greedy });
    // a (slot 0) and c (slot 2) decode together; b (slot 1) sits idle inside their range.
    await Promise.all([
      a.generateText(ids(10, 8), { maxTokens: 25, stopTokens: [], sampling: greedy }),
      c.generateText(ids(50, 9), { maxTokens: 25, stopTokens: [], sampling: greedy }),
    ]);
    expect(context.stats.decodedTokens / context.stats.decodeSteps).toBeGreaterThan(1.5);
    const bMore = await b.generateText([], { maxTokens: 6, stopTokens: [], sampling: greedy });
    await oracle.expectGreedy([...ids(30, 7), ...bFirst.tokens], bMore.tokens, 6);
    await context.dispose();
  });

  it("cancelling one request leaves the others correct and frees its sequence", async () => {
    const context = await model.createContext({ sequences: 3, capacity: 200 });
    const controller = new AbortController();
    const prompts = [ids(8, 10), ids(12, 11), ids(9, 12)];
    const expected = await Promise.all(prompts.map((p) => alone(p, 30)));
    const generations = await Promise.all(
      prompts.map((p, i) => context.generate(p, { maxTokens: 30, stopTokens: [], sampling: greedy, signal: i === 1 ? controller.signal : undefined })),
    );
    let seen = 0;
    const cancelled = (async () => {
      for await (const chunk of generations[1]) if (chunk.token !== undefined && ++seen === 5) controller.abort();
    })();
    await expect(cancelled).rejects.toMatchObject({ code: "ABORTED" });
    expect((await generations[0].result).tokens).toEqual(expected[0]);
    expect((await generations[2].result).tokens).toEqual(expected[2]);
    expect(context.stats.active).toBe(0);
    // The freed sequence serves the next request correctly.
    const next = await context.generateText(prompts[1], { maxTokens: 30, stopTokens: [], sampling: greedy });
    expect(next.tokens).toEqual(expected[1]);
    await context.dispose();
  });

  it("requests beyond the sequences wait in a FIFO queue; past maxQueue they are OVERLOADED", async () => {
    const context = await model.createContext({ sequences: 2, capacity: 100, maxQueue: 2 });
    const run = (seed: number) => context.generateText(ids(6, seed), { maxTokens: 10, stopTokens: [], sampling: greedy });
    const accepted = [run(20), run(21), run(22), run(23)]; // 2 running + 2 queued
    const refused = await run(24).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Phi4Error);
    expect((refused as Phi4Error).code).toBe("OVERLOADED");
    const results = await Promise.all(accepted);
    for (const [i, r] of results.entries()) expect(r.tokens).toEqual(await alone(ids(6, 20 + i), 10));
    expect(context.stats).toMatchObject({ active: 0, queued: 0 });
    await context.dispose();
  });

  it("a request reuses a prefix another sequence of the context computed", async () => {
    const context = await model.createContext({ sequences: 2, capacity: 200 });
    const system = ids(30, 30);
    await context.generateText([...system, ...ids(4, 31)], { maxTokens: 3, stopTokens: [], sampling: greedy });
    const [x, y] = await Promise.all([
      context.generateText([...system, ...ids(5, 32)], { maxTokens: 8, stopTokens: [], sampling: greedy }),
      context.generateText([...system, ...ids(6, 33)], { maxTokens: 8, stopTokens: [], sampling: greedy }),
    ]);
    expect(x.usage.cachedTokens).toBeGreaterThanOrEqual(30);
    expect(y.usage.cachedTokens).toBeGreaterThanOrEqual(30);
    await oracle.expectGreedy([...system, ...ids(5, 32)], x.tokens, 8);
    await oracle.expectGreedy([...system, ...ids(6, 33)], y.tokens, 8);
    await context.dispose();
  });

  it("getSequence is BUSY when every sequence is taken; a disposed sequence frees its slot", async () => {
    const context = await model.createContext({ sequences: 1, capacity: 32 });
    const only = context.getSequence();
    expect(() => context.getSequence()).toThrow(expect.objectContaining({ code: "BUSY" }));
    await only.dispose();
    const again = context.getSequence();
    expect((await again.generateText([1, 2, 3], { maxTokens: 4, stopTokens: [], sampling: greedy })).tokens).toEqual(await alone([1, 2, 3], 4));
    await context.dispose();
  });
});
