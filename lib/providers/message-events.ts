/**
 * The Messages API event sequence of a finished message, for backends that produce the whole answer
 * before anything can be shown (a local tool turn, whose invalid attempts are retried unseen).
 */
import type { MessageResponse, StreamEvent } from "./types.js";

export function* eventsOfMessage(message: MessageResponse): Generator<StreamEvent> {
  yield { type: "message_start", message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: message.usage.input_tokens, output_tokens: 0 } } };
  for (const [index, block] of message.content.entries()) {
    if (block.type === "text") {
      yield { type: "content_block_start", index, content_block: { type: "text", text: "" } };
      if (block.text) yield { type: "content_block_delta", index, delta: { type: "text_delta", text: block.text } };
    } else {
      yield { type: "content_block_start", index, content_block: { ...block, input: {} } };
      yield { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: JSON.stringify(block.input) } };
    }
    yield { type: "content_block_stop", index };
  }
  yield { type: "message_delta", delta: { stop_reason: message.stop_reason, stop_sequence: message.stop_sequence }, usage: { output_tokens: message.usage.output_tokens } };
  yield { type: "message_stop" };
}
