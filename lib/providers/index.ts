export type * from "./types.js";
export type * from "./routing.js";
export { ProviderError, type ProviderErrorKind } from "./errors.js";
export { MessageAccumulator, collectMessage } from "./accumulate.js";
export { AnthropicProvider, type AnthropicProviderOptions } from "./anthropic.js";
export { OpenAICompatibleProvider, type OpenAICompatibleProviderOptions } from "./openai-compatible.js";
export { LocalProvider, type LocalProviderOptions } from "./local.js";
