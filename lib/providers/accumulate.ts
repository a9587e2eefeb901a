/**
 * Builds the final message from a stream of Messages API events, the way the SDK's MessageStream
 * does: text deltas are appended, tool_use inputs are the concatenated `input_json_delta` fragments
 * parsed once the block stops. Used by providers whose `create` is their stream collected, and by the
 * agent loop, which streams every turn.
 */
import { ProviderError } from "./errors.js";
import type { ContentBlock, MessageResponse, StreamEvent } from "../messages/types.js";

export class MessageAccumulator {
  private message: MessageResponse | undefined;
  private readonly partialJson = new Map<number, string>();
  private stopped = false;

  constructor(private readonly provider: string) {}

  push(event: StreamEvent): void {
    switch (event.type) {
      case "message_start":
        this.message = { ...event.message, content: [], stop_reason: "end_turn", usage: { ...event.message.usage } };
        return;
      case "content_block_start":
        this.current().content[event.index] = structuredClone(event.content_block);
        return;
      case "content_block_delta": {
        const block = this.block(event.index);
        if (event.delta.type === "text_delta" && block.type === "text") block.text += event.delta.text;
        else if (event.delta.type === "input_json_delta" && block.type === "tool_use") {
          this.partialJson.set(event.index, (this.partialJson.get(event.index) ?? "") + event.delta.partial_json);
        } else throw this.invalid(`a ${event.delta.type} for a ${block.type} block`);
        return;
      }
      case "content_block_stop": {
        const block = this.block(event.index);
        const json = this.partialJson.get(event.index);
        if (block.type === "tool_use" && json !== undefined && json.trim() !== "") block.input = this.parseInput(block.name, json);
        return;
      }
      case "message_delta": {
        const message = this.current();
        message.stop_reason = event.delta.stop_reason;
        message.stop_sequence = event.delta.stop_sequence;
        message.usage.output_tokens = event.usage.output_tokens;
        if (event.usage.input_tokens !== undefined) message.usage.input_tokens = event.usage.input_tokens;
        return;
      }
      case "message_stop":
        this.stopped = true;
        return;
    }
  }

  /** The finished message; a stream that ended before message_stop is an invalid response. */
  result(): MessageResponse {
    if (!this.stopped) throw this.invalid("a stream that ended before message_stop");
    return this.current();
  }

  private current(): MessageResponse {
    if (!this.message) throw this.invalid("an event before message_start");
    return this.message;
  }

  private block(index: number): ContentBlock {
    const block = this.current().content[index];
    if (!block) throw this.invalid(`a delta for content block ${index}, which never started`);
    return block;
  }

  private parseInput(tool: string, json: string): Record<string, unknown> {
    let input: unknown;
    try {
      input = JSON.parse(json);
    } catch {
      throw this.invalid(`tool_use input for ${tool} that is not JSON: ${json.slice(0, 200)}`);
    }
    if (input === null || typeof input !== "object" || Array.isArray(input)) throw this.invalid(`tool_use input for ${tool} that is not an object`);
    return input as Record<string, unknown>;
  }

  private invalid(what: string): ProviderError {
    return new ProviderError(this.provider, "invalid_response", `the stream sent ${what}`);
  }
}

/** Collects a whole stream into its final message. */
export async function collectMessage(provider: string, events: AsyncIterable<StreamEvent>): Promise<MessageResponse> {
  const accumulator = new MessageAccumulator(provider);
  for await (const event of events) accumulator.push(event);
  return accumulator.result();
}
