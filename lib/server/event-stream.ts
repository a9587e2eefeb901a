/**
 * Sending a provider's event stream as server-sent events, whatever API the route speaks (the
 * Messages API's events, or OpenAI's chunks): the status line waits a little for the first event, so
 * an early failure is still an HTTP status; after it, a failure is the stream's last event. The
 * route's EventOutput says how events, the failure and the end are written.
 */
import type { StreamEvent, Usage } from "../messages/types.js";
import { raceTimeout } from "../util/race-timeout.js";
import { failureOf } from "./errors.js";
import type { Exchange, ServerState } from "./exchange.js";
import { SseWriter } from "./sse.js";

/**
 * How long a stream's status line waits for the first event, by default. A failure before it
 * (overloaded, prompt too long: both are known at once) is still an HTTP error status, which clients
 * act on (the SDKs retry a 529, not a 400), rather than a stream error. It does not wait longer: a
 * tool turn's first event comes only after the prefill, minutes for a long prompt on a CPU, and
 * clients time out waiting for the response headers (Claude Code after API_TIMEOUT_MS, 10 minutes by
 * default, then retries from scratch). Once the status line is sent, pings keep the stream alive.
 */
export const FIRST_EVENT_WAIT_MS = 5_000;

/** One API's way of writing a stream. */
export interface EventOutput {
  /** The keep-alive frame. Default: the Messages API's ping event. */
  ping?: string;
  send(sse: SseWriter, event: StreamEvent): Promise<void>;
  /** Writes the failure that ended the stream (anything thrown; toApiError maps it). */
  fail(sse: SseWriter, failure: unknown, requestId: string): Promise<void>;
  /** Writes what follows the last event, if anything. */
  finish?(sse: SseWriter): Promise<void>;
  /** The answer's tokens so far. */
  readonly usage: Usage;
}

export async function streamEvents(x: Exchange, state: ServerState, events: AsyncIterable<StreamEvent>, output: EventOutput): Promise<void> {
  const iterator = events[Symbol.asyncIterator]();
  const first = iterator.next();
  // A rejection within the wait is thrown here, before the status line: an HTTP error.
  const early = await raceTimeout(first, state.firstEventWaitMs);
  const sse = new SseWriter(x.res, undefined, output.ping);
  try {
    for (let next = early ?? (await first); !next.done; next = await iterator.next()) await output.send(sse, next.value);
    await output.finish?.(sse);
    state.metrics.usage(output.usage);
  } catch (error) {
    // Once the stream has started, errors are events (a client that left reads nothing).
    x.streamError = failureOf(error, x.signal);
    await output.fail(sse, x.streamError, x.requestId);
  } finally {
    x.usage = output.usage;
    sse.end();
    await iterator.return?.();
  }
}
