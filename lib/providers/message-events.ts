/**
 * The Messages API events of a message built while it is generated: text runs and tool_use blocks in
 * the order they come, each started, filled and stopped, with message_start before the first of them.
 * message_start waits for the first block (or the end) so that a failure before any output (a tool
 * choice that cannot be honoured, a token budget too small for a call) is still an HTTP error status.
 *
 * A text block is a run of text between calls, trimmed: leading whitespace is dropped and trailing
 * whitespace is held back until more text follows, so whitespace alone never opens a block and a
 * block's text is the same whether it was streamed or sent whole.
 */
import type { ContentBlock, StopReason, StreamEvent, ToolUseBlock } from "../messages/types.js";

type MessageStart = Extract<StreamEvent, { type: "message_start" }>["message"];

export class MessageEvents {
  private started = false;
  private index = 0;
  /** The block being filled: text, or a tool_use block whose input is streaming. */
  private open: { type: "text" } | { type: "tool_use"; id: string } | null = null;
  /** Trailing whitespace of the open text block, not sent yet. */
  private space = "";

  constructor(private readonly message: MessageStart) {}

  text(text: string): StreamEvent[] {
    const events: StreamEvent[] = [];
    if (this.open?.type !== "text") {
      text = text.trimStart();
      if (text === "") return events;
      events.push(...this.startBlock({ type: "text", text: "" }));
      this.open = { type: "text" };
    }
    const pending = this.space + text;
    const shown = pending.trimEnd();
    this.space = pending.slice(shown.length);
    if (shown) events.push({ type: "content_block_delta", index: this.index, delta: { type: "text_delta", text: shown } });
    return events;
  }

  /** A tool_use block whose input follows as toolInput fragments, until tool() ends it. */
  toolStart(id: string, name: string): StreamEvent[] {
    const events = this.startBlock({ type: "tool_use", id, name, input: {} });
    this.open = { type: "tool_use", id };
    return events;
  }

  toolInput(json: string): StreamEvent[] {
    return json ? [{ type: "content_block_delta", index: this.index, delta: { type: "input_json_delta", partial_json: json } }] : [];
  }

  /** A finished call: ends its block if its input was streamed, or sends it whole. */
  tool(block: ToolUseBlock): StreamEvent[] {
    if (this.open?.type === "tool_use" && this.open.id === block.id) return this.close();
    return [...this.toolStart(block.id, block.name), ...this.toolInput(JSON.stringify(block.input)), ...this.close()];
  }

  end(delta: { stop_reason: StopReason; stop_sequence: string | null }, outputTokens: number): StreamEvent[] {
    return [...this.begin(), ...this.close(), { type: "message_delta", delta, usage: { output_tokens: outputTokens } }, { type: "message_stop" }];
  }

  private startBlock(block: ContentBlock): StreamEvent[] {
    const events = [...this.begin(), ...this.close()];
    events.push({ type: "content_block_start", index: this.index, content_block: block });
    return events;
  }

  private begin(): StreamEvent[] {
    if (this.started) return [];
    this.started = true;
    return [{ type: "message_start", message: this.message }];
  }

  private close(): StreamEvent[] {
    if (!this.open) return [];
    this.open = null;
    this.space = "";
    return [{ type: "content_block_stop", index: this.index++ }];
  }
}
