/**
 * The call list of a constrained tool turn, followed as it is generated so a live stream can show each
 * call as it is written (see streamLiveToolTurn in turn.ts).
 */
import type { ToolCatalog } from "./catalog.js";
import { callOpening } from "./choice.js";

export type ListPart = { type: "start"; name: string } | { type: "arguments"; json: string } | { type: "end"; raw: string; complete: boolean };

/**
 * Follows the call list the constraint writes after <|tool_call|>, `[{"name": "NAME", "arguments":
 * {...}}, ...]`, finding boundaries only (brackets outside strings): a call starts once its opening,
 * which names the tool, is complete; its arguments' text follows as it comes; the call object's text
 * comes out when it closes, or when the output ends first. The grammar writes each opening exactly as
 * callOpening does; a call whose opening is none of them is reported only at its end.
 */
export class CallListScanner {
  private readonly openings: Map<string, string>;
  private readonly longest: number;
  /** Brackets open: 1 inside the list, 2 inside a call object, 3 inside its arguments. */
  private depth = 0;
  private inString = false;
  private escaped = false;
  private call: { raw: string; phase: "opening" | "arguments" | "rest" } | null = null;

  constructor(catalog: ToolCatalog) {
    this.openings = new Map(catalog.tools.map((tool) => [callOpening(tool.name), tool.name]));
    this.longest = Math.max(...[...this.openings.keys()].map((opening) => opening.length));
  }

  push(text: string): ListPart[] {
    const parts: ListPart[] = [];
    for (const c of text) this.step(c, parts);
    return parts;
  }

  end(): ListPart[] {
    const call = this.call;
    this.call = null;
    return call ? [{ type: "end", raw: call.raw, complete: false }] : [];
  }

  private step(c: string, parts: ListPart[]): void {
    const outer = this.depth;
    this.lex(c);
    if (!this.call) {
      if (outer === 1 && this.depth === 2) this.call = { raw: c, phase: "opening" };
      return;
    }
    const call = this.call;
    call.raw += c;
    if (this.depth === 1) {
      parts.push({ type: "end", raw: call.raw, complete: true });
      this.call = null;
    } else if (call.phase === "opening") {
      const name = this.openings.get(call.raw);
      if (name !== undefined) {
        call.phase = "arguments";
        parts.push({ type: "start", name });
      } else if (call.raw.length >= this.longest) call.phase = "rest"; // not an opening the grammar writes
    } else if (call.phase === "arguments") {
      const last = parts.at(-1);
      if (last?.type === "arguments") last.json += c;
      else parts.push({ type: "arguments", json: c });
      if (outer === 3 && this.depth === 2) call.phase = "rest"; // the arguments object closed
    }
  }

  /** JSON's strings and brackets, which is all the boundaries need. */
  private lex(c: string): void {
    if (this.inString) {
      if (this.escaped) this.escaped = false;
      else if (c === "\\") this.escaped = true;
      else if (c === '"') this.inString = false;
    } else if (c === '"') this.inString = true;
    else if (c === "{" || c === "[") this.depth++;
    else if (c === "}" || c === "]") this.depth--;
  }
}
