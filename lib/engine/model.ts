/**
 * Model: a loaded model folder (ORT session + tokenizer). Create sequences from it to generate.
 *
 *   const model = await loadModel("models/phi4-mini");
 *   const sequence = await model.createSequence();
 *   const result = await sequence.generateText(model.tokenizer.encode("Hello"), { maxTokens: 32 });
 */
import { Tokenizer } from "../tokenizer/index.js";
import { callNative, Phi4Error } from "./errors.js";
import { modelFingerprint } from "./fingerprint.js";
import { loadModelFolder, type ModelFolder } from "./genai-config.js";
import type { NativeModel, NativeProviderSpec } from "./native-types.js";
import { getRuntime } from "./runtime.js";
import { PrefixCache, type PrefixCacheOptions } from "./prefix-cache.js";
import { samplingDefaults } from "./sampling.js";
import { Sequence } from "./sequence.js";
import type { KvLayout } from "./sequence-state.js";
import { physicalCoreCount } from "./threads.js";

export type ProviderName = "cpu" | "cuda" | "dml" | "webgpu";

export interface LoadModelOptions {
  /**
   * Execution providers in order of preference, e.g. ["webgpu"] or [{ name: "cuda", options: {...} }].
   * Default: the ones genai_config.json names, else CPU. A provider the loaded ONNX Runtime lacks is a
   * PROVIDER_UNAVAILABLE error, never a silent fallback.
   */
  providers?: (ProviderName | NativeProviderSpec)[];
  /** Intra-op threads. Default: physical cores. */
  threads?: number;
  /** Let ORT's thread pool spin between steps (lower latency, busy cores). Default false. */
  allowSpinning?: boolean;
  /** An ONNX Runtime library to load instead of onnxruntime-node's (also: the ORT_LIB variable). */
  libraryPath?: string;
  /** Tokens per prefill run: bounds the [chunk, vocab] logits a prompt chunk allocates. Default 256. */
  prefillChunk?: number;
  /** KV capacity of sequences created without one. Default min(4096, context length). */
  defaultCapacity?: number;
  /** The model-level prefix cache (byte budget, minimum prefix), or false to turn it off. */
  prefixCache?: PrefixCacheOptions | false;
}

export interface CreateSequenceOptions {
  /** Tokens the sequence can hold (prompt + output); its KV cache is preallocated for this many. */
  capacity?: number;
}

const DEFAULT_CAPACITY = 4096;

export class Model {
  private readonly sequences = new Set<Sequence>();
  private disposed = false;

  /** Saved sequence states reused by generations that start from a known prefix (null when off). */
  readonly prefixCache: PrefixCache | null;
  /** What a saved state must match to be restored here. */
  readonly kvLayout: KvLayout;

  private constructor(
    private readonly native: NativeModel,
    readonly folder: ModelFolder,
    readonly tokenizer: Tokenizer,
    readonly threads: number,
    /** Milliseconds the session took to load. */
    readonly loadMs: number,
    private readonly defaultCapacity: number,
    fingerprint: string,
    prefixCache: PrefixCacheOptions | false,
  ) {
    this.prefixCache = prefixCache === false ? null : new PrefixCache(prefixCache);
    this.kvLayout = { fingerprint, kvType: native.info.kvType, layers: folder.numLayers, kvHeads: folder.numKvHeads, headSize: folder.headSize };
  }

  static async load(dir: string, options: LoadModelOptions = {}): Promise<Model> {
    const started = performance.now();
    const folder = await loadModelFolder(dir);
    const tokenizer = await Tokenizer.fromModelDir(folder.dir).catch((error: unknown) => {
      throw new Phi4Error("MODEL_INVALID", `cannot load the tokenizer of ${folder.dir}: ${(error as Error).message}`, { cause: error });
    });
    const runtime = getRuntime(options.libraryPath);
    const threads = options.threads ?? folder.config.model.decoder.session_options.intra_op_num_threads ?? physicalCoreCount();
    const providers = (options.providers ?? folder.providers).map((p) => (typeof p === "string" ? { name: p } : p));
    const prefillChunk = options.prefillChunk ?? 256;
    if (!Number.isInteger(threads) || threads < 1) throw new Phi4Error("INVALID_ARGUMENT", `threads must be a positive integer (got ${threads})`);
    if (!Number.isInteger(prefillChunk) || prefillChunk < 1) throw new Phi4Error("INVALID_ARGUMENT", `prefillChunk must be a positive integer (got ${prefillChunk})`);
    const io = folder.config.model.decoder;
    const native = await callNative(() =>
      runtime.loadModel({
        modelPath: folder.modelPath,
        intraOpThreads: threads,
        allowSpinning: options.allowSpinning ?? false,
        providers,
        inputIds: io.inputs.input_ids,
        attentionMask: io.inputs.attention_mask,
        positionIds: io.inputs.position_ids,
        pastKey: io.inputs.past_key_names,
        pastValue: io.inputs.past_value_names,
        logits: io.outputs.logits,
        presentKey: io.outputs.present_key_names,
        presentValue: io.outputs.present_value_names,
        numLayers: folder.numLayers,
        numKvHeads: folder.numKvHeads,
        headSize: folder.headSize,
        vocabSize: folder.vocabSize,
        ropeOriginalLength: folder.ropeOriginalLength,
        prefillChunk,
      }),
    );
    const defaultCapacity = Math.min(options.defaultCapacity ?? DEFAULT_CAPACITY, folder.contextLength);
    const fingerprint = await modelFingerprint(folder.dir, folder.modelPath);
    return new Model(native, folder, tokenizer, threads, performance.now() - started, defaultCapacity, fingerprint, options.prefixCache ?? {});
  }

  /** Input/output names, KV and logits types, KV bytes per token. */
  get info() {
    this.assertLive();
    return this.native.info;
  }

  get contextLength(): number {
    return this.folder.contextLength;
  }

  /** Sampling defaults from genai_config.json's search block. */
  get defaultSampling() {
    return samplingDefaults(this.folder.config.search);
  }

  async createSequence(options: CreateSequenceOptions = {}): Promise<Sequence> {
    this.assertLive();
    const capacity = options.capacity ?? this.defaultCapacity;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > this.folder.contextLength) {
      throw new Phi4Error("INVALID_ARGUMENT", `capacity must be an integer in [1, ${this.folder.contextLength}] (the model's context length); got ${capacity}`);
    }
    const native = await callNative(() => this.native.createSequence(capacity));
    const sequence = new Sequence(native, this, () => this.sequences.delete(sequence));
    this.sequences.add(sequence);
    return sequence;
  }

  /** @internal Sequences of this model that are not generating (prefix donors), except `except`. */
  *idleSequences(except: Sequence): Iterable<Sequence> {
    for (const sequence of this.sequences) if (sequence !== except && !sequence.isBusy && !sequence.isDisposed) yield sequence;
  }

  /** Disposes every sequence (aborting running generations) and releases the session. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all([...this.sequences].map((sequence) => sequence.dispose()));
    this.native.dispose();
  }

  private assertLive(): void {
    if (this.disposed) throw new Phi4Error("DISPOSED", "the model has been disposed");
  }
}

export function loadModel(dir: string, options?: LoadModelOptions): Promise<Model> {
  return Model.load(dir, options);
}
