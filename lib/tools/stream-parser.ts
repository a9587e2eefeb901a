/**
 * Finds tool calls in model output as it streams: text outside calls comes out as soon as it cannot be
 * the start of a call, and each call comes out as soon as its object closes. `parseToolCalls` is this
 * parser fed the whole output at once, so both paths give the same answer for any chunking.
 *
 * A call region opens with `<|tool_call|>`, `functools`+`[`, a markdown fence whose content starts like
 * a call, or (only before any other text) bare JSON that starts like a call: `[{"name"` / `{"name"`.
 * Inside, it reads values one after another (a list, or calls not wrapped in one) until
 * `<|/tool_call|>`, the fence's end, the end of the output, or text that cannot continue a call (a
 * missing closer). Each decision that depends on text not yet seen waits for it.
 */
import { ToolCatalog } from "./catalog.js";
import { CALL_KEYS, interpretCall } from "./calls.js";
import { isWhitespace, LiteralError, parseLiteral } from "./literal.js";
import type { ParsedToolCall, ToolCallError, ToolCallParseResult, AnyToolDefinition } from "./types.js";

export type ToolParseEvent = { type: "text"; text: string } | { type: "call"; call: ParsedToolCall } | { type: "error"; error: ToolCallError };

export const TOOL_CALL_OPEN = "<|tool_call|>";
export const TOOL_CALL_CLOSE = "<|/tool_call|>";
const FENCE = "```";
const FUNCTOOLS = "functools";

type RegionKind = "tag" | "functools" | "fence" | "bare";
type Verdict = "yes" | "no" | "maybe";

/** What a region holds so far: call candidates, and where it ends once that is known. */
interface RegionScan {
  items: { value: unknown; raw: string }[];
  /** Offset just past the region (closer included); undefined while the region may go on. */
  end?: number;
  error?: ToolCallError;
}

export class ToolCallStreamParser {
  private readonly catalog: ToolCatalog;
  private buffer = "";
  private region: { kind: RegionKind; emitted: number } | null = null;
  /** Non-whitespace text came out already: bare JSON no longer counts as a call. */
  private sawText = false;

  constructor(tools: readonly AnyToolDefinition[] | ToolCatalog) {
    this.catalog = ToolCatalog.from(tools);
  }

  /** Feeds decoded text; returns the text deltas, calls and errors it completed. */
  push(chunk: string): ToolParseEvent[] {
    this.buffer += chunk;
    return this.drain(false);
  }

  /** The output is over: flushes held text and reports an unfinished call as an error. */
  end(): ToolParseEvent[] {
    const events = this.drain(true);
    this.buffer = "";
    this.region = null;
    return events;
  }

  private drain(final: boolean): ToolParseEvent[] {
    const events: ToolParseEvent[] = [];
    while (this.region ? this.scanRegion(final, events) : this.scanText(final, events));
    return events;
  }

  /** Emits text up to the next call opener; returns true when it entered a region. */
  private scanText(final: boolean, events: ToolParseEvent[]): boolean {
    const b = this.buffer;
    if (!this.sawText) {
      let start = 0;
      while (isWhitespace(b[start])) start++;
      const verdict = callStart(b, start, final);
      if (verdict === "maybe") return false;
      if (verdict === "yes") return this.enter("bare", start, start, events);
    }
    for (let i = 0; i < b.length; i++) {
      const opener = openerAt(b, i, final);
      if (opener === "maybe") {
        this.emitText(b.slice(0, i), events);
        this.buffer = b.slice(i);
        return false;
      }
      if (opener) return this.enter(opener.kind, i, opener.contentStart, events);
    }
    this.emitText(b, events);
    this.buffer = "";
    return false;
  }

  private enter(kind: RegionKind, openerStart: number, contentStart: number, events: ToolParseEvent[]): boolean {
    this.emitText(this.buffer.slice(0, openerStart), events);
    this.buffer = this.buffer.slice(contentStart);
    this.region = { kind, emitted: 0 };
    return true;
  }

  /** Emits calls completed so far; returns true when the region ended. */
  private scanRegion(final: boolean, events: ToolParseEvent[]): boolean {
    const region = this.region!;
    const scan = scanRegion(this.buffer, region.kind, final);
    for (const item of scan.items.slice(region.emitted)) {
      const outcome = interpretCall(item.value, item.raw, this.catalog);
      if ("call" in outcome) events.push({ type: "call", call: outcome.call });
      else for (const error of outcome.errors) events.push({ type: "error", error });
    }
    region.emitted = scan.items.length;
    if (scan.end === undefined) return false;
    if (scan.error) events.push({ type: "error", error: scan.error });
    this.buffer = this.buffer.slice(scan.end);
    this.region = null;
    return true;
  }

  private emitText(text: string, events: ToolParseEvent[]): void {
    if (text === "") return;
    if (text.trim() !== "") this.sawText = true;
    events.push({ type: "text", text });
  }
}

/** Parses a whole model output: its text outside calls, the valid calls, and what was wrong with the rest. */
export function parseToolCalls(output: string, tools: readonly AnyToolDefinition[] | ToolCatalog): ToolCallParseResult {
  const parser = new ToolCallStreamParser(tools);
  const result: ToolCallParseResult = { text: "", calls: [], errors: [] };
  for (const event of [...parser.push(output), ...parser.end()]) {
    if (event.type === "text") result.text += event.text;
    else if (event.type === "call") result.calls.push(event.call);
    else result.errors.push(event.error);
  }
  result.text = result.text.trim();
  return result;
}

/** A region opener starting at b[i], "maybe" when the text so far is too short to tell. */
function openerAt(b: string, i: number, final: boolean): { kind: RegionKind; contentStart: number } | "maybe" | null {
  const rest = b.slice(i, i + TOOL_CALL_OPEN.length);
  const partial = (word: string) => !final && rest.length < word.length && word.startsWith(rest);
  if (b.startsWith(TOOL_CALL_OPEN, i)) return { kind: "tag", contentStart: i + TOOL_CALL_OPEN.length };
  if (b.startsWith(FUNCTOOLS, i)) {
    let j = i + FUNCTOOLS.length;
    while (isWhitespace(b[j])) j++;
    if (j === b.length) return final ? null : "maybe";
    return b[j] === "[" ? { kind: "functools", contentStart: j } : null;
  }
  if (b.startsWith(FENCE, i)) {
    let j = i + FENCE.length;
    while (j < b.length && /[\w-]/.test(b[j])) j++;
    if (j === b.length) return final ? null : "maybe";
    const verdict = callStart(b, j, final);
    if (verdict === "maybe") return "maybe";
    return verdict === "yes" ? { kind: "fence", contentStart: j } : null;
  }
  return partial(TOOL_CALL_OPEN) || partial(FUNCTOOLS) || partial(FENCE) ? "maybe" : null;
}

/** Whether b[i..] starts like a call: optional "[", then "{" and a quoted name/arguments/parameters key. */
function callStart(b: string, i: number, final: boolean): Verdict {
  const undecided: Verdict = final ? "no" : "maybe";
  let j = i;
  const skip = () => {
    while (isWhitespace(b[j])) j++;
  };
  skip();
  if (b[j] === "[") {
    j++;
    skip();
  }
  if (j === b.length) return undecided;
  if (b[j++] !== "{") return "no";
  skip();
  if (j === b.length) return undecided;
  const quote = b[j++];
  if (quote !== '"' && quote !== "'") return "no";
  const rest = b.slice(j);
  let verdict: Verdict = "no";
  for (const key of CALL_KEYS) {
    if (rest.startsWith(key + quote)) return "yes";
    if ((key + quote).startsWith(rest)) verdict = undecided;
  }
  return verdict;
}

/** Reads a region's content from its start; see the module comment for where it ends. */
function scanRegion(b: string, kind: RegionKind, final: boolean): RegionScan {
  const scan: RegionScan = { items: [] };
  let pos = 0;
  let inList = false;
  const skipWhitespace = () => {
    while (isWhitespace(b[pos])) pos++;
  };
  const waitingOn = (word: string) => !final && b.length - pos < word.length && word.startsWith(b.slice(pos));
  // A syntax error spoils the rest of the region up to its closer (or the end of the output).
  const fail = (message: string): RegionScan => {
    const closer = kind === "fence" ? FENCE : TOOL_CALL_CLOSE;
    const at = b.indexOf(closer, pos);
    if (at === -1 && !final) return scan;
    const stop = at === -1 ? b.length : at;
    scan.error = { message, raw: b.slice(pos, stop).trim() };
    scan.end = at === -1 ? b.length : at + closer.length;
    return scan;
  };

  skipWhitespace();
  if (kind !== "fence" && b.startsWith(FENCE, pos)) {
    pos += FENCE.length;
    while (pos < b.length && /[\w-]/.test(b[pos])) pos++;
  }
  for (;;) {
    skipWhitespace();
    if (pos === b.length) {
      if (final) scan.end = pos;
      return scan;
    }
    if (b.startsWith(TOOL_CALL_CLOSE, pos)) {
      scan.end = pos + TOOL_CALL_CLOSE.length;
      return scan;
    }
    if (b.startsWith(FENCE, pos)) {
      pos += FENCE.length;
      if (kind === "fence") {
        scan.end = pos;
        return scan;
      }
      continue;
    }
    if (b.startsWith(TOOL_CALL_OPEN, pos)) {
      pos += TOOL_CALL_OPEN.length; // a repeated opener
      continue;
    }
    if (waitingOn(TOOL_CALL_CLOSE) || waitingOn(FENCE) || waitingOn(TOOL_CALL_OPEN)) return scan;
    const c = b[pos];
    if (c === "," || (c === "[" && !inList) || (c === "]" && inList)) {
      pos++;
      if (c !== ",") inList = c === "[";
      if (c === "]" && kind === "functools") {
        scan.end = pos;
        return scan;
      }
      continue;
    }
    if (c === "{" || c === '"' || c === "'" || c === "[") {
      try {
        const { value, end } = parseLiteral(b, pos, final);
        scan.items.push({ value, raw: b.slice(pos, end) });
        pos = end;
        continue;
      } catch (error) {
        if (!(error instanceof LiteralError)) throw error;
        if (error.incomplete && !final) return scan;
        return fail(error.incomplete ? `unterminated tool call: ${error.message}` : `malformed tool call: ${error.message} at offset ${error.offset - pos}`);
      }
    }
    if (scan.items.length > 0) {
      scan.end = pos; // the model went on without a closer: the rest is text
      return scan;
    }
    return fail(`expected a tool call, got "${c}"`);
  }
}
