/**
 * The shapes of a tool-call grammar's nodes: what a frame reads to know which JSON may come next.
 * SchemaCompiler (schema.ts) builds them and the frames (frames.ts) walk them; declared apart from
 * both so that each imports these types instead of the other.
 */
import type { Frame } from "./frame.js";
import type { BoundedNumberSpec } from "./number-frame.js";
import type { PatternSpec } from "./pattern-string.js";
import type { StringBounds } from "./string-frame.js";
import type { UniqueArraySpec } from "./unique-array.js";

/** Something a frame can start: a JSON value, or a tool call object. */
export interface GrammarNode {
  readonly start: Frame;
  /** Shortest text it accepts, as a binary string (one char per UTF-8 byte). */
  minimal(): string;
}

export interface LiteralSet {
  readonly id: number;
  /** JSON texts as binary strings, sorted by bytes. */
  readonly values: readonly string[];
}

/** A string value: its bounds, and the automaton its characters follow when the grammar can enforce one. */
export interface StringSpec extends StringBounds {
  /** The characters follow this automaton (a pattern, a format), when the grammar can enforce it. */
  readonly pattern?: PatternSpec;
}

export interface ArraySpec {
  readonly id: number;
  /** Items at the start, one node each (a tuple); the rest are `items`. */
  readonly prefix?: readonly GrammarNode[];
  readonly items: GrammarNode;
  /** uniqueItems over literal items: the array is read by a UniqueArrayFrame instead. */
  readonly unique?: UniqueArraySpec;
  readonly minItems: number;
  readonly maxItems: number;
  readonly maxWhitespace: number;
}

export interface PropertySpec {
  /** The JSON-encoded name after its opening quote, as a binary string. */
  readonly tail: string;
  readonly value: ValueGrammarNode;
  readonly required: boolean;
}

export interface ObjectSpec {
  readonly id: number;
  readonly properties: readonly PropertySpec[];
  /** The value of any key, when the object declares no properties and allows others. */
  readonly free: ValueGrammarNode | null;
  readonly freeKey: ValueGrammarNode;
  readonly maxWhitespace: number;
}

/** anyOf / oneOf branches that may start with the same byte, run side by side (union-frame.ts). */
export interface UnionSpec {
  readonly id: number;
  readonly branches: readonly ValueGrammarNode[];
}

/** A JSON value's node: the alternatives it allows (ValueNode in schema.ts is the one implementation). */
export interface ValueGrammarNode extends GrammarNode {
  readonly id: number;
  literals?: LiteralSet;
  object?: ObjectSpec;
  array?: ArraySpec;
  string?: StringSpec;
  /** bounded: the schema's numeric bounds and integer multipleOf, when it has any. */
  number?: { integer: boolean; bounded: BoundedNumberSpec | null };
  /** One of these branches' values (the fields above are then unset). */
  union?: UnionSpec;
  /** The shortest instance once SchemaCompiler.finish() ran; null while no finite instance is known. */
  shortest: string | null;
}
