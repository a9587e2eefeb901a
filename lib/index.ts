/**
 * phi4-onnx: run Phi-4-mini-instruct ONNX model folders locally from Node.js.
 *
 *   import { loadModel } from "phi4-onnx";
 *   const model = await loadModel("Phi-4-mini-instruct-onnx/cpu_and_mobile/cpu-int4-rtn-block-32-acc-level-4");
 *   const sequence = await model.createSequence();
 *   const prompt = model.tokenizer.encodeChat([{ role: "user", content: "Hi!" }]);
 *   for await (const chunk of sequence.generate(prompt)) process.stdout.write(chunk.text);
 */
export { Phi4Error, type Phi4ErrorCode } from "./engine/errors.js";
export { loadModel, Model, type CreateSequenceOptions, type KvType, type LoadModelOptions, type ProviderName } from "./engine/model.js";
export { Sequence, type ReuseResult, type ReuseSource } from "./engine/sequence.js";
export { Context, type ContextOptions, type ContextStats } from "./engine/context.js";
export { PrefixCache, type PrefixCacheOptions, type PrefixCacheStats } from "./engine/prefix-cache.js";
export { readStateFile, writeStateFile, type KvLayout, type ReadStateOptions, type SequenceState, type WriteStateOptions } from "./engine/sequence-state.js";
export { ChatSession, type ChatSessionOptions } from "./chat/chat-session.js";
export { Generation, type GenerateOptions, type GenerationChunk, type GenerationResult, type StopReason, type TokenConstraint } from "./engine/generation.js";
export { Generator, type GeneratorParams } from "./engine/generator.js";
export type { SamplingOptions } from "./engine/sampling.js";
export { loadModelFolder, type ModelFolder } from "./engine/genai-config.js";
export { runtimeInfo, type RuntimeInfo } from "./engine/runtime.js";
export * from "./tokenizer/index.js";
export { makeModel, MODEL_PRESETS, type MakeModelOptions, type ModelPreset } from "./modelmaker/index.js";
// Agents: providers in the Messages API shape, MCP tools, the hybrid router and the agent loop.
// The Messages types have generic names (TextBlock, StopReason, Usage...), so they are reachable as
// `Messages.X`; the ones an agent's code names most are exported directly as well.
export type * as Messages from "./providers/types.js";
export type { CallOptions, MessageParam, MessageRequest, MessageResponse, Provider, StreamEvent, TaskHints, ToolOutput } from "./providers/types.js";
export { AnthropicProvider, collectMessage, LocalProvider, MessageAccumulator, OpenAICompatibleProvider, ProviderError } from "./providers/index.js";
export type { AnthropicProviderOptions, LocalProviderOptions, OpenAICompatibleProviderOptions, ProviderErrorKind } from "./providers/index.js";
export * from "./mcp/index.js";
export * from "./router/index.js";
export * from "./agent/index.js";
export * from "./tools/index.js";
// The Anthropic-compatible server behind `phi4 serve`: startServer({ model, provider?, apiKey?, port? }).
export * from "./server/index.js";
