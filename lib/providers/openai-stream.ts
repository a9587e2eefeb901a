/**
 * chat.completion.chunk deltas -> Messages API stream events. Content deltas open a text block;
 * each new tool_calls[].index opens a tool_use block whose argument fragments become
 * input_json_delta events. Blocks are sequential, as in the Messages API: a new block closes the
 * open one. The closing message_delta carries usage from the final usage-only chunk
 * (stream_options.include_usage), which vLLM, llama.cpp and Ollama send.
 */
import { ProviderError } from "./errors.js";
import { messageId, stopReason, toolUseId } from "./openai-format.js";
import type { StreamEvent } from "../messages/types.js";

export interface OpenAIChunk {
  id?: string;
  model?: string;
  choices?: {
    delta?: {
      content?: string | null;
      tool_calls?: { index: number; id?: string; function?: { name?: string; arguments?: string } }[];
    };
    finish_reason?: string | null;
    stop_reason?: string | number | null;
  }[];
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
}

export class OpenAIStreamTranslator {
  private started = false;
  /** Our index of the open block, and what it is. */
  private open: { index: number; kind: "text" | number } | undefined;
  private nextIndex = 0;
  private readonly toolBlocks = new Map<number, number>();
  private finish: string | null = null;
  private matched: string | number | null = null;
  private usage = { input_tokens: 0, output_tokens: 0 };

  constructor(
    private readonly provider: string,
    private readonly model: string,
  ) {}

  *push(chunk: OpenAIChunk): Generator<StreamEvent> {
    if (!this.started) {
      this.started = true;
      yield {
        type: "message_start",
        message: { id: messageId(chunk.id), type: "message", role: "assistant", content: [], model: chunk.model ?? this.model, stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } },
      };
    }
    if (chunk.usage) this.usage = { input_tokens: chunk.usage.prompt_tokens, output_tokens: chunk.usage.completion_tokens };
    const choice = chunk.choices?.[0];
    if (!choice) return;
    if (choice.finish_reason) this.finish = choice.finish_reason;
    if (choice.stop_reason != null) this.matched = choice.stop_reason;
    const text = choice.delta?.content;
    if (text) {
      if (this.open?.kind !== "text") yield* this.openBlock("text", { type: "text", text: "" });
      yield { type: "content_block_delta", index: this.open!.index, delta: { type: "text_delta", text } };
    }
    for (const call of choice.delta?.tool_calls ?? []) {
      if (!this.toolBlocks.has(call.index)) {
        if (!call.function?.name) throw new ProviderError(this.provider, "invalid_response", `tool call ${call.index} started without a function name`);
        yield* this.openBlock(call.index, { type: "tool_use", id: call.id || toolUseId(), name: call.function.name, input: {} });
        this.toolBlocks.set(call.index, this.open!.index);
      } else if (this.open?.kind !== call.index) {
        throw new ProviderError(this.provider, "invalid_response", `tool call ${call.index} continued after another block started`);
      }
      const fragment = call.function?.arguments;
      if (fragment) yield { type: "content_block_delta", index: this.open!.index, delta: { type: "input_json_delta", partial_json: fragment } };
    }
  }

  /** Closes the message once the server says [DONE] (or the body ends). */
  *end(): Generator<StreamEvent> {
    if (!this.started) throw new ProviderError(this.provider, "invalid_response", "the stream ended before any chunk");
    yield* this.closeOpen();
    yield {
      type: "message_delta",
      delta: stopReason(this.finish, this.matched, this.toolBlocks.size > 0),
      usage: { output_tokens: this.usage.output_tokens, input_tokens: this.usage.input_tokens },
    };
    yield { type: "message_stop" };
  }

  private *openBlock(kind: "text" | number, block: Extract<StreamEvent, { type: "content_block_start" }>["content_block"]): Generator<StreamEvent> {
    yield* this.closeOpen();
    this.open = { index: this.nextIndex++, kind };
    yield { type: "content_block_start", index: this.open.index, content_block: block };
  }

  private *closeOpen(): Generator<StreamEvent> {
    if (this.open) yield { type: "content_block_stop", index: this.open.index };
    this.open = undefined;
  }
}
