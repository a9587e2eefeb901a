/**
 * llama.cpp (through node-llama-cpp) as a second, independent oracle: it runs the GGUF that
 * `phi4 make-model --format gguf` writes for a preset, which holds the ONNX folder's network and weights.
 * A sequence here appends token ids and returns llama.cpp's next-token log-probabilities.
 */
import { getLlama, LlamaLogLevel, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaModel, type Token } from "node-llama-cpp";

/** CPU only, and never a source build: the prebuilt binary from npm or an error. */
export function openLlama(): Promise<Llama> {
  return getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
}

export class LlamaSequence {
  private constructor(
    private readonly context: LlamaContext,
    private readonly sequence: LlamaContextSequence,
  ) {}

  /**
   * A sequence of a context of `contextSize` cells. llama.cpp chooses the LongRoPE factors by the
   * context per sequence (long when above the original context), not by the current length: size
   * the context to the regime being compared. Flash attention off: the plain K·Q product.
   */
  static async open(model: LlamaModel, contextSize: number, options: { flashAttention?: boolean | "auto"; threads?: number } = {}): Promise<LlamaSequence> {
    const context = await model.createContext({ contextSize, sequences: 1, flashAttention: options.flashAttention ?? false, threads: options.threads ?? 1 });
    if (context.contextSize !== contextSize) throw new Error(`asked for ${contextSize} cells, llama.cpp made ${context.contextSize}`);
    return new LlamaSequence(context, context.getSequence());
  }

  /**
   * The longest sequence this context holds as is: node-llama-cpp erases the oldest tokens (a context
   * shift) once a sequence reaches its last cell, which would compare a different prefix.
   */
  get capacity(): number {
    return this.context.contextSize - 1;
  }

  /** Appends `tokens` and returns the log-probabilities of the next token (log-softmax of llama.cpp's logits). */
  async append(tokens: readonly number[], vocab: number): Promise<Float64Array> {
    if (this.sequence.nextTokenIndex + tokens.length > this.capacity) {
      throw new Error(`${this.sequence.nextTokenIndex + tokens.length} tokens do not fit a ${this.context.contextSize}-cell context without a shift`);
    }
    const ids = tokens as readonly Token[]; // node-llama-cpp brands token ids; these are ids of this model's vocabulary
    const last = ids.length - 1;
    const out = await this.sequence.controlledEvaluate([...ids.slice(0, last), [ids[last], { generateNext: { probabilities: true } }]]);
    const probabilities = out[last]?.next.probabilities;
    if (!probabilities || probabilities.size !== vocab) throw new Error(`llama.cpp returned ${probabilities?.size ?? 0} probabilities, expected ${vocab}`);
    const logp = new Float64Array(vocab);
    for (const [token, p] of probabilities) logp[token] = Math.log(p);
    return logp;
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
  }
}

/** log-softmax in float64. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits as ArrayLike<number>, (v) => v - lse);
}

export interface RowDifference {
  /** Root mean square of a - b over the vocabulary. */
  rms: number;
  /** Largest |a - b|. */
  max: number;
  /** Standard deviation of the reference row (its spread, independent of the softmax shift). */
  referenceRms: number;
}

export function rowDifference(a: ArrayLike<number>, reference: ArrayLike<number>): RowDifference {
  let sq = 0;
  let max = 0;
  let mean = 0;
  for (let i = 0; i < reference.length; i++) mean += reference[i] / reference.length;
  let spread = 0;
  for (let i = 0; i < reference.length; i++) {
    const d = a[i] - reference[i];
    sq += d * d;
    max = Math.max(max, Math.abs(d));
    spread += (reference[i] - mean) ** 2;
  }
  return { rms: Math.sqrt(sq / reference.length), max, referenceRms: Math.sqrt(spread / reference.length) };
}

/** The top token and how far ahead of the runner-up it is. */
export function topTwo(values: ArrayLike<number>): { token: number; margin: number } {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  let second = -Infinity;
  for (let i = 0; i < values.length; i++) if (i !== best) second = Math.max(second, values[i]);
  return { token: best, margin: values[best] - second };
}
