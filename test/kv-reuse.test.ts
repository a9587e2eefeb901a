/**
 * KV reuse against the oracle: restoring a state, hitting the prefix cache (whole and partial),
 * branching from an idle sequence and crossing the LongRoPE switch must give exactly the greedy tokens
 * of a full recomputation. Corrupt and foreign states are typed errors that leave the target untouched.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { ChatSession, loadModel, Phi4Error, PrefixCache, type Model, type SequenceState } from "../lib/index.js";
import { makeModel } from "../lib/modelmaker/index.js";
import { EXACT_ORACLE_OPTIONS, Oracle } from "./helpers/oracle.js";

const models = inject("models");
const greedy = { greedy: true };

function ids(count: number, seed: number, vocab = 500): number[] {
  let x = seed;
  return Array.from({ length: count }, () => (x = (x * 1103515245 + 12345) % 2147483648) % vocab);
}

describe("KV reuse", () => {
  let model: Model;
  let oracle: Oracle;
  let scratch: string;

  beforeAll(async () => {
    model = await loadModel(models.tiny, { ...EXACT_ORACLE_OPTIONS, prefixCache: { minTokens: 4 } });
    oracle = await Oracle.load(models.tiny);
    scratch = await mkdtemp(path.join(os.tmpdir(), "phi4-kv-"));
  });
  afterAll(async () => {
    await model.dispose();
    await oracle.release();
    await rm(scratch, { recursive: true, force: true });
  });

  async function generate(input: number[], count: number, append = false, sequence?: Awaited<ReturnType<Model["createSequence"]>>) {
    const s = sequence ?? (await model.createSequence({ capacity: 200 }));
    const result = await s.generateText(input, { maxTokens: count, stopTokens: [], sampling: greedy, append });
    return { sequence: s, result };
  }

  it("restore then generate equals never having snapshotted (in memory and via a file)", async () => {
    const prompt = ids(20, 1);
    const { sequence: a, result: first } = await generate(prompt, 6, true);
    const state = await a.saveState({ note: "hello" });
    const file = path.join(scratch, "state.phi4kv");
    await a.saveStateFile(file, { note: "hello" });
    const continued = await a.generateText([], { maxTokens: 8, stopTokens: [], sampling: greedy });
    await oracle.expectGreedy([...prompt, ...first.tokens], continued.tokens, 8);
    const expected = continued.tokens;

    const b = await model.createSequence({ capacity: 200 });
    await b.restoreState(state);
    expect(b.tokens).toEqual([...prompt, ...first.tokens]);
    expect((await b.generateText([], { maxTokens: 8, stopTokens: [], sampling: greedy })).tokens).toEqual(expected);

    const c = await model.createSequence({ capacity: 200 });
    expect(await c.loadStateFile(file)).toEqual({ note: "hello" });
    const extra = [7, 8, 9];
    const appended = await c.generateText(extra, { maxTokens: 5, stopTokens: [], sampling: greedy });
    await oracle.expectGreedy([...prompt, ...first.tokens, ...extra], appended.tokens, 5);
    await Promise.all([a.dispose(), b.dispose(), c.dispose()]);
  });

  it("corrupt, truncated and foreign states are typed errors and leave the target untouched", async () => {
    const { sequence: source } = await generate(ids(12, 2), 3, true);
    const good = path.join(scratch, "good.phi4kv");
    await source.saveStateFile(good);
    const bytes = await readFile(good);

    const target = (await generate(ids(9, 3), 2, true)).sequence;
    const before = [...target.tokens];
    const cases: [string, Buffer][] = [
      ["truncated", bytes.subarray(0, bytes.length - 10)],
      [
        "flipped KV byte",
        Buffer.concat([bytes.subarray(0, bytes.length - 5), Buffer.from([bytes[bytes.length - 5] ^ 0xff]), bytes.subarray(bytes.length - 4)]),
      ],
      ["wrong magic", Buffer.concat([Buffer.from("NOTAKV!!"), bytes.subarray(8)])],
      ["garbage header", Buffer.concat([bytes.subarray(0, 12), Buffer.from("{{{{"), bytes.subarray(16)])],
      ["empty", Buffer.alloc(0)],
    ];
    for (const [name, data] of cases) {
      const file = path.join(scratch, `${name}.phi4kv`);
      await writeFile(file, data);
      await expect(target.loadStateFile(file), name).rejects.toMatchObject({ code: "STATE_INVALID" });
      expect(target.tokens, name).toEqual(before);
    }
    await expect(target.loadStateFile(path.join(scratch, "missing.phi4kv"))).rejects.toMatchObject({ code: "STATE_INVALID" });

    // A model with another seed has the same shapes but other weights: its fingerprint differs.
    const otherDir = path.join(scratch, "tiny-seed9");
    await makeModel({ preset: "tiny", outDir: otherDir, seed: 9 });
    const other = await loadModel(otherDir);
    const foreign = await other.createSequence({ capacity: 64 });
    await expect(foreign.loadStateFile(good)).rejects.toMatchObject({ code: "STATE_MISMATCH" });
    const state = await source.saveState();
    const error = await foreign.restoreState(state).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Phi4Error);
    expect((error as Phi4Error).code).toBe("STATE_MISMATCH");
    expect(foreign.tokens).toEqual([]);
    await other.dispose();

    // A state longer than the target's capacity is refused before anything is written.
    const small = await model.createSequence({ capacity: 8 });
    await expect(small.restoreState(state)).rejects.toMatchObject({ code: "CAPACITY_EXCEEDED" });
    expect(small.tokens).toEqual([]);

    // The target still works and is still right.
    const after = await target.generateText([], { maxTokens: 4, stopTokens: [], sampling: greedy });
    await oracle.expectGreedy(before, after.tokens, 4);
    await Promise.all([source.dispose(), target.dispose(), small.dispose()]);
  });

  it("prefix hit on the sequence's own KV: same system prompt, new question", async () => {
    const system = ids(30, 4);
    const { sequence, result: first } = await generate([...system, ...ids(5, 5)], 4);
    expect(first.usage.cachedTokens).toBe(0);
    const second = [...system, ...ids(6, 6)];
    const { result } = await generate(second, 6, false, sequence);
    expect(result.usage.cachedTokens).toBe(30);
    await oracle.expectGreedy(second, result.tokens, 6);
    await sequence.dispose();
  });

  it("prefix cache hit, whole and partial, from a state a sequence left behind", async () => {
    const conversation = ids(40, 7);
    const { sequence, result: first } = await generate(conversation, 5);
    // Switching this sequence to another conversation saves the first one to the prefix cache.
    await generate(ids(25, 8), 3, false, sequence);
    const hitsBefore = model.prefixCache!.stats.hits;

    const fresh = await model.createSequence({ capacity: 200 });
    const resent = [...conversation, ...first.tokens, ...ids(4, 9)]; // the Anthropic style: the whole conversation again
    const whole = await fresh.generateText(resent, { maxTokens: 6, stopTokens: [], sampling: greedy, append: false });
    expect(whole.usage.cachedTokens).toBe(conversation.length + first.tokens.length - 1); // the last sampled token was never evaluated
    await oracle.expectGreedy(resent, whole.tokens, 6);

    const other = await model.createSequence({ capacity: 200 });
    const partial = [...conversation.slice(0, 22), ...ids(5, 10)];
    const hit = await other.generateText(partial, { maxTokens: 6, stopTokens: [], sampling: greedy, append: false });
    expect(hit.usage.cachedTokens).toBe(22);
    await oracle.expectGreedy(partial, hit.tokens, 6);
    expect(model.prefixCache!.stats.hits).toBeGreaterThanOrEqual(hitsBefore + 2);
    await Promise.all([sequence.dispose(), fresh.dispose(), other.dispose()]);
  });

  it("branching: two continuations of one prefix, the second copied from the idle first", async () => {
    const prefix = ids(35, 11);
    const { sequence: a } = await generate([...prefix, 1, 2, 3], 5);
    const aTokens = [...a.tokens];
    const b = await model.createSequence({ capacity: 200 });
    const branch = [...prefix, 4, 5];
    const result = await b.generateText(branch, { maxTokens: 6, stopTokens: [], sampling: greedy, append: false });
    expect(result.usage.cachedTokens).toBe(35);
    await oracle.expectGreedy(branch, result.tokens, 6);
    // The source is unchanged and continues correctly.
    expect(a.tokens).toEqual(aTokens);
    const more = await a.generateText([], { maxTokens: 3, stopTokens: [], sampling: greedy });
    await oracle.expectGreedy(aTokens, more.tokens, 3);
    await Promise.all([a.dispose(), b.dispose()]);
  });

  it("LongRoPE: a short-regime prefix is not reused past the switch; a long-regime one is", async () => {
    const base = ids(40, 12); // 40 < 64: short regime
    const { sequence: s1 } = await generate(base, 2);
    const s2 = await model.createSequence({ capacity: 200 });
    const long = [...base, ...ids(40, 13)]; // 80 > 64: long regime
    const crossed = await s2.generateText(long, { maxTokens: 5, stopTokens: [], sampling: greedy, append: false });
    expect(crossed.usage.cachedTokens).toBe(0);
    await oracle.expectGreedy(long, crossed.tokens, 5);

    // Now s2 holds long-regime KV for `long`: a longer request sharing it reuses it.
    const s3 = await model.createSequence({ capacity: 200 });
    const longer = [...long, ...ids(10, 14)];
    const reused = await s3.generateText(longer, { maxTokens: 5, stopTokens: [], sampling: greedy, append: false });
    expect(reused.usage.cachedTokens).toBe(80);
    await oracle.expectGreedy(longer, reused.tokens, 5);

    // The sequence's own short KV, extended past the switch, is recomputed (not counted as reuse).
    const own = await s1.generateText(long, { maxTokens: 5, stopTokens: [], sampling: greedy, append: false });
    await oracle.expectGreedy(long, own.tokens, 5);
    await Promise.all([s1.dispose(), s2.dispose(), s3.dispose()]);
  });

  it("a chat session appends only the new turn and resumes from a file in another model instance", async () => {
    const chatModel = await loadModel(models.tinyPhi4);
    const chat = await ChatSession.create(chatModel, { systemPrompt: "You are terse." });
    const first = await chat.prompt("Hi there", { maxTokens: 5, sampling: greedy });
    const second = await chat.prompt("And again?", { maxTokens: 5, sampling: greedy });
    // Everything before the new turn came from the sequence's own KV.
    expect(second.usage.cachedTokens).toBe(first.usage.promptTokens + first.usage.outputTokens - 1);
    expect(chat.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "user", "assistant"]);
    const file = path.join(scratch, "chat.phi4kv");
    await chat.save(file);
    const tokensAtSave = [...chat.sequence.tokens];
    const third = await chat.prompt("Third?", { maxTokens: 5, sampling: greedy });
    await chatModel.dispose();

    const reloaded = await loadModel(models.tinyPhi4);
    const resumed = await ChatSession.load(reloaded, file);
    expect(resumed.messages).toHaveLength(5);
    expect(resumed.sequence.tokens).toEqual(tokensAtSave);
    const again = await resumed.prompt("Third?", { maxTokens: 5, sampling: greedy });
    expect(again.tokens).toEqual(third.tokens);
    expect(again.usage.cachedTokens).toBe(tokensAtSave.length - 1);
    const tinyOracle = await Oracle.load(models.tinyPhi4);
    await tinyOracle.expectGreedy(resumed.sequence.tokens.slice(0, -5), again.tokens, 5, { kvType: reloaded.info.kvType });
    await tinyOracle.release();
    await reloaded.dispose();
  });

  /** A made-up state of a one-layer layout (32 bytes of KV per token), for the cache's bookkeeping alone. */
  const fakeState = (tokens: number[]): SequenceState => ({
    fingerprint: "x",
    kvType: "float32",
    layers: 1,
    kvHeads: 1,
    headSize: 4,
    vocabSize: 1000,
    tokens: Int32Array.from(tokens),
    kvLength: tokens.length,
    longRope: false,
    kv: new Uint8Array(tokens.length * 32),
  });

  it("LRU eviction under a tiny byte budget", () => {
    const cache = new PrefixCache({ maxBytes: 32 * 25, minTokens: 2 });
    cache.add(fakeState(ids(10, 1)));
    cache.add(fakeState(ids(10, 2)));
    expect(cache.stats.entries).toBe(2);
    // A lookup alone is not use: seed 1 stays the least recently used until `use` marks it.
    const found = cache.match(ids(10, 1), false, 100)!;
    expect(found.length).toBe(10);
    cache.use(found.state);
    cache.add(fakeState(ids(10, 3))); // 30 tokens > 25: the least recently used (seed 2) goes
    expect(cache.stats).toMatchObject({ entries: 2, evictions: 1, bytes: 32 * 20 });
    expect(cache.match(ids(10, 2), false, 100)).toBeUndefined();
    expect(cache.match(ids(10, 1), false, 100)?.length).toBe(10);
    expect(cache.match(ids(10, 1), true, 100)).toBeUndefined(); // other RoPE regime
    expect(cache.match(ids(10, 1), false, 6)?.length).toBe(6); // limit
    // A state that extends a cached one replaces it; one already covered is not stored twice.
    cache.add(fakeState([...ids(10, 1), 5, 6]));
    expect(cache.stats.entries).toBe(2);
    cache.add(fakeState(ids(8, 1)));
    expect(cache.stats.entries).toBe(2);
    cache.add(fakeState(ids(40, 4))); // larger than the whole budget: never stored
    expect(cache.match(ids(40, 4), false, 100)).toBeUndefined();
  });

  it("a lookup that is not used leaves the recency order alone", () => {
    const cache = new PrefixCache({ maxBytes: 32 * 25, minTokens: 2 });
    cache.add(fakeState(ids(10, 1)));
    cache.add(fakeState(ids(10, 2)));
    expect(cache.match(ids(10, 1), false, 100)?.length).toBe(10); // looked at, then a longer prefix was taken elsewhere
    cache.add(fakeState(ids(10, 3)));
    expect(cache.match(ids(10, 1), false, 100)).toBeUndefined(); // still the oldest: evicted
    expect(cache.match(ids(10, 2), false, 100)?.length).toBe(10);
    cache.use(fakeState(ids(10, 9))); // not cached: nothing happens
    expect(cache.stats.entries).toBe(2);
  });
});
