/**
 * Any chat-completions endpoint with tool calling (vLLM, llama.cpp server, Ollama's /v1), over plain
 * fetch: the way to scale past one machine while keeping the Messages API shape on this side.
 */
import { isLoopback } from "../util/loopback.js";
import { ProviderError } from "./errors.js";
import { fromOpenAIResponse, toOpenAIRequest, type OpenAIChatResponse } from "./openai-format.js";
import { OpenAIStreamTranslator, type OpenAIChunk } from "./openai-stream.js";
import { readServerSentEvents } from "./sse.js";
import type { MessageRequest, MessageResponse, StreamEvent } from "../messages/types.js";
import type { CallOptions, Provider } from "./types.js";

export interface OpenAICompatibleProviderOptions {
  /** Name in routing decisions and metrics. Default "openai". */
  name?: string;
  /** The API root including /v1, e.g. http://gpu-box:8000/v1 (vLLM), http://localhost:11434/v1 (Ollama). */
  baseURL: string;
  /** Default model when a request names none. */
  model: string;
  /** Sent as Authorization: Bearer. */
  apiKey?: string;
  headers?: Record<string, string>;
  /** Whole-request timeout. Default none (the caller's signal, or a router's timeout, bounds it). */
  timeoutMs?: number;
  /** Default: "local" when baseURL's host is a loopback address (a server on this machine), else "remote". */
  locality?: "local" | "remote";
}

export class OpenAICompatibleProvider implements Provider {
  readonly name: string;
  readonly locality: "local" | "remote";
  private readonly endpoint: string;

  constructor(private readonly options: OpenAICompatibleProviderOptions) {
    this.name = options.name ?? "openai";
    this.endpoint = `${options.baseURL.replace(/\/+$/, "")}/chat/completions`;
    this.locality = options.locality ?? (isLoopback(new URL(this.endpoint).hostname) ? "local" : "remote");
  }

  async create(request: MessageRequest, options: CallOptions = {}): Promise<MessageResponse> {
    const response = await this.post(request, false, options.signal);
    let json: OpenAIChatResponse;
    try {
      json = (await response.json()) as OpenAIChatResponse;
    } catch (error) {
      throw this.wrap(error, options.signal);
    }
    return fromOpenAIResponse(this.name, json);
  }

  async *stream(request: MessageRequest, options: CallOptions = {}): AsyncIterable<StreamEvent> {
    const response = await this.post(request, true, options.signal);
    const translator = new OpenAIStreamTranslator(this.name, request.model ?? this.options.model);
    try {
      for await (const { data } of readServerSentEvents(response.body!)) {
        if (data.trim() === "[DONE]") break;
        const chunk = this.parseChunk(data);
        yield* translator.push(chunk);
      }
    } catch (error) {
      throw this.wrap(error, options.signal);
    }
    yield* translator.end();
  }

  private async post(request: MessageRequest, stream: boolean, signal: AbortSignal | undefined): Promise<Response> {
    const body = toOpenAIRequest(this.name, request, request.model ?? this.options.model, stream);
    const signals = [signal, this.options.timeoutMs !== undefined ? AbortSignal.timeout(this.options.timeoutMs) : undefined].filter((s) => s !== undefined);
    let response: Response;
    try {
      response = await fetch(this.endpoint, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: stream ? "text/event-stream" : "application/json",
          ...(this.options.apiKey && { authorization: `Bearer ${this.options.apiKey}` }),
          ...this.options.headers,
        },
        body: JSON.stringify(body),
        signal: signals.length > 0 ? AbortSignal.any(signals) : undefined,
      });
    } catch (error) {
      throw this.wrap(error, signal);
    }
    if (!response.ok) {
      const text = await response.text().catch(() => "");
      throw new ProviderError(this.name, "http", `HTTP ${response.status}: ${errorMessage(text)}`, { status: response.status });
    }
    return response;
  }

  private parseChunk(data: string): OpenAIChunk {
    let chunk: OpenAIChunk & { error?: { message?: string } };
    try {
      chunk = JSON.parse(data);
    } catch {
      throw new ProviderError(this.name, "invalid_response", `a stream chunk is not JSON: ${data.slice(0, 200)}`);
    }
    // vLLM and llama.cpp report mid-stream failures as a data line with an error object.
    if (chunk.error) throw new ProviderError(this.name, "http", `the stream failed: ${chunk.error.message ?? JSON.stringify(chunk.error)}`);
    return chunk;
  }

  private wrap(error: unknown, callerSignal: AbortSignal | undefined): ProviderError {
    if (error instanceof ProviderError) return error;
    const message = (error as Error)?.message ?? String(error);
    if (callerSignal?.aborted) return new ProviderError(this.name, "aborted", "the request was aborted", { cause: error });
    if ((error as Error)?.name === "TimeoutError") return new ProviderError(this.name, "timeout", `no answer within ${this.options.timeoutMs} ms`, { cause: error });
    if (error instanceof TypeError) return new ProviderError(this.name, "network", `${message}${error.cause ? ` (${(error.cause as Error).message})` : ""}`, { cause: error });
    return new ProviderError(this.name, "invalid_response", message, { cause: error });
  }
}

/** The `error.message` of an OpenAI-style error body, else the body itself (shortened). */
function errorMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string } | string; message?: string };
    const message = typeof parsed.error === "string" ? parsed.error : (parsed.error?.message ?? parsed.message);
    if (message) return message;
  } catch {
    // not JSON: fall through to the raw text
  }
  return body.slice(0, 500) || "(empty body)";
}
