/**
 * phi4-onnx: run Phi-4-mini-instruct ONNX model folders locally from Node.js. This entry is the
 * engine (models, sequences, contexts, generation, the tokenizer); the layers above it have their
 * own entries, so that loading the engine loads nothing else:
 *
 *   phi4-onnx/tools      tool calling: prompts, call parsing, constrained calls, tool turns
 *   phi4-onnx/messages   the Messages API types every layer above the engine speaks
 *   phi4-onnx/providers  local, Anthropic and OpenAI-compatible providers behind one interface
 *   phi4-onnx/router     the hybrid router across providers
 *   phi4-onnx/mcp        MCP servers' tools as Messages tools
 *   phi4-onnx/agents     the agent loop
 *   phi4-onnx/server     the Anthropic-compatible HTTP server behind `phi4 serve`
 *   phi4-onnx/testing    the model maker: random-weight model folders for tests
 *
 *   import { loadModel } from "phi4-onnx";
 *   const model = await loadModel("Phi-4-mini-instruct-onnx/cpu_and_mobile/cpu-int4-rtn-block-32-acc-level-4");
 *   const sequence = await model.createSequence();
 *   const prompt = model.tokenizer.encodeChat([{ role: "user", content: "Hi!" }]);
 *   for await (const chunk of sequence.generate(prompt)) process.stdout.write(chunk.text);
 */
export { Phi4Error, type Phi4ErrorCode } from "./engine/errors.js";
export { loadModel, Model, type CreateSequenceOptions, type KvType, type LoadModelOptions, type ProviderName } from "./engine/model.js";
export type { PrefillProgress } from "./engine/model-host.js";
export { Sequence, type ReuseResult, type ReuseSource } from "./engine/sequence.js";
export { Context, type ContextHost, type ContextOptions, type ContextStats } from "./engine/context.js";
export type { ModelHost } from "./engine/model-host.js";
export { PrefixCache, type PrefixCacheOptions, type PrefixCacheStats } from "./engine/prefix-cache.js";
export { PrefixDiskCache, type PrefixDiskOptions, type PrefixDiskStats } from "./engine/prefix-disk.js";
export { defaultPrefixCacheDir, userCacheDir } from "./engine/cache-dir.js";
export { readStateFile, writeStateFile, type KvLayout, type ReadStateOptions, type SequenceState, type WriteStateOptions } from "./engine/sequence-state.js";
export { ChatSession, type ChatSessionOptions } from "./chat/chat-session.js";
export {
  Generation,
  type GenerateOptions,
  type GenerationChunk,
  type GenerationResult,
  type GenerationStopReason,
  type TokenConstraint,
} from "./engine/generation.js";
export { Generator, type GeneratorParams } from "./engine/generator.js";
export type { SamplingOptions } from "./engine/sampling.js";
export { loadModelFolder, type ModelFolder } from "./engine/genai-config.js";
export { runtimeInfo, type RuntimeInfo } from "./engine/runtime.js";
export * from "./tokenizer/index.js";
