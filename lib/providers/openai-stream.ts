/**
 * Streams, both ways, with the correspondences of openai-mapping.ts:
 *
 * - OpenAIStreamTranslator (the OpenAI-compatible provider): chat.completion.chunk deltas -> Messages
 *   events. Content deltas open a text block; each new tool_calls[].index opens a tool_use block whose
 *   argument fragments become input_json_delta events. Blocks are sequential, as in the Messages API: a
 *   new block closes the open one. The closing message_delta carries usage from the final usage-only
 *   chunk (stream_options.include_usage), which vLLM, llama.cpp, Ollama and this project's server send.
 * - ChatChunkWriter (the server's /v1/chat/completions): Messages events -> chunks. The first chunk has
 *   the role; text deltas are content deltas; a tool_use block is a tool_calls entry (id, name, empty
 *   arguments) whose input_json_delta fragments follow as its `arguments`; message_delta is the chunk
 *   with the finish_reason; with include_usage, every chunk has `usage: null` and a last chunk with no
 *   choices has the usage.
 */
import type OpenAI from "openai";

import { ProviderError } from "./errors.js";
import {
  chatCompletionId,
  finishReason,
  fromOpenAIUsage,
  matchedStop,
  messageId,
  stopReason,
  TEXT_BLOCK_SEPARATOR,
  toolUseId,
  toOpenAIUsage,
} from "./openai-mapping.js";
import type { StreamEvent, Usage } from "../messages/types.js";

export type ChatChunk = OpenAI.Chat.ChatCompletionChunk;
type Delta = ChatChunk["choices"][number]["delta"];

export class OpenAIStreamTranslator {
  private started = false;
  /** Our index of the open block, and what it is. */
  private open: { index: number; kind: "text" | number } | undefined;
  private nextIndex = 0;
  private readonly toolBlocks = new Map<number, number>();
  private finish: string | null = null;
  private matched: string | number | null = null;
  private usage: Usage = { input_tokens: 0, output_tokens: 0 };

  constructor(
    private readonly provider: string,
    private readonly model: string,
  ) {}

  *push(chunk: ChatChunk): Generator<StreamEvent> {
    if (!this.started) {
      this.started = true;
      yield {
        type: "message_start",
        message: {
          id: messageId(chunk.id),
          type: "message",
          role: "assistant",
          content: [],
          model: chunk.model ?? this.model,
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 0, output_tokens: 0 },
        },
      };
    }
    if (chunk.usage) this.usage = fromOpenAIUsage(chunk.usage);
    const choice = chunk.choices?.[0] as (ChatChunk["choices"][number] & { stop_reason?: string | number | null }) | undefined;
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

export class ChatChunkWriter {
  private id = chatCompletionId("");
  private model = "";
  /** Block index -> tool_calls index, for the tool_use blocks. */
  private readonly calls = new Map<number, number>();
  private textSent = false;
  /** A new text block after earlier text: its first delta starts with the separator. */
  private separate = false;
  /** Input tokens from message_start, output (and input, when only then known) from message_delta. */
  readonly usage: Usage = { input_tokens: 0, output_tokens: 0 };

  constructor(private readonly options: { created: number; includeUsage: boolean }) {}

  push(event: StreamEvent): ChatChunk[] {
    switch (event.type) {
      case "message_start":
        this.id = chatCompletionId(event.message.id);
        this.model = event.message.model;
        this.usage.input_tokens = event.message.usage.input_tokens;
        return [this.chunk({ role: "assistant", content: "" })];
      case "content_block_start": {
        const block = event.content_block;
        if (block.type === "text") {
          this.separate = this.textSent;
          return [];
        }
        const index = this.calls.size;
        this.calls.set(event.index, index);
        return [this.chunk({ tool_calls: [{ index, id: block.id, type: "function", function: { name: block.name, arguments: "" } }] })];
      }
      case "content_block_delta": {
        if (event.delta.type === "input_json_delta")
          return [this.chunk({ tool_calls: [{ index: this.calls.get(event.index)!, function: { arguments: event.delta.partial_json } }] })];
        const content = (this.separate ? TEXT_BLOCK_SEPARATOR : "") + event.delta.text;
        this.separate = false;
        this.textSent = true;
        return [this.chunk({ content })];
      }
      case "content_block_stop":
        return [];
      case "message_delta":
        this.usage.output_tokens = event.usage.output_tokens;
        this.usage.input_tokens = event.usage.input_tokens ?? this.usage.input_tokens;
        return [this.chunk({}, finishReason(event.delta.stop_reason), matchedStop(event.delta.stop_sequence))];
      case "message_stop":
        return this.options.includeUsage ? [{ ...this.base(), choices: [], usage: toOpenAIUsage(this.usage) }] : [];
    }
  }

  private chunk(delta: Delta, finish: ChatChunk["choices"][number]["finish_reason"] = null, extra: object = {}): ChatChunk {
    return {
      ...this.base(),
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish, ...extra }],
      ...(this.options.includeUsage && { usage: null }),
    };
  }

  private base() {
    return { id: this.id, object: "chat.completion.chunk" as const, created: this.options.created, model: this.model };
  }
}
