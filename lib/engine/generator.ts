/**
 * A low-level generator shaped like onnxruntime-genai's (appendTokens, generateNextToken,
 * getNextTokens, isDone), for people who know that API. It drives one Sequence.
 *
 *   const generator = await Generator.create(model, { maxLength: 256 });
 *   await generator.appendTokens(model.tokenizer.encode("Hello"));
 *   while (!generator.isDone()) {
 *     await generator.generateNextToken();
 *     process.stdout.write(model.tokenizer.decode(generator.getNextTokens()));
 *   }
 */
import { Phi4Error } from "./errors.js";
import type { Model } from "./model.js";
import type { NativeSampling } from "./native-types.js";
import { resolveSampling, type SamplingOptions } from "./sampling.js";
import type { Sequence } from "./sequence.js";

export interface GeneratorParams {
  /** Total tokens (prompt + output) the generator may hold. Default: the model's default capacity. */
  maxLength?: number;
  sampling?: SamplingOptions;
}

export class Generator {
  private lastToken: number | null = null;
  private seedNext: number | undefined;

  private constructor(
    private readonly sequence: Sequence,
    private readonly sampling: NativeSampling,
    seed: number | undefined,
  ) {
    this.seedNext = seed;
  }

  static async create(model: Model, params: GeneratorParams = {}): Promise<Generator> {
    const sampling = resolveSampling(model.defaultSampling, params.sampling);
    const sequence = await model.createSequence({ capacity: params.maxLength });
    return new Generator(sequence, sampling, params.sampling?.seed);
  }

  /** Runs the model over `tokens` (prompt, or a new turn). */
  async appendTokens(tokens: readonly number[]): Promise<void> {
    if (tokens.length === 0) throw new Phi4Error("INVALID_ARGUMENT", "appendTokens needs at least one token");
    await this.sequence.step(tokens, {});
    this.lastToken = null;
  }

  /** Samples the next token (evaluating the previous one first). */
  async generateNextToken(): Promise<void> {
    if (this.isDone()) throw new Phi4Error("INVALID_ARGUMENT", "the generator is done: it reached end-of-sequence or maxLength");
    const result = await this.sequence.step([], { sampling: this.sampling, seed: this.seedNext });
    this.seedNext = undefined;
    this.lastToken = result.token!;
  }

  /** The token the last generateNextToken produced (empty before the first). */
  getNextTokens(): number[] {
    return this.lastToken === null ? [] : [this.lastToken];
  }

  /** True after an end-of-sequence token or when the sequence is full. */
  isDone(): boolean {
    const eos = this.sequence.model.folder.eosTokenIds;
    return (this.lastToken !== null && eos.includes(this.lastToken)) || this.sequence.length >= this.sequence.capacity;
  }

  /** Every token so far (prompt and generated). */
  getSequence(): readonly number[] {
    return this.sequence.tokens;
  }

  /** Logits for the position after the last token. */
  async getLogits(): Promise<Float32Array> {
    const result = await this.sequence.step([], { returnLogits: true });
    return result.logits!;
  }

  /** Keeps the first `length` tokens. */
  rewindTo(length: number): void {
    this.sequence.rewind(length);
    this.lastToken = null;
  }

  dispose(): Promise<void> {
    return this.sequence.dispose();
  }
}
