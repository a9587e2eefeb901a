/** Small helpers over node:util's parseArgs for the phi4 commands. */
import { Phi4Error } from "../engine/errors.js";
import { parseByteSize } from "../engine/kv-memory.js";

export function requireString(values: Record<string, unknown>, name: string, usage: string): string {
  const value = values[name];
  if (typeof value !== "string" || value === "") throw new Phi4Error("INVALID_ARGUMENT", `--${name} is required\n${usage}`);
  return value;
}

export function optionalNumber(values: Record<string, unknown>, name: string, integer = false): number | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new Phi4Error("INVALID_ARGUMENT", `--${name} must be ${integer ? "an integer" : "a number"} (got ${String(value)})`);
  }
  return n;
}

/** A size such as 8G, 512M or bytes (--kv-memory), or undefined when the option is absent. */
export function optionalByteSize(values: Record<string, unknown>, name: string): number | undefined {
  const value = values[name];
  return value === undefined ? undefined : parseByteSize(String(value), `--${name}`);
}

/** The --kv-memory line of the commands' usage text. */
export const KV_MEMORY_HELP = `  --kv-memory SIZE: KV cache memory the model's sequences may use together (e.g. 8G, 512M, bytes; default
    half the machine's memory less the model's weights). Tokens beyond it end an answer with
    model_context_window_exceeded; --capacity caps the tokens of one sequence (default: the context length).`;

/** "1,2,3" -> [1, 2, 3]; anything else is an INVALID_ARGUMENT error. */
export function parseTokenList(text: string): number[] {
  const parts = text
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "");
  const bad = parts.find((part) => !/^\d+$/.test(part) || Number(part) > 0x7fffffff);
  if (parts.length === 0 || bad !== undefined) {
    throw new Phi4Error(
      "INVALID_ARGUMENT",
      `--tokens must be a comma-separated list of token ids (non-negative integers)${bad === undefined ? "" : `; "${bad}" is not one`}`,
    );
  }
  const tokens = parts.map(Number);
  return tokens;
}

/** The --no-jump-forward line of the usage text of the commands that run tool turns. */
export const JUMP_FORWARD_HELP = `  --no-jump-forward: sample every token of a tool call (default: text the call's grammar forces is appended
    in one model run; docs/tool-calling.md#jump-forward).`;
