/** tool_choice in one shape, and the assistant text a forced choice starts the answer with. */
import { Phi4Error } from "../engine/errors.js";
import type { ToolCatalog } from "./catalog.js";
import { TOOL_CALL_OPEN } from "./stream-parser.js";
import type { ToolChoice } from "../messages/types.js";

/** tool_choice as the Messages API gives it, or its type alone ("auto", "any", "none") as a shorthand. */
export type ToolChoiceInput = ToolChoice | Exclude<ToolChoice["type"], "tool">;

export interface ResolvedToolChoice {
  /** auto: the model decides; any / tool: it must call (the named tool); none: it may not. */
  kind: "auto" | "any" | "none" | "tool";
  name?: string;
  /** More than one call per turn is allowed (Anthropic's disable_parallel_tool_use, inverted). */
  parallel: boolean;
}

export function resolveToolChoice(choice: ToolChoiceInput | undefined, catalog: ToolCatalog): ResolvedToolChoice {
  const c = typeof choice === "string" ? { type: choice } : (choice ?? { type: "auto" as const });
  const parallel = !("disable_parallel_tool_use" in c && c.disable_parallel_tool_use);
  if (c.type === "tool") {
    catalog.only(c.name); // throws when the tool is unknown
    return { kind: "tool", name: c.name, parallel };
  }
  if (!["auto", "any", "none"].includes(c.type)) throw new Phi4Error("INVALID_ARGUMENT", `unknown tool_choice type "${String(c.type)}"`);
  if (c.type === "any" && catalog.tools.length === 0) throw new Phi4Error("INVALID_ARGUMENT", 'tool_choice "any" needs at least one tool');
  return { kind: c.type, parallel };
}

/**
 * Text that starts the assistant's answer when a call is required: the opener (and, for a named tool,
 * the call up to its arguments). Prompting it costs nothing and makes even unconstrained sampling
 * produce a call in the model's own format.
 */
export function choicePrefill(choice: ResolvedToolChoice): string {
  if (choice.kind === "any") return TOOL_CALL_OPEN;
  if (choice.kind === "tool") return `${TOOL_CALL_OPEN}[${callOpening(choice.name!)}`;
  return "";
}

/** `{"name": "NAME", "arguments": ` — how Phi-4-mini starts a call object (json.dumps spacing). */
export function callOpening(name: string): string {
  return `{"name": ${JSON.stringify(name)}, "arguments": `;
}
