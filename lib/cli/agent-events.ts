/** How `phi4 agent` and `phi4 chat` show an agent run as it streams: text, tool calls, results, provider switches. */
import type { AgentEvent } from "../agent/index.js";
import type { ToolOutput } from "../messages/types.js";

export interface PrintOptions {
  /** Skip the switch line when there is only one provider to switch to (a chat without a router). */
  quietSingleProvider?: boolean;
  /** Show at most this many lines of each tool result. */
  maxResultLines?: number;
}

export function printAgentEvent(event: AgentEvent, options: PrintOptions = {}): void {
  switch (event.type) {
    case "provider_switch":
      if (options.quietSingleProvider && event.reason === "the only provider") return;
      process.stderr.write(`\n[${event.from === null ? "" : `${event.from} -> `}${event.to}: ${event.reason}]\n`);
      return;
    case "text":
      process.stdout.write(event.text);
      return;
    case "tool_call":
      process.stdout.write(`\n-> ${event.call.name} ${JSON.stringify(event.call.input)}\n`);
      return;
    case "tool_result":
      process.stdout.write(`<- ${event.output.is_error ? "error: " : ""}${resultText(event.output, options.maxResultLines)}\n`);
      return;
  }
}

function resultText(output: ToolOutput, maxLines = Number.POSITIVE_INFINITY): string {
  const lines = output.content
    .map((b) => (b.type === "text" ? b.text : "[image]"))
    .join("\n")
    .split("\n");
  return lines.length > maxLines ? `${lines.slice(0, maxLines).join("\n")}\n... (${lines.length - maxLines} more lines)` : lines.join("\n");
}
