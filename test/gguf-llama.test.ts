/**
 * A second oracle: llama.cpp runs the GGUF that `phi4 make-model --format gguf` writes for a preset and
 * seed, phi4-onnx runs the ONNX folder of the same preset and seed, both are fed the same token ids, and
 * their last-position logits must agree within the bound derived below. Greedy tokens are compared by
 * teacher forcing: both engines are fed llama.cpp's token at each step, and phi4-onnx's argmax must be
 * llama.cpp's wherever llama.cpp's top two are further apart than the bound allows them to move.
 *
 * The bound. Both engines compute the same network: int4 weights (the same codes), int8 activations.
 * phi4-onnx's MatMulNBits (accuracy level 4) quantizes each product's input in blocks of 32 with scale
 * max|x| / 127, as llama.cpp does for its Q4_0 products (q8_0 activations). Each engine's logits are the
 * logits of the network with exact activations plus its own rounding noise; they differ by
 *   (a) fp16 rounding in llama.cpp of the weight scales (Q4_0's d) and of the activation scales (q8_0's
 *       d) of every product, and in attention of K and V (its fp16 cache), Q (converted to fp16 for
 *       K·Q) and the softmax weights (converted for their product with V), and in phi4-onnx of K and V
 *       (its fp16 cache, the default on the CPU): relative error at most u = 2^-11 per value, uniform,
 *       so rms u/sqrt(3);
 *   (b) int8 rounding: once (a) moves an activation, its int8 code may round the other way, and from
 *       there on the two engines' codes decorrelate. One int8 rounding is uniform in +-step/2, step =
 *       block max / 127, rms step/sqrt(12); for blocks of 32 normal values (E max|x| = 2.35 sigma) that is
 *       rho = 2.35 / (127 sqrt(12)) = 5.3e-3 of the activation's rms. The SiLU * up products that feed
 *       down_proj are heavier-tailed (block maxima nearer 4.7 sigma), so take rho = 2 * 5.3e-3.
 * With random weights a product carries its input's relative noise to its output. A layer quantizes
 * four inputs (qkv, o_proj, gate/up, down) and the lm_head one more: P = 4L + 1 noise sources add in
 * quadrature along the residual stream, sqrt(P) * rho per engine, and two fully decorrelated engines
 * differ by sqrt(2) times that; (a) adds sqrt(2P + 4L + 2L) * u/sqrt(3) in quadrature (2P + 4L on
 * llama.cpp's side, 2L on phi4-onnx's; 1.5e-3: the int8 term dominates). For L = 2 this is 4.5e-2 of the rms
 * spread of the reference's logits row. The difference across the vocabulary is one hidden-state
 * difference projected on random rows, so Gaussian: its largest entry of V stays within sqrt(2 ln V)
 * times its rms (3.6 for 640 tokens, 4.9 for 200064). Compared as log-softmax (node-llama-cpp returns
 * probabilities), which shifts a row by its log-sum-exp and leaves differences of logits alone.
 *
 * The bound is not vacuous: when the two engines use different RoPE factors (llama.cpp's long ones at a
 * length where the ONNX graph still uses the short ones) the difference is well past it (tested below).
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import type { Llama, LlamaModel } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type LoadModelOptions, type Model } from "../lib/index.js";
import { makeGguf, makeModel, MODEL_PRESETS, type ModelPreset } from "../lib/modelmaker/index.js";
import { LlamaSequence, logSoftmax, openLlama, rowDifference, topTwo, type RowDifference } from "./helpers/llama-oracle.js";

const models = inject("models");

const U = 2 ** -11;
const RHO = 2 * (2.35 / (127 * Math.sqrt(12)));

function bounds(layers: number, vocab: number, row: RowDifference): { rms: number; max: number } {
  const points = 4 * layers + 1;
  const relative = Math.sqrt(2 * points * RHO ** 2 + (2 * points + 6 * layers) * (U ** 2 / 3));
  const rms = relative * row.referenceRms;
  return { rms, max: rms * Math.sqrt(2 * Math.log(vocab)) };
}

/** Deterministic token ids below `limit` (ordinary tokens, clear of the special ones). */
function tokenIds(count: number, limit: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: count }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % limit;
  });
}

interface Engines {
  preset: ModelPreset;
  phi4: Model;
  llamaModel: LlamaModel;
  vocab: number;
}

interface StepReport {
  length: number;
  rms: number;
  max: number;
  boundRms: number;
  boundMax: number;
  tokenChecked: boolean;
}

/**
 * Feeds `prompt` to both engines, then `steps` more tokens chosen by llama.cpp (teacher forcing),
 * comparing the rows at every length. `llamaFor(length)` gives the llama.cpp sequence to compare with at
 * that length (the one whose context puts it in the same RoPE regime as the ONNX graph), or null where
 * none can: that step is not compared and follows phi4-onnx's token.
 */
async function teacherForce(e: Engines, prompt: number[], steps: number, llamaFor: (length: number) => LlamaSequence | null): Promise<StepReport[]> {
  const layers = MODEL_PRESETS[e.preset].numLayers;
  const sequence = await e.phi4.createSequence({ capacity: prompt.length + steps + 1 });
  const fed = new Map<LlamaSequence, number>();
  const tokens = [...prompt];
  const reports: StepReport[] = [];
  try {
    let ours = await sequence.evaluate(prompt);
    for (let step = 0; ; step++) {
      const llama = llamaFor(tokens.length);
      let next = topTwo(ours).token;
      if (llama) {
        const reference = await llama.append(tokens.slice(fed.get(llama) ?? 0), e.vocab);
        fed.set(llama, tokens.length);
        const row = rowDifference(logSoftmax(ours), reference);
        const bound = bounds(layers, e.vocab, row);
        const top = topTwo(reference);
        // The argmax moves only if some token's difference minus the top token's exceeds the margin:
        // a difference of two entries, rms sqrt(2) times one's, so at most sqrt(2) times the largest.
        const tokenChecked = top.margin > Math.SQRT2 * bound.max;
        reports.push({ length: tokens.length, rms: row.rms, max: row.max, boundRms: bound.rms, boundMax: bound.max, tokenChecked });
        expect(row.rms, `rms difference at length ${tokens.length}`).toBeLessThan(bound.rms);
        expect(row.max, `largest difference at length ${tokens.length}`).toBeLessThan(bound.max);
        if (tokenChecked) expect(next, `greedy token at length ${tokens.length}`).toBe(top.token);
        next = top.token;
      }
      if (step === steps) break;
      tokens.push(next);
      ours = await sequence.evaluate([next]);
    }
  } finally {
    await sequence.dispose();
  }
  return reports;
}

let llama: Llama;
let tmp: string;

beforeAll(async () => {
  llama = await openLlama();
  tmp = await mkdtemp(path.join(os.tmpdir(), "gguf-llama-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function engines(preset: ModelPreset, dir: string, seed: number, options: LoadModelOptions): Promise<Engines> {
  const file = path.join(tmp, `${preset}-${seed}.gguf`);
  await makeGguf({ preset, outFile: file, seed });
  const phi4 = await loadModel(dir, { threads: 1, ...options });
  const llamaModel = await llama.loadModel({ modelPath: file });
  return { preset, phi4, llamaModel, vocab: phi4.folder.vocabSize };
}

async function release(e: Engines) {
  await e.phi4.dispose();
  await e.llamaModel.dispose();
}

/** The tiny presets switch to the long RoPE factors past 64 tokens, and llama.cpp's smallest context per sequence is 256 cells: only the long regime can be compared. */
describe.each([
  { kernel: "ONNX Runtime's int4 kernel", options: { int4Kernel: false } },
  { kernel: "the default int4 kernel", options: {} },
])("tiny, phi4-onnx on $kernel, against llama.cpp", ({ options }) => {
  let e: Engines;
  beforeAll(async () => {
    e = await engines("tiny", models.tiny, 1, options); // the global setup's tiny folder has seed 1
  });
  afterAll(async () => {
    await release(e);
  });

  it.each([70, 150])("logits within the bound and greedy tokens equal away from near-ties, %i-token prompt, 24 steps", async (length) => {
    const reference = await LlamaSequence.open(e.llamaModel, 256);
    try {
      const reports = await teacherForce(e, tokenIds(length, 500, length), 24, () => reference);
      expect(reports).toHaveLength(25);
      // Random weights give many near-ties, but enough steps are decided clearly for the token check to bite.
      expect(reports.filter((r) => r.tokenChecked).length).toBeGreaterThanOrEqual(5);
    } finally {
      await reference.dispose();
    }
  });

  it("the bound resolves a RoPE error: at 60 tokens (short factors in the ONNX graph, long in llama.cpp's 256-cell context) the rows differ past it", async () => {
    const prompt = tokenIds(60, 500, 60);
    const sequence = await e.phi4.createSequence({ capacity: 64 });
    const ours = await sequence.evaluate(prompt);
    await sequence.dispose();
    const other = await LlamaSequence.open(e.llamaModel, 256);
    const row = rowDifference(logSoftmax(ours), await other.append(prompt, e.vocab));
    await other.dispose();
    expect(row.rms).toBeGreaterThan(bounds(MODEL_PRESETS.tiny.numLayers, e.vocab, row).rms);
  });
});

/**
 * tiny-phi4-long: Phi-4-mini's vocabulary and RoPE switch (4096), so llama.cpp can be put in either
 * regime: a 4096-cell context uses the short factors, an 8192-cell one the long factors.
 */
describe("tiny-phi4-long against llama.cpp, across the LongRoPE switch", () => {
  let e: Engines;
  beforeAll(async () => {
    const dir = path.join(tmp, "tiny-phi4-long");
    await makeModel({ preset: "tiny-phi4-long", outDir: dir, seed: 3 });
    e = await engines("tiny-phi4-long", dir, 3, {});
  });
  afterAll(async () => {
    await release(e);
  });

  it("short regime: a 40-token prompt, 16 steps", async () => {
    const short = await LlamaSequence.open(e.llamaModel, 4096);
    try {
      const reports = await teacherForce(e, tokenIds(40, 50_000, 40), 16, () => short);
      expect(reports).toHaveLength(17);
      expect(reports.filter((r) => r.tokenChecked).length).toBeGreaterThanOrEqual(2);
    } finally {
      await short.dispose();
    }
  });

  it("a 4092-token prompt decoded past 4096 tokens, where phi4-onnx re-prefills with the long factors", async () => {
    const short = await LlamaSequence.open(e.llamaModel, 4096);
    const long = await LlamaSequence.open(e.llamaModel, 8192);
    try {
      const original = MODEL_PRESETS["tiny-phi4-long"].originalMaxPositionEmbeddings;
      // At exactly 4096 tokens the ONNX graph still uses the short factors, but a 4096-cell context
      // cannot hold 4096 tokens without a shift: that one length goes uncompared.
      const llamaFor = (length: number) => (length > original ? long : length <= short.capacity ? short : null);
      const reports = await teacherForce(e, tokenIds(4092, 50_000, 4092), 8, llamaFor);
      expect(reports.map((r) => r.length)).toEqual([4092, 4093, 4094, 4095, 4097, 4098, 4099, 4100]);
    } finally {
      await short.dispose();
      await long.dispose();
    }
  });
});
