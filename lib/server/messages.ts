/**
 * POST /v1/messages: one request to the provider (the local model, or the router in front of it and
 * Claude), answered as one JSON message or as the Messages API's event stream. The client's
 * disconnect aborts the request's signal, which stops its generation and frees its sequence.
 */
import type { MessageRequest } from "../messages/types.js";
import { ApiError, toApiError } from "./errors.js";
import { streamEvents, type EventOutput } from "./event-stream.js";
import { readJson, sendJson } from "./http-io.js";
import { parseMessagesBody } from "./request-schema.js";
import type { Exchange, ServerState } from "./exchange.js";

export async function postMessages(x: Exchange, state: ServerState): Promise<void> {
  const { request, stream } = parseMessagesBody(await readJson(x.req, state.maxBodyBytes));
  refuseImages(request, state);
  if (!stream) {
    const message = await state.provider.create(request, { signal: x.signal });
    state.metrics.usage(message.usage);
    x.usage = message.usage;
    sendJson(x.res, 200, message);
    return;
  }
  await streamEvents(x, state, state.provider.stream(request, { signal: x.signal }), messagesOutput());
}

/** A text-only backend would only say so after the request waited for a sequence; say it at once, and plainly. */
export function refuseImages(request: MessageRequest, state: ServerState): void {
  if (state.provider.locality !== "local") return;
  const blocks = request.messages.flatMap((m) => (typeof m.content === "string" ? [] : m.content));
  const top = blocks.some((b) => b.type === "image");
  // A tool's image (a screenshot, a Read of a picture) gets the same answer: the model would answer without seeing it.
  const inResult = blocks.some((b) => b.type === "tool_result" && Array.isArray(b.content) && b.content.some((part) => part.type === "image"));
  if (top || inResult) {
    throw new ApiError(
      "invalid_request_error",
      `image content is not supported${top ? "" : " (an image inside a tool_result)"}: the model behind this server (${state.localId}) reads text only. Send text, or serve with --router and a Claude provider to take images.`,
    );
  }
}

/** The Messages API's stream: every event as it comes, message_delta with cumulative usage, input included. */
function messagesOutput(): EventOutput {
  const usage = { input_tokens: 0, output_tokens: 0 };
  return {
    usage,
    async send(sse, event) {
      if (event.type === "message_start") usage.input_tokens = event.message.usage.input_tokens;
      if (event.type !== "message_delta") return sse.send(event);
      usage.output_tokens = event.usage.output_tokens;
      usage.input_tokens = event.usage.input_tokens ?? usage.input_tokens;
      await sse.send({ ...event, usage: { ...usage } });
    },
    fail: (sse, failure, requestId) => sse.send(toApiError(failure).body(requestId)),
  };
}
