/**
 * Any chat-completions endpoint with tool calling (vLLM, llama.cpp server, Ollama's /v1, another
 * `phi4 serve`), through the official `openai` SDK: the way to scale past one machine while keeping
 * the Messages API shape on this side. The request and answer mapping is openai-mapping.ts, the
 * stream's openai-stream.ts.
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai";

import { isLoopback } from "../util/loopback.js";
import { ProviderError } from "./errors.js";
import { fromOpenAIResponse, toOpenAIRequest } from "./openai-mapping.js";
import { OpenAIStreamTranslator } from "./openai-stream.js";
import type { MessageRequest, MessageResponse, StreamEvent } from "../messages/types.js";
import type { CallOptions, Provider } from "./types.js";

export interface OpenAICompatibleProviderOptions {
  /** Name in routing decisions and metrics. Default "openai". */
  name?: string;
  /** The API root including /v1, e.g. http://gpu-box:8000/v1 (vLLM), http://localhost:11434/v1 (Ollama). */
  baseURL: string;
  /** Default model when a request names none. */
  model: string;
  /** Sent as Authorization: Bearer. Without it no Authorization header is sent (OPENAI_API_KEY is not read). */
  apiKey?: string;
  headers?: Record<string, string>;
  /** Whole-request timeout, answer included. Default none (the caller's signal, or a router's timeout, bounds it). */
  timeoutMs?: number;
  /** Retries of connection errors, 408, 409, 429 and 5xx, with the SDK's backoff. Default 0: a router falls back instead. */
  maxRetries?: number;
  /** Default: "local" when baseURL's host is a loopback address (a server on this machine), else "remote". */
  locality?: "local" | "remote";
}

export class OpenAICompatibleProvider implements Provider {
  readonly name: string;
  readonly locality: "local" | "remote";
  private readonly client: OpenAI;

  constructor(private readonly options: OpenAICompatibleProviderOptions) {
    this.name = options.name ?? "openai";
    const baseURL = options.baseURL.replace(/\/+$/, "");
    this.locality = options.locality ?? (isLoopback(new URL(baseURL).hostname) ? "local" : "remote");
    // Every credential and setting is given, so that none comes from OPENAI_* variables meant for OpenAI
    // itself: a key for api.openai.com must not be sent to another server.
    this.client = new OpenAI({
      baseURL,
      apiKey: options.apiKey ?? "unused",
      adminAPIKey: null,
      organization: null,
      project: null,
      maxRetries: options.maxRetries ?? 0,
      defaultHeaders: { ...(options.apiKey === undefined && { authorization: null }), ...options.headers },
    });
  }

  async create(request: MessageRequest, options: CallOptions = {}): Promise<MessageResponse> {
    const call = this.call(options);
    try {
      const response = await this.client.chat.completions.create({ ...this.body(request, options), stream: false }, { signal: call.signal });
      return fromOpenAIResponse(this.name, response);
    } catch (error) {
      throw this.wrap(error, options.signal);
    } finally {
      call.done();
    }
  }

  async *stream(request: MessageRequest, options: CallOptions = {}): AsyncIterable<StreamEvent> {
    const call = this.call(options);
    const translator = new OpenAIStreamTranslator(this.name, request.model ?? this.options.model);
    try {
      const chunks = await this.client.chat.completions.create(
        { ...this.body(request, options), stream: true, stream_options: { include_usage: true } },
        { signal: call.signal },
      );
      // Leaving this loop early (a consumer that stops reading) cancels the response.
      for await (const chunk of chunks) yield* translator.push(chunk);
      // The SDK ends an aborted stream quietly, as if it were complete: it was not.
      if (call.signal?.aborted) throw call.signal.reason;
      yield* translator.end();
    } catch (error) {
      throw this.wrap(error, options.signal);
    } finally {
      call.done();
    }
  }

  private body(request: MessageRequest, options: CallOptions) {
    return toOpenAIRequest(this.name, request, { model: request.model ?? this.options.model, seed: options.seed });
  }

  /** The caller's signal with the whole-request timeout; done() clears the timer. */
  private call(options: CallOptions): { signal: AbortSignal | undefined; done: () => void } {
    const timeoutMs = this.options.timeoutMs;
    if (timeoutMs === undefined) return { signal: options.signal, done: () => undefined };
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new TimeoutError(timeoutMs)), timeoutMs);
    return { signal: options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal, done: () => clearTimeout(timer) };
  }

  private wrap(error: unknown, callerSignal: AbortSignal | undefined): ProviderError {
    if (error instanceof ProviderError) return error;
    const message = (error as Error)?.message ?? String(error);
    if (callerSignal?.aborted) return new ProviderError(this.name, "aborted", "the request was aborted", { cause: error });
    if (error instanceof APIUserAbortError || error instanceof APIConnectionTimeoutError || error instanceof TimeoutError) {
      return new ProviderError(this.name, "timeout", `no answer within ${this.options.timeoutMs} ms`, { cause: error });
    }
    if (error instanceof APIConnectionError) {
      const cause = (error.cause as Error | undefined)?.message;
      return new ProviderError(this.name, "network", `${message}${cause ? ` (${cause})` : ""}`, { cause: error });
    }
    if (error instanceof APIError) {
      const detail = errorMessage(error);
      // vLLM, llama.cpp and this project's server report a failure inside a stream as a data line with an error object.
      if (error.status === undefined) return new ProviderError(this.name, "http", `the stream failed: ${detail}`, { cause: error });
      return new ProviderError(this.name, "http", `HTTP ${error.status}: ${detail}`, { status: error.status, cause: error });
    }
    return new ProviderError(this.name, "invalid_response", message, { cause: error });
  }
}

class TimeoutError extends Error {
  override readonly name = "TimeoutError";
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
  }
}

/** The `error.message` of the body, as OpenAI-style servers write it, else the SDK's message. */
function errorMessage(error: APIError): string {
  const body = error.error as { message?: unknown } | string | undefined;
  if (typeof body === "string" && body !== "") return body;
  if (body && typeof body === "object" && typeof body.message === "string") return body.message;
  return error.message;
}
