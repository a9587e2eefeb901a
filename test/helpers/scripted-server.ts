/**
 * A real HTTP server on 127.0.0.1 that answers each request with the next scripted reply and records
 * every request it saw. The protocol (Anthropic Messages, OpenAI chat completions) is the `answer`
 * function's business; this is the part both mocks share. These servers stand in for remote
 * services the tests cannot reach, and nothing else.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: any;
}

/** A reply, or a function of the request that makes one. */
export type Scripted<Reply> = Reply | ((request: RecordedRequest) => Reply);

export type Answer<Reply> = (reply: Reply | undefined, request: RecordedRequest, res: ServerResponse) => Promise<void> | void;

export class ScriptedServer<Reply> {
  readonly requests: RecordedRequest[] = [];
  private readonly script: Scripted<Reply>[] = [];
  private readonly waiters: { count: number; resolve: () => void }[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start<Reply>(answer: Answer<Reply>): Promise<ScriptedServer<Reply>> {
    // Assigned once the server listens; the handler that reads it cannot run before then.
    // eslint-disable-next-line prefer-const
    let self: ScriptedServer<Reply> | undefined;
    const server = createServer((req, res) => {
      void (async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const text = Buffer.concat(chunks).toString("utf8");
        const request: RecordedRequest = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: text ? JSON.parse(text) : undefined };
        self!.requests.push(request);
        self!.notify();
        const next = self!.script.shift();
        const reply = typeof next === "function" ? (next as (r: RecordedRequest) => Reply)(request) : next;
        await answer(reply, request, res);
      })().catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end(String(error));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    self = new ScriptedServer<Reply>(server, `http://127.0.0.1:${port}`);
    return self;
  }

  /** Resolves once the server has received `count` requests in all (at once if it already has). */
  received(count: number): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  private notify(): void {
    for (const waiter of this.waiters.filter((w) => this.requests.length >= w.count)) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  }

  /** Queues replies for the next requests, in order. */
  enqueue(...replies: Scripted<Reply>[]): void {
    this.script.push(...replies);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Waits `ms`, or less if the client hangs up first (a timed-out client must not keep the test waiting). */
export function delay(ms: number, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    res.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
