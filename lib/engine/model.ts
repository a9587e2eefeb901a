/**
 * Model: a loaded model folder (ORT session + tokenizer). Create sequences from it to generate.
 *
 *   const model = await loadModel("models/phi4-mini");
 *   const sequence = await model.createSequence();
 *   const result = await sequence.generateText(model.tokenizer.encode("Hello"), { maxTokens: 32 });
 */
import { availableParallelism } from "node:os";
import path from "node:path";

import { Tokenizer } from "../tokenizer/index.js";
import { Context, type ContextHost, type ContextOptions } from "./context.js";
import { callNative, Phi4Error } from "./errors.js";
import { modelFingerprint } from "./fingerprint.js";
import { loadModelFolder, type ModelFolder } from "./genai-config.js";
import { checkKvMemory, defaultKvMemory, weightBytes } from "./kv-memory.js";
import { rewriteGraphOffThread } from "./graph-rewrite-thread.js";
import { LOGITS_START_INPUT } from "./logits-start.js";
import type { RewrittenGraph } from "./graph-rewrites.js";
import type { Int4KernelVariantName, NativeModel, NativeProviderSpec } from "./native-types.js";
import { checkInt4KernelVariant, getRuntime, int4KernelSupported } from "./runtime.js";
import { PrefixCache, type PrefixCacheOptions } from "./prefix-cache.js";
import { checkPrefixDiskOptions, PrefixDiskCache, type PrefixDiskOptions } from "./prefix-disk.js";
import type { PrefillProgress, SpeculationStats } from "./model-host.js";
import type { KvDonor } from "./prefix-reuse.js";
import { resolveSpeculative, type SpeculativeOptions } from "./prompt-lookup.js";
import { samplingDefaults } from "./sampling.js";
import { Sequence } from "./sequence.js";
import type { KvLayout } from "./sequence-state.js";
import { physicalCoreCount } from "./threads.js";

export type ProviderName = "cpu" | "cuda" | "dml" | "webgpu";

/** LoadModelOptions.int4Kernel: on (the fastest variant here), off, or one variant by name. */
export type Int4KernelChoice = boolean | Int4KernelVariantName;

export interface LoadModelOptions {
  /**
   * Execution providers in order of preference, e.g. ["webgpu", "cpu"] or [{ name: "cuda", options: {...} }].
   * Default: the ones genai_config.json names, else CPU. A list falls back in order: when the first
   * provider cannot start (not in the loaded ONNX Runtime, no device), the session is made with the
   * rest, and `model.providerFallbacks` says why. The last one failing is PROVIDER_UNAVAILABLE.
   */
  providers?: (ProviderName | NativeProviderSpec)[];
  /** Intra-op threads. Default: physical cores. */
  threads?: number;
  /** Let ORT's thread pool spin between steps (lower latency, busy cores). Default false. */
  allowSpinning?: boolean;
  /** An ONNX Runtime library to load instead of onnxruntime-node's (also: the ORT_LIB variable). */
  libraryPath?: string;
  /**
   * Tokens per prefill run (default 256): batched decode steps of other sequences run between a long
   * prompt's chunks, and a chunk's activations stay small (and its [chunk, vocab] logits, when
   * lastPositionLogits is off).
   */
  prefillChunk?: number;
  /**
   * KV capacity (most tokens) of sequences created without one. Default: the model's context length
   * where KV grows on demand (host memory, the CPU provider), else min(4096, context length) (device
   * KV is allocated whole up front).
   */
  defaultCapacity?: number;
  /**
   * The KV memory budget in bytes of each context (and standalone sequence) created without one: host
   * KV takes memory as sequences grow, and growth past it fails with KV_MEMORY_EXCEEDED (a generation
   * stops with stopReason "kv_memory"). Default: half of the machine's memory less the model's
   * weights, at least 1 GiB (docs/engine.md, "KV memory").
   */
  kvMemory?: number;
  /** The model-level prefix cache (byte budget, minimum prefix), or false to turn it off. */
  prefixCache?: PrefixCacheOptions | false;
  /**
   * The prefix cache's disk tier (docs/kv-reuse.md): the KV of long prompts kept as files under `dir`,
   * so another process, or this one after a restart, skips their prefill. Off unless given (the
   * CLI turns it on, under defaultPrefixCacheDir()).
   */
  prefixCacheDisk?: PrefixDiskOptions | false;
  /**
   * Run the lm_head on the last position of each run only (default true): model.onnx is rewritten in
   * memory at load, which takes the vocab x hidden product for every other prompt token out of prefill.
   * Graphs of another shape load unchanged; `model.info.lastPositionLogits` says which happened.
   */
  lastPositionLogits?: boolean;
  /**
   * Run int4 matrix products (MatMulNBits with 4 bits, block 32, accuracy level 4: Phi-4-mini's CPU
   * export) on phi4-onnx's own kernels (AVX-512 VNNI, AVX-VNNI or AVX2, as the CPU has them) instead
   * of ONNX Runtime's (default true). It makes prefill and batched decode markedly faster
   * (docs/engine.md). Used only where it can run: an x86-64 CPU with AVX2 and FMA, and a session on
   * the CPU provider. `model.info.int4Kernel` and `int4KernelVariant` say which happened. A variant's
   * name (`"avx2"`, ...) runs that micro-kernel set instead of the fastest, to measure what a CPU
   * without the faster ones gets; it must be one this CPU runs (`int4KernelVariants()`).
   */
  int4Kernel?: Int4KernelChoice;
  /**
   * Run attention (GroupQueryAttention with fp32 KV: Phi-4-mini's CPU export) on phi4-onnx's own
   * kernel instead of ONNX Runtime's (default true): flash-style, it reads each KV head's cache
   * once per block of query rows and never materializes the score matrix, which is what long
   * prompts wait for (docs/engine.md). Used only for sessions on the CPU provider;
   * `model.info.attentionKernel` says which happened.
   */
  attentionKernel?: boolean;
  /**
   * The KV cache's element type. "float16" halves its memory per token (docs/engine.md, "KV cache
   * type"): for fp32 CPU models the attention kernel stores new keys and values rounded to fp16 and
   * widens them back to fp32 as it reads them, so it needs the attention kernel (on the CPU provider,
   * attentionKernel not false); graphs whose KV is fp16 already (GPU exports) keep it. "float32"
   * keeps an fp32 graph's cache as it is. A type this model cannot use is INVALID_ARGUMENT.
   * Default: "float16" where the attention kernel runs (it costs no decode speed: docs/engine.md),
   * else the graph's own type. `model.info.kvType` says which is in use.
   */
  kvType?: KvType;
  /**
   * Prompt-lookup speculative decoding for generations that do not say (docs/speculative.md): drafts
   * taken from the sequence's own tokens, verified in one run each. Default true; false turns it off;
   * an object tunes it. Greedy output is the same either way.
   */
  speculative?: boolean | SpeculativeOptions;
}

export type KvType = "float32" | "float16";

export interface ProviderFallback {
  provider: string;
  reason: string;
}

export interface CreateSequenceOptions {
  /** Tokens the sequence can hold (prompt + output). Default: the model's defaultCapacity. */
  capacity?: number;
  /** Budget of the sequence's KV memory in bytes. Default: the model's kvMemory. */
  kvMemory?: number;
}

/** Default capacity of device KV, which is allocated whole when a sequence or context is made. */
const DEVICE_DEFAULT_CAPACITY = 4096;
/** The KV type of models on the attention kernel unless kvType says otherwise. */
const DEFAULT_KERNEL_KV_TYPE: KvType = "float16";

export class Model implements ContextHost {
  private readonly sequences = new Set<Sequence>();
  private readonly donors = new Set<KvDonor>();
  private readonly contexts = new Set<Context>();
  private readonly prefillListeners = new Set<(progress: PrefillProgress) => void>();
  private disposed = false;

  /** Saved sequence states reused by generations that start from a known prefix (null when off). */
  readonly prefixCache: PrefixCache | null;
  /** The prefix cache's disk tier (null when off). */
  readonly prefixDisk: PrefixDiskCache | null;
  /** What a saved state must match to be restored here. */
  readonly kvLayout: KvLayout;
  private usedProviders: string[] = ["cpu"];
  private speculative: boolean | SpeculativeOptions = true;
  private readonly speculation: SpeculationStats = { drafts: 0, draftedTokens: 0, acceptedTokens: 0, sampled: 0 };
  private fallbacks: ProviderFallback[] = [];

  private constructor(
    private readonly native: NativeModel,
    readonly folder: ModelFolder,
    readonly tokenizer: Tokenizer,
    readonly threads: number,
    /** Milliseconds the session took to load. */
    readonly loadMs: number,
    /** KV capacity of sequences and contexts created without one. */
    readonly defaultCapacity: number,
    /** KV memory budget (bytes) of contexts and sequences created without one. */
    readonly kvMemory: number,
    /** Tokens per prefill run (LoadModelOptions.prefillChunk). */
    readonly prefillChunk: number,
    fingerprint: string,
    prefixCache: PrefixCacheOptions | false,
    prefixDisk: PrefixDiskOptions | false,
  ) {
    this.prefixCache = prefixCache === false ? null : new PrefixCache(prefixCache);
    this.kvLayout = {
      fingerprint,
      kvType: native.info.kvType,
      layers: folder.numLayers,
      kvHeads: folder.numKvHeads,
      headSize: folder.headSize,
      vocabSize: folder.vocabSize,
    };
    this.prefixDisk = prefixDisk === false ? null : new PrefixDiskCache(prefixDisk, this.kvLayout);
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
    // Threads beyond a few per CPU only cost memory (each has its own stack and scratch buffers).
    const maxThreads = 4 * availableParallelism();
    if (threads > maxThreads) throw new Phi4Error("INVALID_ARGUMENT", `threads must be at most ${maxThreads} (4 per CPU of this machine; got ${threads})`);
    if (!Number.isInteger(prefillChunk) || prefillChunk < 1)
      throw new Phi4Error("INVALID_ARGUMENT", `prefillChunk must be a positive integer (got ${prefillChunk})`);
    if (typeof options.speculative === "object") resolveSpeculative(options.speculative);
    if (options.prefixCacheDisk) checkPrefixDiskOptions(options.prefixCacheDisk);
    if (options.kvType !== undefined && options.kvType !== "float32" && options.kvType !== "float16") {
      throw new Phi4Error("INVALID_ARGUMENT", `kvType must be "float32" or "float16" (got ${JSON.stringify(options.kvType)})`);
    }
    if (options.kvMemory !== undefined) checkKvMemory(options.kvMemory);
    if (typeof options.int4Kernel === "string") checkInt4KernelVariant(options.int4Kernel);
    const io = folder.config.model.decoder;
    const spec = {
      modelPath: folder.modelPath,
      intraOpThreads: threads,
      allowSpinning: options.allowSpinning ?? false,
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
    };
    const int4KernelVariant = typeof options.int4Kernel === "string" ? options.int4Kernel : undefined;
    // The int4 and attention kernels are CPU kernels: a graph for a GPU provider keeps ONNX Runtime's ops.
    const graphs = new Map<boolean, Promise<RewrittenGraph | null>>();
    const graphFor = (cpuOnly: boolean) => {
      if (!graphs.has(cpuOnly)) {
        const int4Kernel = cpuOnly && options.int4Kernel !== false && int4KernelSupported();
        const attentionKernel = cpuOnly && options.attentionKernel !== false;
        const halfKv = attentionKernel && (options.kvType ?? DEFAULT_KERNEL_KV_TYPE) === "float16";
        graphs.set(
          cpuOnly,
          rewriteGraphOffThread(folder.modelPath, {
            lastPositionLogits: options.lastPositionLogits === false ? null : io.outputs.logits,
            int4Kernel,
            int4KernelVariant,
            attentionKernel,
            halfKv,
          }),
        );
      }
      return graphs.get(cpuOnly)!;
    };
    const fallbacks: ProviderFallback[] = [];
    let remaining = providers;
    let native: NativeModel;
    for (;;) {
      try {
        const graph = await graphFor(remaining.every((p) => p.name === "cpu"));
        const rewrite = graph
          ? {
              modelBytes: graph.bytes,
              lastPositionLogits: graph.lastPositionLogits,
              logitsStart: graph.lastPositionLogits ? LOGITS_START_INPUT : undefined,
              int4Kernel: graph.int4Nodes > 0,
              ...(int4KernelVariant && { int4KernelVariant }),
              attentionKernel: graph.attentionNodes > 0,
            }
          : {};
        native = await callNative(() => runtime.loadModel({ ...spec, ...rewrite, providers: remaining }));
        break;
      } catch (error) {
        if (!(error instanceof Phi4Error) || error.code !== "PROVIDER_UNAVAILABLE" || remaining.length <= 1) throw error;
        fallbacks.push({ provider: remaining[0].name, reason: error.message });
        remaining = remaining.slice(1);
      }
    }
    if (options.kvType !== undefined && native.info.kvType !== options.kvType) {
      const kvType = native.info.kvType;
      native.dispose();
      throw new Phi4Error("INVALID_ARGUMENT", unavailableKvType(options.kvType, kvType));
    }
    const defaultCapacity = Math.min(options.defaultCapacity ?? (native.info.kvOnHost ? folder.contextLength : DEVICE_DEFAULT_CAPACITY), folder.contextLength);
    const kvMemory = options.kvMemory ?? defaultKvMemory(await weightBytes(path.dirname(folder.modelPath)));
    const fingerprint = await modelFingerprint(folder.dir, folder.modelPath);
    const model = new Model(
      native,
      folder,
      tokenizer,
      threads,
      performance.now() - started,
      defaultCapacity,
      kvMemory,
      prefillChunk,
      fingerprint,
      options.prefixCache ?? {},
      options.prefixCacheDisk ?? false,
    );
    model.usedProviders = remaining.length > 0 ? remaining.map((p) => p.name) : ["cpu"];
    model.speculative = options.speculative ?? true;
    model.fallbacks = fallbacks;
    return model;
  }

  /** The execution providers the session runs on, in order (CPU runs whatever they cannot). */
  get providers(): readonly string[] {
    return this.usedProviders;
  }

  /** Providers that were asked for but could not start, and why. */
  get providerFallbacks(): readonly ProviderFallback[] {
    return this.fallbacks;
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

  /** Speculative decoding for generations that do not say (loadModel's `speculative`). */
  get defaultSpeculative(): boolean | SpeculativeOptions {
    return this.speculative;
  }

  /** Speculative decoding over every finished generation of the model (the server's /metrics). */
  get speculativeStats(): Readonly<SpeculationStats> {
    return { ...this.speculation };
  }

  /** @internal */
  recordSpeculation(steps: SpeculationStats): void {
    this.speculation.drafts += steps.drafts;
    this.speculation.draftedTokens += steps.draftedTokens;
    this.speculation.acceptedTokens += steps.acceptedTokens;
    this.speculation.sampled += steps.sampled;
  }

  async createSequence(options: CreateSequenceOptions = {}): Promise<Sequence> {
    this.assertLive();
    const capacity = this.checkCapacity(options.capacity ?? this.defaultCapacity);
    const kvMemory = checkKvMemory(options.kvMemory ?? this.kvMemory);
    const native = await callNative(() => this.native.createSequence(capacity, kvMemory));
    const sequence: Sequence = new Sequence(native, this, () => this.sequences.delete(sequence));
    this.sequences.add(sequence);
    return sequence;
  }

  /** Sequences that decode together in batched steps (see Context). */
  async createContext(options: ContextOptions = {}): Promise<Context> {
    this.assertLive();
    const slots = options.sequences ?? 4;
    const maxQueue = options.maxQueue ?? 64;
    if (!Number.isInteger(slots) || slots < 1) throw new Phi4Error("INVALID_ARGUMENT", `sequences must be a positive integer (got ${slots})`);
    if (!Number.isInteger(maxQueue) || maxQueue < 0) throw new Phi4Error("INVALID_ARGUMENT", `maxQueue must be a non-negative integer (got ${maxQueue})`);
    const capacity = this.checkCapacity(options.capacity ?? this.defaultCapacity);
    const kvMemory = checkKvMemory(options.kvMemory ?? this.kvMemory);
    const native = await callNative(() => this.native.createContext(slots, capacity, kvMemory));
    const context = new Context(native, this, maxQueue, this.prefillChunk, () => this.contexts.delete(context));
    this.contexts.add(context);
    return context;
  }

  /**
   * Calls `listener` after every chunk of a prefill longer than one chunk, on any sequence of this
   * model (a command line shows a long prompt's progress this way); returns the unsubscribe function.
   */
  onPrefillProgress(listener: (progress: PrefillProgress) => void): () => void {
    this.prefillListeners.add(listener);
    return () => this.prefillListeners.delete(listener);
  }

  /** @internal */
  get hasPrefillListeners(): boolean {
    return this.prefillListeners.size > 0;
  }

  /** @internal Tells the listeners of onPrefillProgress; a listener that throws is not the generation's problem. */
  reportPrefill(progress: PrefillProgress): void {
    for (const listener of this.prefillListeners) {
      try {
        listener(progress);
      } catch {
        // ignored: see above
      }
    }
  }

  /** KV bytes the model's contexts hold now (their sequences' high-water marks; device KV: whole allocations). */
  get kvMemoryInUse(): number {
    let bytes = 0;
    for (const context of this.contexts) bytes += context.kvMemory.committed;
    return bytes;
  }

  /** @internal Registers a context's sequence (disposed with the model); returns its unregister function. */
  registerSequence(sequence: Sequence): () => void {
    this.sequences.add(sequence);
    return () => this.sequences.delete(sequence);
  }

  /** @internal A sequence offers its KV to the model's other sequences (prefix reuse); returns the withdrawal. */
  offerKv(donor: KvDonor): () => void {
    this.donors.add(donor);
    return () => this.donors.delete(donor);
  }

  /** @internal The KV other sequences of this model offer, except `except`'s. */
  *kvDonors(except: KvDonor): Iterable<KvDonor> {
    for (const donor of this.donors) if (donor !== except) yield donor;
  }

  /** Disposes every context and sequence (aborting running generations) and releases the session. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all([...this.contexts].map((context) => context.dispose()));
    // A state already taken is written before the process may exit (a one-shot command's prompt).
    await this.prefixDisk?.flush();
    await Promise.all([...this.sequences].map((sequence) => sequence.dispose()));
    await this.tokenizer.close();
    this.native.dispose();
  }

  private checkCapacity(capacity: number): number {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > this.folder.contextLength) {
      throw new Phi4Error("INVALID_ARGUMENT", `capacity must be an integer in [1, ${this.folder.contextLength}] (the model's context length); got ${capacity}`);
    }
    return capacity;
  }

  private assertLive(): void {
    if (this.disposed) throw new Phi4Error("DISPOSED", "the model has been disposed");
  }
}

/** Why a model whose graph gave it `actual` KV cannot have `wanted`. */
function unavailableKvType(wanted: KvType, actual: KvType): string {
  if (wanted === "float32") return `kvType float32 is not available: this model's graph stores its KV cache in ${actual}`;
  // ONNX Runtime's GroupQueryAttention takes one type for the queries, the cache and its output: an
  // fp16 cache there would need Casts that also round every query and attention output to fp16.
  return (
    `kvType float16 is not available here: for a model whose graph stores its KV cache in ${actual}, only the addon's attention kernel ` +
    `stores it in fp16, and that needs the CPU provider alone, attentionKernel not false, and a graph whose every GroupQueryAttention node it can run`
  );
}

export function loadModel(dir: string, options?: LoadModelOptions): Promise<Model> {
  return Model.load(dir, options);
}
