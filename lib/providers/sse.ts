/**
 * Server-sent events from a fetch body, per the WHATWG event-stream rules the servers we talk to
 * follow: lines end in \n, \r\n or \r; "data:" lines of one event are joined with \n; a blank line
 * dispatches; lines starting with ":" are comments (keep-alives).
 */
export interface ServerSentEvent {
  event?: string;
  data: string;
}

export async function* readServerSentEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  let event: string | undefined;
  let data: string[] = [];
  const reader = body.getReader();
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      // A trailing \r may be the first half of \r\n: keep it until more arrives (or the stream ends).
      const lines = buffer.split(/\r\n|\r(?!$)|\n/);
      buffer = done ? "" : lines.pop()!;
      for (const rawLine of lines) {
        const line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
        if (line === "") {
          if (data.length > 0) yield { event, data: data.join("\n") };
          event = undefined;
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") data.push(value);
        else if (field === "event") event = value;
      }
      if (done) break;
    }
    finished = true;
    if (data.length > 0) yield { event, data: data.join("\n") };
  } finally {
    // A consumer that stops early must not leave the connection open.
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
