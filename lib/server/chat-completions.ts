/**
 * POST /v1/chat/completions: OpenAI's Chat Completions API on the same provider as /v1/messages (the
 * local model with its batching and prefix reuse, or the router). The request is mapped to the
 * Messages shape (chat-request.ts), the provider's message or events are mapped back to a
 * chat.completion or chat.completion.chunk stream (providers/openai-mapping.ts, openai-stream.ts);
 * errors are in OpenAI's shape (openai-shape.ts), a stream's as a last `data:` line with an error object.
 */
import { toChatCompletion } from "../providers/openai-mapping.js";
import { ChatChunkWriter } from "../providers/openai-stream.js";
import { parseChatBody } from "./chat-request.js";
import { toApiError } from "./errors.js";
import { streamEvents, type EventOutput } from "./event-stream.js";
import { readJson, sendJson } from "./http-io.js";
import { refuseImages } from "./messages.js";
import { openAIErrorBody } from "./openai-shape.js";
import { answerEvents, answerMessage } from "./response-format.js";
import type { Exchange, ServerState } from "./exchange.js";

export async function postChatCompletions(x: Exchange, state: ServerState): Promise<void> {
  // Without a max_tokens, the answer may take what the local capacity leaves after the prompt.
  const chat = parseChatBody(await readJson(x.req, state.maxBodyBytes), state.renderer.contextTokens);
  refuseImages(chat.request, state);
  const options = { signal: x.signal, ...(chat.seed !== undefined && { seed: chat.seed }) };
  const created = Math.floor(Date.now() / 1000);
  if (!chat.stream) {
    const message = answerMessage(await state.provider.create(chat.request, options), chat.answerTool);
    state.metrics.usage(message.usage);
    x.usage = message.usage;
    sendJson(x.res, 200, toChatCompletion(message, created));
    return;
  }
  const events = answerEvents(state.provider.stream(chat.request, options), chat.answerTool);
  await streamEvents(x, state, events, chunksOutput(new ChatChunkWriter({ created, includeUsage: chat.includeUsage })));
}

/** OpenAI's stream: `data:` lines without event names, SSE comments as keep-alives, `data: [DONE]` at the end. */
function chunksOutput(writer: ChatChunkWriter): EventOutput {
  const data = (json: unknown) => `data: ${JSON.stringify(json)}\n\n`;
  return {
    usage: writer.usage,
    ping: ": ping\n\n",
    async send(sse, event) {
      for (const chunk of writer.push(event)) await sse.write(data(chunk));
    },
    fail: (sse, failure) => sse.write(data(openAIErrorBody(toApiError(failure), failure))),
    finish: (sse) => sse.write("data: [DONE]\n\n"),
  };
}
