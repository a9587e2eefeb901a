/** The shape of the compiled addon (native/). Only lib/engine talks to it. */

export interface NativeProviderSpec {
  name: string;
  options?: Record<string, string>;
}

export interface NativeModelSpec {
  modelPath: string;
  /** The graph to load instead of the file (external data still read next to modelPath). */
  modelBytes?: Uint8Array;
  /** With modelBytes: its lm_head runs on the last position only. */
  lastPositionLogits?: boolean;
  /** With lastPositionLogits: the int64 [1] input where the lm_head's slice starts (-rows of logits per run row). */
  logitsStart?: string;
  /** With modelBytes: it has phi4_onnx.Int4MatMul nodes (the addon's int4 kernel). */
  int4Kernel?: boolean;
  /** With int4Kernel: the variant its nodes name (default: the fastest this CPU runs). */
  int4KernelVariant?: Int4KernelVariantName;
  /** With modelBytes: it has phi4_onnx.Attention nodes (the addon's attention kernel). */
  attentionKernel?: boolean;
  intraOpThreads: number;
  allowSpinning: boolean;
  providers: NativeProviderSpec[];
  inputIds: string;
  attentionMask: string;
  positionIds: string;
  pastKey: string;
  pastValue: string;
  logits: string;
  presentKey: string;
  presentValue: string;
  numLayers: number;
  numKvHeads: number;
  headSize: number;
  vocabSize: number;
  /** Sequences longer than this run under the long LongRoPE cache; 0 when the model has no switch. */
  ropeOriginalLength: number;
  prefillChunk: number;
}

export interface NativeSampling {
  greedy: boolean;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  /** Constrained decoding: bit i (LSB first) set = token i may be sampled. */
  allowedTokens?: Uint8Array;
}

export interface NativeEvalOptions {
  sampling?: NativeSampling;
  seed?: number;
  returnLogits?: boolean;
  /** The length a prompt fed in pieces will reach: picks the LongRoPE regime once for all of it. */
  regimeLength?: number;
  /**
   * Speculative step (with `sampling`): tokens guessed to follow. They run in one chunk after the
   * pending token; the longest prefix sampling accepts is kept and one token sampled after it
   * (docs/speculative.md). Cut natively where it would cross the LongRoPE switch or the capacity.
   */
  draft?: number[];
  /** With draft, for a constrained generation: the token mask of each checked position (draft.length + 1). */
  draftMasks?: Uint8Array[];
  /** With draft: SpeculativeOptions.batchRows (not read by eval; the scheduler passes it to decode). */
  draftBatchRows?: number;
}

export interface NativeEvalResult {
  token: number | null;
  logits?: Float32Array;
  /** A speculative step: the draft tokens accepted (appended before `token`). */
  accepted?: number[];
}

/**
 * One sequence, the one owner of its state: its tokens (a sampled token is appended at once and
 * evaluated by the next run), how many of them have valid KV, and the logits of its last position.
 * length, kvValid, longRope and tokens() are a snapshot taken when the last operation settled.
 */
export interface NativeSequence {
  readonly length: number;
  readonly capacity: number;
  /** Leading positions whose KV is in the cache; the tokens after them are evaluated by the next run. */
  readonly kvValid: number;
  readonly longRope: boolean;
  readonly busy: boolean;
  /**
   * Appends `tokens` and runs every position without KV (or the last one again when its logits are
   * gone); with `sampling`, samples the next token and appends it. Fails leaving the sequence as it was.
   */
  eval(tokens: Int32Array | number[], options?: NativeEvalOptions): Promise<NativeEvalResult>;
  /** Keeps the first `length` tokens (the next run evaluates the last one again, for its logits). */
  rewind(length: number): void;
  /** KV of the first `length` positions, laid out [layer][K, V][kv head][position][head_size]. */
  saveState(length: number): Promise<Uint8Array>;
  /** Replaces the sequence with `tokens`, the first `kvLength` of them with their KV from a `stateLength`-position state. */
  loadState(kv: Uint8Array, stateLength: number, tokens: Int32Array | number[], kvLength: number, longRope: boolean): Promise<void>;
  /** Replaces the sequence with `tokens` and their KV from `source`, which must hold exactly these tokens first. */
  copyFrom(source: NativeSequence, tokens: Int32Array | number[]): Promise<void>;
  cancel(): void;
  dispose(): void;
  /** Every token, as of the last settled operation. */
  tokens(): Int32Array;
}

export interface NativeModelInfo {
  inputNames: string[];
  outputNames: string[];
  kvType: "float32" | "float16";
  logitsType: "float32" | "float16";
  hasPositionIds: boolean;
  /** The lm_head runs on the last position of each run only (the load-time graph rewrite). */
  lastPositionLogits: boolean;
  /** The int4 matrix products run on the addon's own kernel (the load-time graph rewrite). */
  int4Kernel: boolean;
  /** With int4Kernel: the micro-kernel set they run on here (the fastest this CPU has); else null. */
  int4KernelVariant: Int4KernelVariantName | null;
  /** Attention runs on the addon's own kernel (the load-time graph rewrite). */
  attentionKernel: boolean;
  kvBytesPerToken: number;
  /** KV lives in host memory (the CPU provider): it grows on demand within the KV memory budget. */
  kvOnHost: boolean;
}

/** A context's KV memory: bytes accounted as backed (high-water marks of its sequences) and the budget. */
export interface NativeKvMemory {
  committed: number;
  budget: number;
  /** Bytes no longer in `committed` whose pages are still being given back (a thread of their own). */
  releasing: number;
  /** Host KV, backed as it is written; false: one fixed device allocation (committed from the start). */
  growsOnDemand: boolean;
}

/** A speculative row of a batched decode step: the tokens drafted after the pending one (NativeEvalOptions.draft). */
export interface NativeDraft {
  draft: number[];
  draftMasks?: Uint8Array[];
}

/** A speculative row's outcome: the draft tokens accepted, then the token sampled after them. */
export interface NativeVerifiedStep {
  token: number;
  accepted: number[];
}

export interface NativeContext {
  readonly slots: number;
  readonly capacity: number;
  readonly freeSlots: number;
  readonly kvMemory: NativeKvMemory;
  /** A sequence in a free slot (BUSY when none is free). */
  createSequence(): NativeSequence;
  /**
   * One batched decode step: evaluates each sequence's pending token and samples (and appends) its
   * next one. Each entry is that token, or the error (with a `code`) sequences[i] failed with on its
   * own; a failed sequence keeps its tokens. Rejects only when the arguments themselves are wrong.
   */
  decode(
    sequences: NativeSequence[],
    samplings: NativeSampling[],
    drafts?: (NativeDraft | undefined)[],
    draftRows?: number,
  ): Promise<(number | NativeVerifiedStep | Error)[]>;
  dispose(): void;
}

export interface NativeModel {
  readonly info: NativeModelInfo;
  /** `kvMemory`: the budget of backed KV in bytes (none when absent); KV_MEMORY_EXCEEDED past it. */
  createSequence(capacity: number, kvMemory?: number): Promise<NativeSequence>;
  createContext(slots: number, capacity: number, kvMemory?: number): Promise<NativeContext>;
  dispose(): void;
}

export interface NativeRuntime {
  readonly version: string;
  readonly apiVersion: number;
  availableProviders(): string[];
  loadModel(spec: NativeModelSpec): Promise<NativeModel>;
}

export interface NativeBinding {
  Runtime: new (libraryPath: string, logLevel?: number) => NativeRuntime;
  /** A SIMD variant of the int4 kernel runs on this CPU (x86-64 with AVX2 and FMA at least). */
  int4KernelSupported: boolean;
  /**
   * The attention kernel alone (tests): one step of GroupQueryAttention's work on a KV cache
   * (updated in place): fp32 `key`/`value`, or an fp16 cache as bit patterns in `keyHalf`/`valueHalf`;
   * `portable` runs its plain C++ variant.
   */
  attention(args: {
    qkv: Float32Array;
    key?: Float32Array;
    value?: Float32Array;
    keyHalf?: Uint16Array;
    valueHalf?: Uint16Array;
    seqlensK: Int32Array;
    cos: Float32Array;
    sin: Float32Array;
    cacheRows: number;
    batch: number;
    seq: number;
    heads: number;
    kvHeads: number;
    headSize: number;
    rotaryHalf: number;
    capacity: number;
    scale: number;
    portable?: boolean;
  }): Float32Array;
  /** The attention kernel's variant on this CPU: "avx512", "avx2" or "portable". */
  attentionKernelVariant: string;
  /** The variant models use here: the fastest this CPU runs. */
  int4KernelVariant: Int4KernelVariantName;
  /** Every variant, fastest first, and whether this CPU runs it. */
  int4KernelVariants(): Int4KernelVariantInfo[];
  /**
   * The int4 kernel alone on small matrices (tests): a [rows][k] times MatMulNBits weights
   * [n][k/32][16] and scales [n][k/32]; by default the engine's variant.
   */
  int4MatMul(args: {
    a: Float32Array;
    rows: number;
    weights: Uint8Array;
    scales: Float32Array;
    n: number;
    k: number;
    variant?: Int4KernelVariantName;
  }): Float32Array;
  /** Best-pass read bandwidth (bytes/s) of `threads` threads summing a `megabytes` MiB buffer. */
  measureReadBandwidth(megabytes: number, threads: number): Promise<number>;
}

/** The int4 kernel's micro-kernel sets (native/int4_matmul.h), fastest first, as int4KernelVariants() lists them. */
export const INT4_KERNEL_VARIANTS = ["avx512vnni", "avxvnni", "avx2", "portable"] as const;
export type Int4KernelVariantName = (typeof INT4_KERNEL_VARIANTS)[number];

export interface Int4KernelVariantInfo {
  name: Int4KernelVariantName;
  supported: boolean;
  /** Rows of the register tile: a product of up to this many rows reads the weights once. */
  tileRows: number;
}
