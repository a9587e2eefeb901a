/**
 * The Anthropic-compatible HTTP server: Claude Code, the Claude Agent SDK and the official SDKs talk
 * to the local model (or to the router in front of it and Claude) as if it were the Messages API;
 * OpenAI clients do the same through /v1/chat/completions (chat-completions.ts), on the same provider.
 *
 *   const server = await startServer({ model, port: 8080, apiKey: "secret" });
 *   // ANTHROPIC_BASE_URL=http://127.0.0.1:8080 ANTHROPIC_AUTH_TOKEN=secret claude
 *   await server.close();
 *
 * Requests run on one engine Context (LocalProvider): concurrent ones share batched decode steps, and
 * a resent conversation reuses the KV of its prefix. A shutdown refuses new requests, lets running
 * ones finish for a grace period, then aborts the rest (their clients are told, with a retryable
 * overloaded_error) and closes every connection.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";

import { Phi4Error } from "../engine/errors.js";
import type { Model } from "../engine/model.js";
import { LocalProvider } from "../providers/local.js";
import { MESSAGES_API_SAMPLING, type RequestSampling } from "../providers/sampling-defaults.js";
import type { Provider } from "../providers/types.js";
import { apiKeyCheck } from "./auth.js";
import { ApiError, failureOf, toApiError } from "./errors.js";
import { sendError } from "./http-io.js";
import { FIRST_EVENT_WAIT_MS } from "./event-stream.js";
import { modelInfos } from "./model-names.js";
import { errorCode, silentLogger, type Logger } from "./request-log.js";
import type { Exchange, ServerState } from "./exchange.js";
import { matchRoute } from "./routes.js";
import { ServerMetrics } from "./server-metrics.js";
import { raceTimeout } from "../util/race-timeout.js";

export interface ServerOptions {
  /** The loaded model: it counts tokens for count_tokens and serves requests unless `provider` does. */
  model: Model;
  /** What answers /v1/messages, e.g. a Router. Default: a LocalProvider over `model`, closed with the server. */
  provider?: Provider;
  /** Requests the default LocalProvider generates at once (its Context's sequences). Default 4. */
  maxConcurrency?: number;
  /** Tokens per request (prompt + answer) for the default LocalProvider. Default min(4096, the model's context). */
  capacity?: number;
  /**
   * Keep client metadata system blocks (Claude Code's billing header) in the default LocalProvider's
   * prompt and in count_tokens. Default false: left out, so sessions share their prefix (docs/server.md).
   */
  keepClientMetadata?: boolean;
  /** Jump-forward in the default LocalProvider's tool turns (LocalProviderOptions.jumpForward). Default true. */
  jumpForward?: boolean;
  /** Requests that may wait for a sequence before one more is refused with 529. Default 64. */
  maxQueue?: number;
  /** When set, every request must carry it (x-api-key or Authorization: Bearer). */
  apiKey?: string;
  /** Largest request body accepted; a bigger one is a 413. Default 32 MiB (the Messages API's limit). */
  maxBodyBytes?: number;
  /**
   * Most tokens count_tokens counts before it answers 400 "prompt is too long" (tokenizing is the
   * costly part of it). Default: the model's context length. /v1/messages stops at twice its capacity.
   */
  maxCountTokens?: number;
  /** The local model's id in /v1/models and responses. Default: the model folder's name. */
  modelId?: string;
  /** Where access and error lines go (one JSON object per line). Default: none; `phi4 serve` logs at info to stderr. */
  logger?: Logger;
  /**
   * How long a stream's status line waits for its first event (default 5000 ms): an error before it is
   * an HTTP status, one after it an `error` event, and a long prefill does not leave the client without
   * response headers (which it times out on).
   */
  firstEventWaitMs?: number;
  /**
   * Sampling of the default LocalProvider for requests that send no temperature, top_p or top_k.
   * Default: the Messages API's (temperature 1.0). `{ temperature: 0 }` makes such requests greedy.
   */
  sampling?: RequestSampling;
}

export interface ListenOptions {
  /** Default 127.0.0.1: reachable from this machine only. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
}

interface InFlight {
  abort: AbortController;
  done: Promise<void>;
}

export class Phi4Server {
  readonly http: http.Server;
  readonly metrics: ServerMetrics;
  private readonly state: ServerState;
  private readonly ownProvider: LocalProvider | undefined;
  private readonly checkKey: ReturnType<typeof apiKeyCheck> | undefined;
  private readonly logger: Logger;
  private readonly inFlight = new Set<InFlight>();
  private closing: Promise<void> | undefined;
  private baseUrl: string | undefined;

  constructor(options: ServerOptions) {
    const localId = options.modelId ?? path.basename(options.model.folder.dir);
    this.ownProvider = options.provider
      ? undefined
      : new LocalProvider(options.model, {
          capacity: options.capacity,
          concurrency: options.maxConcurrency ?? 4,
          maxQueue: options.maxQueue,
          modelId: localId,
          sampling: options.sampling ?? MESSAGES_API_SAMPLING,
          keepClientMetadata: options.keepClientMetadata,
          jumpForward: options.jumpForward,
        });
    const provider = options.provider ?? this.ownProvider!;
    const renderer =
      provider instanceof LocalProvider
        ? provider
        : new LocalProvider(options.model, { capacity: options.capacity, modelId: localId, keepClientMetadata: options.keepClientMetadata });
    this.metrics = new ServerMetrics(options.model, provider);
    this.state = {
      provider,
      renderer,
      metrics: this.metrics,
      models: modelInfos(localId, new Date()),
      localId,
      maxBodyBytes: options.maxBodyBytes ?? 32 * 2 ** 20,
      maxCountTokens: options.maxCountTokens ?? options.model.contextLength,
      firstEventWaitMs: options.firstEventWaitMs ?? FIRST_EVENT_WAIT_MS,
    };
    this.checkKey = options.apiKey === undefined ? undefined : apiKeyCheck(options.apiKey);
    this.logger = options.logger ?? silentLogger;
    this.http = http.createServer((req, res) => void this.handle(req, res));
  }

  /** Starts listening; resolves with the base URL (what ANTHROPIC_BASE_URL should be). */
  listen(options: ListenOptions = {}): Promise<string> {
    const port = options.port ?? 8080;
    try {
      checkPort(port);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.http.once("error", reject);
      this.http.listen(port, options.host ?? "127.0.0.1", () => {
        this.http.off("error", reject);
        const { address, port, family } = this.http.address() as AddressInfo;
        this.baseUrl = `http://${family === "IPv6" ? `[${address}]` : address}:${port}`;
        resolve(this.baseUrl);
      });
    });
  }

  /** The base URL it listens (or listened) on. */
  get url(): string {
    if (this.baseUrl === undefined) throw new Error("the server has not been started: call listen()");
    return this.baseUrl;
  }

  /** Requests being answered now. */
  get activeRequests(): number {
    return this.inFlight.size;
  }

  /**
   * Stops taking requests, waits up to `graceMs` for running ones, aborts what is left, closes every
   * connection and the provider the server made. Safe to call twice. During the grace period the
   * server still listens and answers new requests 529 overloaded_error (which clients retry) rather
   * than refusing their connections.
   */
  close(options: { graceMs?: number } = {}): Promise<void> {
    this.closing ??= this.shutDown(options.graceMs ?? 10_000);
    return this.closing;
  }

  private async shutDown(graceMs: number): Promise<void> {
    this.http.closeIdleConnections();
    const finished = () => Promise.allSettled([...this.inFlight].map((r) => r.done));
    await raceTimeout(finished(), graceMs);
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    const reason = new ApiError("overloaded_error", "the server shut down before this answer was finished");
    for (const request of this.inFlight) request.abort.abort(reason);
    // An aborted generation stops between two steps; its stream ends with the error event.
    await raceTimeout(finished(), 5_000);
    this.http.closeAllConnections();
    await closed;
    await this.ownProvider?.close();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const requestId = `req_${randomUUID().replaceAll("-", "")}`;
    res.setHeader("request-id", requestId);
    const pathname = (req.url ?? "/").split("?")[0];
    const match = matchRoute(req.method, pathname);
    const end = this.metrics.begin(match?.route.path ?? "unmatched");
    const abort = new AbortController();
    const request: InFlight = { abort, done: new Promise((resolve) => res.once("close", resolve)) };
    this.inFlight.add(request);
    const x: Exchange = { req, res, requestId, signal: abort.signal, param: match?.param };
    const started = performance.now();
    let failure: unknown;
    res.once("close", () => {
      this.inFlight.delete(request);
      // The client left before the answer was complete: stop its generation.
      if (!res.writableFinished) abort.abort();
      const status = res.writableFinished ? res.statusCode : 499;
      end(status);
      this.logExchange(x, status, performance.now() - started, failure ?? x.streamError);
    });
    try {
      if (this.closing) {
        res.setHeader("connection", "close");
        throw new ApiError("overloaded_error", "the server is shutting down");
      }
      this.checkKey?.(req.headers);
      if (!match) throw new ApiError("not_found_error", `no route for ${req.method} ${pathname}`);
      await match.route.handle(x, this.state);
    } catch (error) {
      failure = failureOf(error, abort.signal);
      sendError(res, requestId, failure, match?.route.errorBody && ((error, cause) => match.route.errorBody!(error, cause, x)));
    }
  }

  private logExchange(x: Exchange, status: number, ms: number, failure: unknown): void {
    const fields = {
      request_id: x.requestId,
      method: x.req.method,
      path: (x.req.url ?? "/").split("?")[0],
      status,
      duration_ms: Math.round(ms * 10) / 10,
      ...(x.usage ? { input_tokens: x.usage.input_tokens, ...(x.usage.output_tokens === undefined ? {} : { output_tokens: x.usage.output_tokens }) } : {}),
    };
    this.logger.log("info", "request", fields);
    if (failure === undefined) return;
    const apiError = toApiError(failure);
    const level = apiError.status >= 500 || x.streamError !== undefined ? "error" : "warn";
    this.logger.log(level, "request failed", {
      request_id: x.requestId,
      status: apiError.status,
      error_type: apiError.type,
      code: errorCode(failure),
      message: apiError.message,
    });
  }
}

/** Throws INVALID_ARGUMENT unless `port` is one a server can listen on (0: any free port). */
export function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Phi4Error("INVALID_ARGUMENT", `port must be an integer from 0 to 65535 (got ${port})`);
}

export function createServer(options: ServerOptions): Phi4Server {
  return new Phi4Server(options);
}

/** Creates the server and starts listening (127.0.0.1:8080 unless told otherwise). */
export async function startServer(options: ServerOptions & ListenOptions): Promise<Phi4Server> {
  const server = createServer(options);
  await server.listen(options);
  return server;
}
