/**
 * Server-sent events in the Messages API's framing: every event has an `event:` line naming its type
 * (the official SDKs skip events without one) and a one-line JSON `data:` line. (OpenAI's chunks,
 * which have `data:` lines only, are written as frames of their own: see chat-completions.ts.) A ping goes out when
 * nothing else has for a while (a long prefill, a tool turn still generating), so proxies and clients
 * do not take a quiet stream for a dead one. Writes respect backpressure: a slow reader slows its
 * own stream, not the server's memory.
 */
import type { ServerResponse } from "node:http";

/** The Messages API's keep-alive event. */
const PING = `event: ping\ndata: ${JSON.stringify({ type: "ping" })}\n\n`;

export class SseWriter {
  private lastWrite = Date.now();
  private readonly ping: NodeJS.Timeout;

  /** `ping`: the keep-alive frame (OpenAI's streams take an SSE comment instead). */
  constructor(
    private readonly res: ServerResponse,
    pingMs = 10_000,
    ping = PING,
  ) {
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" });
    // Sent now, not with the first event: the stream may start before it (see FIRST_EVENT_WAIT_MS).
    res.flushHeaders();
    this.ping = setInterval(() => {
      if (Date.now() - this.lastWrite >= pingMs) void this.write(ping);
    }, pingMs);
    this.ping.unref();
  }

  /** Resolves once the event is written or buffered within limits (or the client has gone). */
  send(event: { type: string; [field: string]: unknown }): Promise<void> {
    return this.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  }

  /** Writes one frame as it is; resolves as send does. */
  async write(frame: string): Promise<void> {
    if (this.res.destroyed) return;
    this.lastWrite = Date.now();
    if (!this.res.write(frame)) await this.drained();
  }

  end(): void {
    clearInterval(this.ping);
    if (!this.res.destroyed) this.res.end();
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.res.off("drain", done);
        this.res.off("close", done);
        resolve();
      };
      this.res.once("drain", done);
      this.res.once("close", done);
    });
  }
}
