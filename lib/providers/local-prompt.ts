/**
 * A Messages API request in the two shapes the local model takes: plain chat messages for the model's
 * own template (no tools anywhere), or the tools layer's conversation (tool definitions, tool_use and
 * tool_result blocks). Images have no place in a text-only model and are refused with a clear reason,
 * at the top level and inside tool results alike, so a router can send such a request elsewhere.
 */
import type { ChatMessage } from "../tokenizer/chat-template.js";
import { ProviderError } from "./errors.js";
import { systemText, toolResultText } from "./flatten.js";
import type { ContentBlockParam, MessageParam, MessageRequest } from "../messages/types.js";

/** The request needs the tool prompt: tools are offered, or the history holds tool calls or results. */
export function usesTools(request: MessageRequest): boolean {
  return (
    (request.tools?.length ?? 0) > 0 ||
    request.messages.some((m) => typeof m.content !== "string" && m.content.some((b) => b.type === "tool_use" || b.type === "tool_result"))
  );
}

export function plainChatMessages(provider: string, request: MessageRequest): ChatMessage[] {
  const system = systemText(request);
  const messages: ChatMessage[] = system ? [{ role: "system", content: system }] : [];
  for (const message of request.messages) {
    const text = typeof message.content === "string" ? message.content : message.content.map((block) => textOnly(provider, block)).join("");
    messages.push({ role: message.role, content: text });
  }
  return messages;
}

export function toolConversation(provider: string, request: MessageRequest): MessageParam[] {
  return request.messages.map((message) => ({
    role: message.role,
    content:
      typeof message.content === "string"
        ? message.content
        : message.content.map((block): ContentBlockParam => {
            if (block.type === "tool_use") return { type: "tool_use", id: block.id, name: block.name, input: block.input };
            if (block.type === "tool_result") {
              // An image a tool returned is refused like one the user sent: the model would answer without seeing it.
              if (Array.isArray(block.content) && block.content.some((part) => part.type === "image")) throw notText(provider, "image blocks in a tool_result");
              return { type: "tool_result", tool_use_id: block.tool_use_id, content: toolResultText(block), is_error: block.is_error };
            }
            return { type: "text", text: textOnly(provider, block) };
          }),
  }));
}

function textOnly(provider: string, block: ContentBlockParam): string {
  if (block.type === "text") return block.text;
  throw notText(provider, `${block.type} blocks`);
}

/** "unsupported": a router takes it as a reason to try another provider. */
function notText(provider: string, what: string): ProviderError {
  return new ProviderError(provider, "unsupported", `the local model takes text only, not ${what} here`);
}
