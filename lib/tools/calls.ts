/**
 * Turns one value read from a call region into a checked call or error entries. Tolerant of the forms
 * Phi-4-mini really writes (a list item that is a JSON string, `parameters` for `arguments`, arguments
 * as a JSON string, missing arguments), strict about meaning: an echoed tool definition or an unknown
 * tool name is an error, never a guessed call.
 */
import type { ToolCatalog } from "./catalog.js";
import { LiteralError, parseLiteral } from "./literal.js";
import type { ParsedToolCall, ToolCallError } from "./types.js";

export type CallOutcome = { call: ParsedToolCall } | { errors: ToolCallError[] };

/** The keys a call object may have (`parameters` is how some prompts spell `arguments`). */
export const CALL_KEYS = ["name", "arguments", "parameters"];

export function interpretCall(value: unknown, raw: string, catalog: ToolCatalog): CallOutcome {
  const fail = (message: string): CallOutcome => ({ errors: [{ message, raw }] });
  if (typeof value === "string") {
    const inner = readWhole(value);
    if ("error" in inner) return fail(`not a tool call: a string that is not a call object (${inner.error})`);
    if (typeof inner.value === "string") return fail("not a tool call: a string that is not a call object");
    return interpretCall(inner.value, raw, catalog);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return fail("not a tool call: expected an object with name and arguments");
  const object = value as Record<string, unknown>;
  const extra = Object.keys(object).filter((k) => !CALL_KEYS.includes(k));
  if (extra.length > 0) {
    return fail(`not a tool call: unexpected key${extra.length > 1 ? "s" : ""} ${extra.map((k) => `"${k}"`).join(", ")} (an echoed tool definition?)`);
  }
  if (typeof object.name !== "string") return fail("not a tool call: no name");
  if ("arguments" in object && "parameters" in object) return fail(`call to "${object.name}" has both arguments and parameters`);
  const tool = catalog.get(object.name);
  if (!tool) return fail(`unknown tool "${object.name}"`);

  let args: unknown = object.arguments ?? object.parameters ?? {};
  if (typeof args === "string") {
    const inner = readWhole(args);
    if ("error" in inner) return fail(`${tool.name}: arguments are a string that is not an object (${inner.error})`);
    args = inner.value;
  }
  if (args === null || typeof args !== "object" || Array.isArray(args)) return fail(`${tool.name}: arguments must be an object`);
  const messages = catalog.check(tool, args as Record<string, unknown>);
  if (messages.length > 0) return { errors: messages.map((message) => ({ message, raw })) };
  return { call: { name: tool.name, arguments: args as Record<string, unknown> } };
}

/** Reads a string that should hold exactly one value. */
function readWhole(text: string): { value: unknown } | { error: string } {
  try {
    const { value, end } = parseLiteral(text);
    if (text.slice(end).trim() !== "") return { error: `text after the value at offset ${end}` };
    return { value };
  } catch (error) {
    if (error instanceof LiteralError) return { error: error.message };
    throw error;
  }
}
