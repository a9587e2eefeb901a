export { Tokenizer, type EncodeOptions, type TokenizerConfig } from "./tokenizer.js";
export { StreamDecoder } from "./stream-decoder.js";
export { renderChat, renderChatPrompt, toolsJson, type ChatMessage, type RenderChatOptions } from "./chat-template.js";
export { PromptText } from "./prompt-text.js";
