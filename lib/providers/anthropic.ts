/**
 * Claude through the official SDK. The request passes through as is (it is already the Messages
 * shape); responses and stream events are narrowed to text and tool_use blocks, with the stream's
 * block indices renumbered when a block of another kind (thinking, server tools) is dropped.
 */
import Anthropic from "@anthropic-ai/sdk";

import { ProviderError } from "./errors.js";
import type { ContentBlock, MessageRequest, MessageResponse, StopReason, StreamEvent } from "../messages/types.js";
import type { CallOptions, Provider } from "./types.js";

export interface AnthropicProviderOptions {
  /** Name in routing decisions and metrics. Default "claude". */
  name?: string;
  /** Default model when a request names none. */
  model: string;
  /** Sent as the SDK's apiKey; default: the SDK's own lookup (ANTHROPIC_API_KEY, ...). */
  apiKey?: string;
  /** A bearer token instead of an API key (ANTHROPIC_AUTH_TOKEN style gateways). */
  authToken?: string;
  /** Default https://api.anthropic.com (or ANTHROPIC_BASE_URL). No trailing /v1. */
  baseURL?: string;
  /** Per HTTP attempt. Default: the SDK's 10 minutes. */
  timeoutMs?: number;
  /** Retries of 408/409/429/5xx/connection errors. Default: the SDK's 2. A router usually wants 0 and its own fallback. */
  maxRetries?: number;
  headers?: Record<string, string>;
}

export class AnthropicProvider implements Provider {
  readonly name: string;
  readonly locality = "remote" as const;
  private readonly client: Anthropic;

  constructor(private readonly options: AnthropicProviderOptions) {
    this.name = options.name ?? "claude";
    this.client = new Anthropic({
      apiKey: options.apiKey,
      authToken: options.authToken,
      baseURL: options.baseURL,
      timeout: options.timeoutMs,
      maxRetries: options.maxRetries,
      defaultHeaders: options.headers,
    });
  }

  async create(request: MessageRequest, options: CallOptions = {}): Promise<MessageResponse> {
    try {
      const message = await this.client.messages.create({ ...request, model: request.model ?? this.options.model, stream: false }, { signal: options.signal });
      return {
        id: message.id,
        type: "message",
        role: "assistant",
        content: message.content.flatMap((block) => narrowBlock(block)),
        model: message.model,
        stop_reason: stopReason(message.stop_reason),
        stop_sequence: message.stop_sequence,
        usage: { input_tokens: message.usage.input_tokens, output_tokens: message.usage.output_tokens },
      };
    } catch (error) {
      throw this.wrap(error);
    }
  }

  async *stream(request: MessageRequest, options: CallOptions = {}): AsyncIterable<StreamEvent> {
    // Upstream index -> ours, for the blocks we keep.
    const indices = new Map<number, number>();
    try {
      const events = await this.client.messages.create({ ...request, model: request.model ?? this.options.model, stream: true }, { signal: options.signal });
      for await (const event of events) {
        switch (event.type) {
          case "message_start": {
            const { id, model, usage } = event.message;
            yield {
              type: "message_start",
              message: {
                id,
                type: "message",
                role: "assistant",
                content: [],
                model,
                stop_reason: null,
                stop_sequence: null,
                usage: { input_tokens: usage.input_tokens, output_tokens: usage.output_tokens },
              },
            };
            break;
          }
          case "content_block_start": {
            const [block] = narrowBlock(event.content_block);
            if (!block) break;
            indices.set(event.index, indices.size);
            yield { type: "content_block_start", index: indices.get(event.index)!, content_block: block };
            break;
          }
          case "content_block_delta": {
            const index = indices.get(event.index);
            if (index === undefined) break;
            if (event.delta.type === "text_delta") yield { type: "content_block_delta", index, delta: { type: "text_delta", text: event.delta.text } };
            else if (event.delta.type === "input_json_delta")
              yield { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: event.delta.partial_json } };
            break;
          }
          case "content_block_stop": {
            const index = indices.get(event.index);
            if (index !== undefined) yield { type: "content_block_stop", index };
            break;
          }
          case "message_delta":
            yield {
              type: "message_delta",
              delta: { stop_reason: stopReason(event.delta.stop_reason), stop_sequence: event.delta.stop_sequence },
              usage: { output_tokens: event.usage.output_tokens, ...(event.usage.input_tokens != null && { input_tokens: event.usage.input_tokens }) },
            };
            break;
          case "message_stop":
            yield { type: "message_stop" };
            break;
        }
      }
    } catch (error) {
      throw this.wrap(error);
    }
  }

  private wrap(error: unknown): ProviderError {
    if (error instanceof ProviderError) return error;
    const message = (error as Error)?.message ?? String(error);
    if (error instanceof Anthropic.APIUserAbortError) return new ProviderError(this.name, "aborted", message, { cause: error });
    if (error instanceof Anthropic.APIConnectionTimeoutError) return new ProviderError(this.name, "timeout", message, { cause: error });
    if (error instanceof Anthropic.APIConnectionError) return new ProviderError(this.name, "network", message, { cause: error });
    if (error instanceof Anthropic.APIError) return new ProviderError(this.name, "http", message, { status: error.status, cause: error });
    return new ProviderError(this.name, "invalid_response", message, { cause: error });
  }
}

/** Text and tool_use survive; thinking and server-tool blocks have no counterpart on other backends. */
function narrowBlock(block: Anthropic.ContentBlock): ContentBlock[] {
  if (block.type === "text") return [{ type: "text", text: block.text }];
  if (block.type === "tool_use") return [{ type: "tool_use", id: block.id, name: block.name, input: (block.input ?? {}) as Record<string, unknown> }];
  return [];
}

function stopReason(reason: Anthropic.StopReason | null): StopReason {
  switch (reason) {
    case "max_tokens":
    case "model_context_window_exceeded":
    case "stop_sequence":
    case "tool_use":
      return reason;
    default:
      // end_turn, and refusal / pause_turn, which end the turn as far as other backends can express.
      return "end_turn";
  }
}
