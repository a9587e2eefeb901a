/**
 * Prefill progress: a prompt longer than one prefill chunk reports after every chunk, on a sequence
 * of its own and on one of a context, to the generation's callback and to the model's listeners,
 * and running it chunk by chunk gives the tokens the one native call gives. The command-line view
 * draws one line on a terminal and nothing elsewhere.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { showPrefillProgress } from "../lib/cli/prefill-progress.js";
import type { PrefillProgress } from "../lib/engine/model-host.js";
import { loadModel, type Model } from "../lib/engine/model.js";

const models = inject("models");
const CHUNK = 16;
const greedy = { greedy: true };

function ids(count: number, seed: number, vocab = 500): number[] {
  let x = seed;
  return Array.from({ length: count }, () => (x = (x * 1103515245 + 12345) % 2147483648) % vocab);
}

let model: Model;

beforeAll(async () => {
  model = await loadModel(models.tiny, { threads: 1, prefillChunk: CHUNK, prefixCache: false });
});
afterAll(async () => {
  await model?.dispose();
});

describe("prefill progress", () => {
  const prompt = ids(50, 3);
  const expected = [
    { done: 16, total: 50 },
    { done: 32, total: 50 },
    { done: 48, total: 50 },
    { done: 50, total: 50 },
  ];

  it("is told after every chunk on a sequence, with the tokens of an unobserved run", async () => {
    const plain = await model.createSequence({ capacity: 100 });
    const reference = await plain.generateText(prompt, { maxTokens: 6, stopTokens: [], sampling: greedy });
    await plain.dispose();

    const seen: PrefillProgress[] = [];
    const heard: PrefillProgress[] = [];
    const stop = model.onPrefillProgress((p) => heard.push(p));
    const sequence = await model.createSequence({ capacity: 100 });
    const result = await sequence.generateText(prompt, { maxTokens: 6, stopTokens: [], sampling: greedy, onPrefillProgress: (p) => seen.push(p) });
    stop();
    await sequence.dispose();
    expect(seen).toEqual(expected);
    expect(heard).toEqual(expected);
    expect(result.tokens).toEqual(reference.tokens);
  });

  it("is told after every chunk on a context's sequence", async () => {
    const context = await model.createContext({ sequences: 1, capacity: 100 });
    const seen: PrefillProgress[] = [];
    await context.generateText(prompt, { maxTokens: 2, stopTokens: [], sampling: greedy, onPrefillProgress: (p) => seen.push(p) });
    await context.dispose();
    expect(seen).toEqual(expected);
  });

  it("a prompt of one chunk reports nothing; an abort between chunks leaves the sequence as it was", async () => {
    const sequence = await model.createSequence({ capacity: 100 });
    const seen: PrefillProgress[] = [];
    await sequence.generateText(prompt.slice(0, CHUNK), { maxTokens: 1, stopTokens: [], sampling: greedy, onPrefillProgress: (p) => seen.push(p) });
    expect(seen).toEqual([]);
    const before = sequence.tokens;
    const abort = new AbortController();
    const aborted = sequence.generateText(prompt, { maxTokens: 1, sampling: greedy, signal: abort.signal, onPrefillProgress: () => abort.abort() });
    await expect(aborted).rejects.toMatchObject({ code: "ABORTED" });
    expect(sequence.tokens).toEqual(before);
    await sequence.dispose();
  });

  it("the command line draws one line on a terminal, cleared at the end, and nothing elsewhere", async () => {
    const written: string[] = [];
    const hide = showPrefillProgress(model, { isTTY: true, write: (t: string) => written.push(t) });
    const silent: string[] = [];
    const hideSilent = showPrefillProgress(model, { isTTY: false, write: (t: string) => silent.push(t) });
    const sequence = await model.createSequence({ capacity: 100 });
    await sequence.generateText(prompt, { maxTokens: 1, sampling: greedy });
    await sequence.dispose();
    hide();
    hideSilent();
    expect(written).toEqual(["\r\x1b[Kprefill 16/50 tokens", "\r\x1b[Kprefill 32/50 tokens", "\r\x1b[Kprefill 48/50 tokens", "\r\x1b[K"]);
    expect(silent).toEqual([]);
  });
});
