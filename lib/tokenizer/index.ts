export { Tokenizer, type TokenizerConfig } from "./tokenizer.js";
export { StreamDecoder } from "./stream-decoder.js";
export { renderChat, toolsJson, type ChatMessage, type RenderChatOptions } from "./chat-template.js";
