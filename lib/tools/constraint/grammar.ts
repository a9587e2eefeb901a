/**
 * The grammar of one tool-call output, `[call, call, ...]` (what follows `<|tool_call|>`, up to the
 * closer token), built from a tool catalog: each call is `{"name": "<tool>", "arguments": <that tool's
 * input_schema>}`.
 */
import { Phi4Error } from "../../engine/errors.js";
import type { ToolCatalog } from "../catalog.js";
import { callOpening } from "../choice.js";
import { advanceBytes, State } from "./automaton.js";
import { CallNode } from "./frames.js";
import { binary, literalSet, newId, SchemaCompiler, ValueNode, type GrammarOptions } from "./schema.js";

export class ToolCallGrammar {
  /** Before the "[" that opens the list. */
  readonly start: State;

  constructor(catalog: ToolCatalog, maxCalls: number, options: GrammarOptions) {
    if (catalog.tools.length === 0) throw new Phi4Error("INVALID_ARGUMENT", "constrained tool calls need at least one tool");
    const byOpening = new Map(
      catalog.tools.map((tool) => {
        const compiler = new SchemaCompiler(tool.schema, options);
        const args = compiler.arguments();
        compiler.finish();
        return [binary(callOpening(tool.name)), args] as const;
      }),
    );
    const openings = literalSet(byOpening.keys());
    const call = new CallNode({ id: newId(), openings, args: openings.values.map((o) => byOpening.get(o)!), maxWhitespace: options.maxWhitespace });
    const root = new ValueNode();
    root.array = { id: newId(), items: call, minItems: 1, maxItems: maxCalls, maxWhitespace: options.maxWhitespace };
    root.shortest = `[${call.minimal()}]`;
    this.start = new State(root.start, null);
  }

  /** The state after `text` (e.g. a prefilled `[{"name": "x", "arguments": `), or null if it does not fit. */
  after(text: string): State | null {
    return advanceBytes(this.start, Buffer.from(text, "utf8"));
  }
}
