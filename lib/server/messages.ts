/**
 * POST /v1/messages: one request to the provider (the local model, or the router in front of it and
 * Claude), answered as one JSON message or as the Messages API's event stream. The client's
 * disconnect aborts the request's signal, which stops its generation and frees its sequence.
 */
import type { MessageRequest, StreamEvent } from "../messages/types.js";
import { raceTimeout } from "../util/race-timeout.js";
import { ApiError, failureOf, toApiError } from "./errors.js";
import { readJson, sendJson } from "./http-io.js";
import { parseMessagesBody } from "./request-schema.js";
import type { Exchange, ServerState } from "./exchange.js";
import { SseWriter } from "./sse.js";

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
  await streamEvents(x, state, state.provider.stream(request, { signal: x.signal }));
}

/** A text-only backend would only say so after the request waited for a sequence; say it at once, and plainly. */
function refuseImages(request: MessageRequest, state: ServerState): void {
  if (state.provider.locality !== "local") return;
  const image = request.messages.some((m) => typeof m.content !== "string" && m.content.some((b) => b.type === "image"));
  if (image) {
    throw new ApiError("invalid_request_error", `image content is not supported: the model behind this server (${state.localId}) reads text only. Send text, or serve with --router and a Claude provider to take images.`);
  }
}

/**
 * How long a stream's status line waits for the first event, by default. A failure before it
 * (overloaded, prompt too long: both are known at once) is still an HTTP error status, which clients
 * act on (the SDKs retry a 529, not a 400), rather than a stream error. It does not wait longer: a
 * tool turn's first event comes only after the prefill, minutes for a long prompt on a CPU, and
 * clients time out waiting for the response headers (Claude Code after API_TIMEOUT_MS, 10 minutes by
 * default, then retries from scratch). Once the status line is sent, pings keep the stream alive.
 */
export const FIRST_EVENT_WAIT_MS = 5_000;

async function streamEvents(x: Exchange, state: ServerState, events: AsyncIterable<StreamEvent>): Promise<void> {
  const iterator = events[Symbol.asyncIterator]();
  const first = iterator.next();
  // A rejection within the wait is thrown here, before the status line: an HTTP error.
  const early = await raceTimeout(first, state.firstEventWaitMs);
  const sse = new SseWriter(x.res);
  const usage = { input_tokens: 0, output_tokens: 0 };
  try {
    for (let next = early ?? (await first); !next.done; next = await iterator.next()) {
      const event = next.value;
      if (event.type === "message_start") usage.input_tokens = event.message.usage.input_tokens;
      if (event.type === "message_delta") {
        usage.output_tokens = event.usage.output_tokens;
        usage.input_tokens = event.usage.input_tokens ?? usage.input_tokens;
        // Cumulative usage, input included, as the Messages API sends it.
        await sse.send({ ...event, usage: { ...usage } });
      } else await sse.send(event);
    }
    state.metrics.usage(usage);
  } catch (error) {
    // Once the stream has started, errors are events (a client that left reads nothing).
    x.streamError = failureOf(error, x.signal);
    await sse.send(toApiError(x.streamError).body(x.requestId));
  } finally {
    x.usage = usage;
    sse.end();
    await iterator.return?.();
  }
}
