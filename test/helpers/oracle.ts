/**
 * The correctness oracle: the same model.onnx run through onnxruntime-node's JS API with full
 * recomputation (empty past, the whole sequence every time), independent of the native engine.
 * fp32 and fp16 folders alike: the KV type is read from the session, fp16 logits are widened.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import { expect } from "vitest";

import { fromFloat16 } from "../../lib/modelmaker/float16.js";

/**
 * Load options under which the engine computes what the oracle computes, to the last rounding: ONNX
 * Runtime's own int4 kernel and an fp32 KV cache (the default stores it in fp16). For tests that hold greedy tokens to the oracle's. The addon's int4
 * kernel (the default) computes the same products but adds floats in another order, which can move
 * an int8 activation across a rounding boundary and, on these random models, flip a near-tie between
 * two tokens; engine-oracle.test.ts and int4-kernel.test.ts hold it to the oracle with that in mind.
 */
export const EXACT_ORACLE_OPTIONS = { int4Kernel: false, kvType: "float32" } as const;

/** What the engine under test stores its KV cache in (the oracle always computes in fp32). */
export interface EngineKv {
  kvType?: "float32" | "float16";
}

/**
 * The share of the int8 term that an fp16 KV cache adds to reference()'s tolerance. Error analysis:
 * the engine stores every key and value rounded to fp16, a relative error of at most 2^-11 of the
 * element (11 significant bits; attention-kernel-fp16.test.ts carries it through q . k over the head
 * size and the softmax and value sums, and holds the kernel to it). Those keys and values are
 * activations computed from int8-rounded inputs, and int8 rounding moves an activation by up to half a
 * step, max|a| / 254 of its block: at least 2^-8 of the element's own magnitude bound, eight times
 * the fp16 error. So rounding to fp16 perturbs the network as at most 1/8 of the int8 rounding does,
 * and its direct effect on the logits is at most 1/8 of |int8 - float|. Its indirect effect, int8
 * roundings downstream that now land one step away, is what the 2 |int8 - float| term already allows
 * for (every activation one step off at most: the fp16 error is 1/8 of a half step, so none moves by
 * more).
 */
const FP16_KV_SHARE = 2 ** -11 / 2 ** -8;

export class Oracle {
  /** The element type of the logits the last run returned (as ORT reported it, before widening). */
  lastLogitsType: ort.Tensor.Type | undefined;

  private floatTwin: Promise<Oracle> | undefined;

  private constructor(
    private readonly dir: string,
    private readonly session: ort.InferenceSession,
    private readonly layers: number,
    private readonly kvHeads: number,
    private readonly headSize: number,
    private readonly kvType: "float32" | "float16",
  ) {}

  /**
   * `floatActivations`: the same model with every MatMulNBits node at accuracy level 0 (float
   * activations instead of int8), the reference for how much int8 rounding moves the logits.
   */
  static async load(dir: string, { floatActivations = false } = {}): Promise<Oracle> {
    const config = JSON.parse(readFileSync(path.join(dir, "genai_config.json"), "utf8"));
    const d = config.model.decoder;
    const file = path.join(dir, d.filename);
    const options = { intraOpNumThreads: 1 };
    const session = floatActivations
      ? await ort.InferenceSession.create(withFloatActivations(file), options)
      : await ort.InferenceSession.create(file, options);
    const past = session.inputMetadata.find((m) => m.name === "past_key_values.0.key");
    const kvType = past?.isTensor && past.type === "float16" ? "float16" : "float32";
    return new Oracle(dir, session, d.num_hidden_layers, d.num_key_value_heads, d.head_size, kvType);
  }

  /** Logits of the last position after running all of `tokens` from scratch. */
  async lastLogits(tokens: readonly number[]): Promise<Float32Array> {
    const n = tokens.length;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor("int64", BigInt64Array.from(tokens.map(BigInt)), [1, n]),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(n).fill(1n), [1, n]),
    };
    const emptyPast = () =>
      this.kvType === "float16"
        ? new ort.Tensor("float16", new Uint16Array(0), [1, this.kvHeads, 0, this.headSize])
        : new ort.Tensor("float32", new Float32Array(0), [1, this.kvHeads, 0, this.headSize]);
    for (let i = 0; i < this.layers; i++) {
      for (const kind of ["key", "value"]) feeds[`past_key_values.${i}.${kind}`] = emptyPast();
    }
    const { logits } = await this.session.run(feeds, ["logits"]);
    this.lastLogitsType = logits.type;
    const vocab = logits.dims[2];
    const row = (logits.data as Float32Array | Uint16Array).subarray((n - 1) * vocab, n * vocab);
    return row instanceof Uint16Array ? fromFloat16(row) : row.slice();
  }

  /**
   * The oracle's logits after `tokens` and the relative tolerance an engine computing the same int8
   * products may differ by there. Error analysis: both quantize every activation to int8 per block
   * of 32 (a step of max|a|/127); the engine adds floats in another order (other kernels, KV cache,
   * chunks, threads), so an activation within about 1e-7 of a rounding boundary can land one step
   * away from the oracle's, and that difference propagates to the logits. Rounding every activation
   * moves it by at most half a step, and the logits by |int8 - float| (measured here against the same
   * model with float activations); a flipped activation moves by one step, twice as far, and only
   * the few near a boundary flip. So the engine stays within 2 |int8 - float| of the oracle, plus a
   * floor for the float reordering itself (float32 ulps over the model's sums).
   */
  async reference(tokens: readonly number[], engine: EngineKv = {}): Promise<{ logits: Float32Array; tolerance: number }> {
    const logits = await this.lastLogits(tokens);
    this.floatTwin ??= Oracle.load(this.dir, { floatActivations: true });
    const float = await (await this.floatTwin).lastLogits(tokens);
    const int8 = relativeError(float, logits);
    const fp16Kv = engine.kvType === "float16" && this.kvType === "float32" ? FP16_KV_SHARE * int8 : 0;
    return { logits, tolerance: 2 * int8 + fp16Kv + 1e-5 };
  }

  /**
   * Holds a greedy run of the engine to the oracle by teacher forcing: at every step the oracle
   * continues the engine's own tokens (so one near-tie cannot derail the rest of the comparison), and
   * the engine's token must be the oracle's argmax or within the tolerance of it (reference(), for an
   * engine whose KV cache is `engine.kvType`).
   * Returns how many steps were decisive (the oracle's top two further apart than the tolerance).
   */
  async expectGreedy(prompt: readonly number[], tokens: readonly number[], count = tokens.length, engine: EngineKv = {}): Promise<number> {
    expect(tokens).toHaveLength(count);
    let decisive = 0;
    for (let i = 0; i < tokens.length; i++) {
      const { logits, tolerance } = await this.reference([...prompt, ...tokens.slice(0, i)], engine);
      const best = argmax(logits);
      const slack = tolerance * maxAbs(logits);
      const runnerUp = logits.reduce((max, v, j) => (j === best ? max : Math.max(max, v)), -Infinity);
      if (logits[best] - runnerUp > slack) decisive++;
      expect(logits[tokens[i]], `step ${i}: token ${tokens[i]} where the oracle's argmax is ${best}`).toBeGreaterThanOrEqual(logits[best] - slack);
    }
    return decisive;
  }

  /**
   * Teacher-forced steps from `tokens` (extended in place): at each step the engine's last-row logits
   * must be within reference()'s tolerance of the oracle's, and its argmax the oracle's wherever the
   * oracle's top two are further apart than that; the oracle's token is fed next. Returns how many
   * steps were decisive.
   */
  async follow(sequence: { evaluate(tokens: number[]): Promise<Float32Array> }, tokens: number[], steps: number, engine: EngineKv = {}): Promise<number> {
    let logits = await sequence.evaluate(tokens);
    let decisive = 0;
    for (let step = 0; step < steps; step++) {
      const { logits: reference, tolerance } = await this.reference(tokens, engine);
      expect(relativeError(logits, reference), `step ${step}`).toBeLessThan(tolerance);
      const next = argmax(reference);
      const runnerUp = reference.reduce((max, v, i) => (i === next ? max : Math.max(max, v)), -Infinity);
      if (reference[next] - runnerUp > tolerance * maxAbs(reference)) {
        expect(argmax(logits)).toBe(next);
        decisive++;
      }
      tokens.push(next);
      logits = await sequence.evaluate([next]);
    }
    return decisive;
  }

  /** Greedy continuation by full recomputation. */
  async greedy(prompt: readonly number[], count: number): Promise<number[]> {
    const tokens = [...prompt];
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const next = argmax(await this.lastLogits(tokens));
      out.push(next);
      tokens.push(next);
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
    if (this.floatTwin) await (await this.floatTwin).release();
  }
}

/** Deterministic pseudo-random token ids below `vocab`. */
export function tokenIds(count: number, vocab: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: count }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % vocab;
  });
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

export function maxAbs(values: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]));
  return max;
}

/** model.onnx (weights inside it) with every MatMulNBits node computing with float activations. */
function withFloatActivations(file: string): Uint8Array {
  const { onnx } = onnxProto;
  const model = onnx.ModelProto.decode(readFileSync(file));
  for (const node of model.graph?.node ?? []) {
    if (node.opType !== "MatMulNBits") continue;
    const level = node.attribute?.find((a) => a.name === "accuracy_level");
    if (level) level.i = 0;
  }
  return onnx.ModelProto.encode(model).finish();
}

/** max |a - b| / max |b|: the relative error of a logits row. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}
