/**
 * KV that grows on demand: host KV is reserved for the whole capacity (by default the model's context
 * length) and backed as sequences grow, within the context's KV memory budget. A sequence growing
 * across many pages and past the LongRoPE switch still equals the oracle, and so do batched steps
 * whose filler row (an idle slot, its dummy token at position 0) leaves that slot exactly as it was.
 * The budget is enforced with KV_MEMORY_EXCEEDED before anything changes (a generation that reaches
 * it stops with "kv_memory"); memory goes back on rewind and dispose, in the accounting and, on
 * Linux, in the resident set.
 */
import { readFileSync } from "node:fs";

import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";

import { defaultKvMemory, parseByteSize } from "../lib/engine/kv-memory.js";
import { loadModel, type Model } from "../lib/index.js";
import { EXACT_ORACLE_OPTIONS, Oracle } from "./helpers/oracle.js";

const models = inject("models");
const greedy = { greedy: true };

function ids(count: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: count }, () => (x = (x * 1103515245 + 12345) % 2147483648) % 500);
}

/** This process's resident set in bytes (Linux: /proc/self/statm counts pages). */
function residentBytes(): number {
  return Number(readFileSync("/proc/self/statm", "utf8").split(" ")[1]) * 4096;
}

describe("KV that grows on demand", () => {
  let model: Model;
  let oracle: Oracle;
  let bytesPerToken: number;
  beforeAll(async () => {
    // Prefill chunks of 7 positions: chunk ends fall inside pages (16 positions of 256 bytes per page
    // and region for the tiny model), never on their boundaries.
    model = await loadModel(models.tiny, { ...EXACT_ORACLE_OPTIONS, prefillChunk: 7, prefixCache: false });
    oracle = await Oracle.load(models.tiny);
    bytesPerToken = model.info.kvBytesPerToken;
  });
  afterAll(async () => {
    await model.dispose();
    await oracle.release();
  });

  it("host KV defaults to the context length as capacity, and starts with nothing backed", async () => {
    expect(model.info.kvOnHost).toBe(true);
    expect(model.defaultCapacity).toBe(model.contextLength);
    const context = await model.createContext({ sequences: 3 });
    expect(context.capacity).toBe(model.contextLength);
    expect(context.kvMemory).toEqual({ committed: 0, budget: model.kvMemory, releasing: 0, growsOnDemand: true });
    await context.dispose();
  });

  it("sequences growing across many pages and past the LongRoPE switch equal the oracle, decode and prefill alike", async () => {
    const context = await model.createContext({ sequences: 2 });
    const [decoded, prefilled] = [context.getSequence(), context.getSequence()];
    // 40 prompt tokens, then 60 decode steps: past original_max_position_embeddings (64), where every
    // position is recomputed under the long factors, and across 6 page boundaries of each region.
    const decodePrompt = ids(40, 3);
    const a = await decoded.generateText(decodePrompt, { maxTokens: 60, stopTokens: [], sampling: greedy });
    expect(decoded.length).toBe(100);
    // Every position but the last sampled token (evaluated by a next step) has backed KV.
    expect(context.kvMemory.committed).toBe(99 * bytesPerToken);
    await oracle.expectGreedy(decodePrompt, a.tokens, 60);

    // A prompt past the switch, prefilled in chunks of 7, then decoded alongside nothing.
    const prefillPrompt = ids(90, 4);
    const b = await prefilled.generateText(prefillPrompt, { maxTokens: 12, stopTokens: [], sampling: greedy });
    expect(context.kvMemory.committed).toBe((99 + 101) * bytesPerToken);
    await oracle.expectGreedy(prefillPrompt, b.tokens, 12);
    await context.dispose();
  });

  it("an idle sequence inside a batched range keeps its KV byte for byte and its accounting; the others equal the oracle", async () => {
    const context = await model.createContext({ sequences: 3 });
    const [a, idle, c] = [context.getSequence(), context.getSequence(), context.getSequence()];
    await idle.evaluate(ids(30, 11));
    const before = await idle.saveState();
    const [pa, pc] = [ids(12, 12), ids(50, 13)];
    const [ra, rc] = await Promise.all([
      a.generateText(pa, { maxTokens: 40, stopTokens: [], sampling: greedy }),
      c.generateText(pc, { maxTokens: 40, stopTokens: [], sampling: greedy }),
    ]);
    expect(context.stats.decodedTokens / context.stats.decodeSteps).toBeGreaterThan(1.5); // steps were shared, with a filler row
    expect(Buffer.from((await idle.saveState()).kv).equals(Buffer.from(before.kv))).toBe(true);
    expect(context.kvMemory.committed).toBe((30 + 51 + 89) * bytesPerToken);
    await oracle.expectGreedy(pa, ra.tokens, 40);
    await oracle.expectGreedy(pc, rc.tokens, 40);
    await context.dispose();
  });

  it("the budget is enforced with KV_MEMORY_EXCEEDED before anything changes; a generation that reaches it stops with kv_memory", async () => {
    const context = await model.createContext({ sequences: 2, kvMemory: 40 * bytesPerToken });
    const [a, b] = [context.getSequence(), context.getSequence()];
    await b.evaluate(ids(3, 5));
    expect(context.kvMemory.committed).toBe(3 * bytesPerToken);

    // a may back the 37 positions left: 20 of prompt, then tokens until the 38th has no room.
    const prompt = ids(20, 6);
    const result = await a.generateText(prompt, { maxTokens: 100, stopTokens: [], sampling: greedy });
    expect(result.stopReason).toBe("kv_memory");
    expect(result.tokens).toHaveLength(18);
    expect(a.length).toBe(38);
    expect(a.evaluatedTokens).toHaveLength(37);
    expect(context.kvMemory.committed).toBe(40 * bytesPerToken);
    await oracle.expectGreedy(prompt, result.tokens, 18);

    // Refused before anything changed: b's tokens and KV, and the accounting.
    const before = { tokens: b.tokens, evaluated: b.evaluatedTokens };
    const error = await b.evaluate(ids(5, 7)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "KV_MEMORY_EXCEEDED" });
    expect((error as Error).message).toMatch(/kvMemory \(--kv-memory\)/);
    expect({ tokens: b.tokens, evaluated: b.evaluatedTokens }).toEqual(before);
    expect(context.kvMemory.committed).toBe(40 * bytesPerToken);
    // A prompt that cannot fit at all fails before any prefill, with the numbers.
    await a.dispose();
    const c = context.getSequence();
    const tooLong = await c.generateText(ids(45, 8), { maxTokens: 1 }).catch((e: unknown) => e);
    expect(tooLong).toMatchObject({ code: "KV_MEMORY_EXCEEDED" });
    expect((tooLong as Error).message).toMatch(/needs 45 positions/);
    expect(c.length).toBe(0);

    // Once a's memory is back, b grows, and its next token is still the oracle's.
    const logits = await b.evaluate(ids(5, 7));
    const { logits: expected, tolerance } = await oracle.reference([...ids(3, 5), ...ids(5, 7)]);
    const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let i = 0; i < expected.length; i++) expect(Math.abs(logits[i] - expected[i])).toBeLessThanOrEqual(tolerance * scale);
    expect(context.kvMemory.committed).toBe(8 * bytesPerToken);
    await context.dispose();
  });

  it("a kvMemory that is not a positive integer is INVALID_ARGUMENT", async () => {
    await expect(model.createContext({ kvMemory: 0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(model.createSequence({ kvMemory: 1.5 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(loadModel(models.tiny, { kvMemory: -1 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("memory goes back on rewind and dispose: in the accounting, and in the resident set on Linux", async () => {
    // 64 sequences of 250 tokens: 64 * 250 * 2 KiB = 31 MiB of KV, far above the resident set's noise.
    const slots = 64;
    const length = 250;
    const full = slots * length * bytesPerToken;
    const context = await model.createContext({ sequences: slots });
    const sequences = Array.from({ length: slots }, () => context.getSequence());
    await sequences[0].evaluate(ids(length, 100)); // ORT's arenas grow to their prefill size first
    sequences[0].rewind(0);
    expect(context.kvMemory.committed).toBe(0);
    const linux = process.platform === "linux";
    const start = linux ? residentBytes() : 0;

    for (const [i, sequence] of sequences.entries()) await sequence.evaluate(ids(length, 200 + i));
    expect(context.kvMemory.committed).toBe(full);
    const grown = linux ? residentBytes() : 0;
    // Pages are backed whole: at least the KV itself, at most a page more per region of each slot.
    if (linux) expect(grown - start).toBeGreaterThan(0.9 * full);

    // Rewound far below their marks, the sequences give back the whole pages past 10 positions.
    // The accounting drops at once; the pages go back on a thread of their own (it takes about 0.1 s
    // per GiB, too long for the event loop): wait for it.
    for (const sequence of sequences) sequence.rewind(10);
    expect(context.kvMemory.committed).toBe(slots * 10 * bytesPerToken);
    expect(context.kvMemory.releasing).toBeLessThanOrEqual(slots * (length - 10) * bytesPerToken);
    await vi.waitFor(() => expect(context.kvMemory.releasing).toBe(0), { timeout: 10_000, interval: 5 });
    const rewound = linux ? residentBytes() : 0;
    // Per 64 KiB region, the first page (16 positions) stays: 15 of 16 pages go.
    if (linux) expect(grown - rewound).toBeGreaterThan(0.8 * full * (15 / 16));

    // A small rewind keeps its pages (they would be faulted in again at once).
    await sequences[0].evaluate(ids(40, 300));
    sequences[0].rewind(20);
    expect(context.kvMemory.committed).toBe((slots * 10 + 40) * bytesPerToken);

    // A disposed sequence gives back everything; so does the context.
    await sequences[0].dispose();
    expect(context.kvMemory.committed).toBe((slots - 1) * 10 * bytesPerToken);
    await context.dispose();
    expect(context.kvMemory.committed).toBe(0);
  });
});

describe("KV memory sizes", () => {
  it("parses sizes with binary units and refuses anything else", () => {
    expect(parseByteSize("8G")).toBe(8 * 1024 ** 3);
    expect(parseByteSize("512M")).toBe(512 * 1024 ** 2);
    expect(parseByteSize("1.5GiB")).toBe(1.5 * 1024 ** 3);
    expect(parseByteSize("64k")).toBe(64 * 1024);
    expect(parseByteSize("123456")).toBe(123456);
    for (const bad of ["", "lots", "-1G", "0", "8X", "1e9"]) expect(() => parseByteSize(bad, "--kv-memory")).toThrow(/--kv-memory must be a size such as 8G/);
  });

  it("defaults to half the machine's memory less the weights, at least 1 GiB", () => {
    const GiB = 1024 ** 3;
    expect(defaultKvMemory(5 * GiB, 32 * GiB)).toBe(11 * GiB);
    expect(defaultKvMemory(5 * GiB, 8 * GiB)).toBe(GiB);
  });
});
