/**
 * The correctness oracle: the same model.onnx run through onnxruntime-node's JS API with full
 * recomputation (empty past, the whole sequence every time), independent of the native engine.
 * fp32 and fp16 folders alike: the KV type is read from the session, fp16 logits are widened.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

import * as ort from "onnxruntime-node";

import { fromFloat16 } from "../../lib/modelmaker/float16.js";

/**
 * Load options under which the engine computes what the oracle computes, to the last rounding: ONNX
 * Runtime's own int4 kernel. For tests that hold greedy tokens to the oracle's. The addon's int4
 * kernel (the default) computes the same products but adds floats in another order, which can move
 * an int8 activation across a rounding boundary and, on these random models, flip a near-tie between
 * two tokens; engine-oracle.test.ts and int4-kernel.test.ts hold it to the oracle with that in mind.
 */
export const EXACT_ORACLE_OPTIONS = { int4Kernel: false } as const;

export class Oracle {
  /** The element type of the logits the last run returned (as ORT reported it, before widening). */
  lastLogitsType: ort.Tensor.Type | undefined;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly layers: number,
    private readonly kvHeads: number,
    private readonly headSize: number,
    private readonly kvType: "float32" | "float16",
  ) {}

  static async load(dir: string): Promise<Oracle> {
    const config = JSON.parse(readFileSync(path.join(dir, "genai_config.json"), "utf8"));
    const d = config.model.decoder;
    const session = await ort.InferenceSession.create(path.join(dir, d.filename), { intraOpNumThreads: 1 });
    const past = session.inputMetadata.find((m) => m.name === "past_key_values.0.key");
    const kvType = past?.isTensor && past.type === "float16" ? "float16" : "float32";
    return new Oracle(session, d.num_hidden_layers, d.num_key_value_heads, d.head_size, kvType);
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

  release(): Promise<void> {
    return this.session.release();
  }
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
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
