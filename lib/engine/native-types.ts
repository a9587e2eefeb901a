/** The shape of the compiled addon (native/). Only lib/engine talks to it. */

export interface NativeProviderSpec {
  name: string;
  options?: Record<string, string>;
}

export interface NativeModelSpec {
  modelPath: string;
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
}

export interface NativeEvalResult {
  token: number | null;
  logits?: Float32Array;
}

export interface NativeSequence {
  readonly length: number;
  readonly capacity: number;
  readonly kvValid: number;
  readonly longRope: boolean;
  readonly busy: boolean;
  eval(tokens: Int32Array | number[], options?: NativeEvalOptions): Promise<NativeEvalResult>;
  rewind(length: number): void;
  /** KV of the first `length` positions, laid out [layer][K, V][kv head][position][head_size]. */
  saveState(length: number): Promise<Uint8Array>;
  /** Replaces the sequence with `tokens` and the first tokens.length positions of a `stateLength`-position state. */
  loadState(kv: Uint8Array, stateLength: number, tokens: Int32Array | number[], longRope: boolean): Promise<void>;
  /** Replaces the sequence with the first `length` tokens and KV of `source` (same model). */
  copyFrom(source: NativeSequence, length: number): Promise<void>;
  cancel(): void;
  dispose(): void;
  tokens(): Int32Array;
}

export interface NativeModelInfo {
  inputNames: string[];
  outputNames: string[];
  kvType: "float32" | "float16";
  logitsType: "float32" | "float16";
  hasPositionIds: boolean;
  kvBytesPerToken: number;
}

export interface NativeModel {
  readonly info: NativeModelInfo;
  createSequence(capacity: number): Promise<NativeSequence>;
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
  /** Best-pass read bandwidth (bytes/s) of `threads` threads summing a `megabytes` MiB buffer. */
  measureReadBandwidth(megabytes: number, threads: number): Promise<number>;
}
