/**
 * JSON Schema -> grammar nodes for constrained decoding. A node says which JSON values may appear at
 * one place: literal alternatives (enum / const / booleans / null), or an object, array, string or
 * number shape. Every JSON type starts with a different byte, so a union of types (`["string",
 * "null"]`, anyOf over different types) needs no look-ahead.
 *
 * What the grammar generates is always a subset of what the schema accepts: objects carry only declared
 * properties (free keys only where no property is declared), each at most once; strings, numbers and
 * whitespace are bounded so that a random model still finishes. Keywords without a grammar here
 * (a pattern outside the regex subset, a format without a pattern here, a fractional multipleOf,
 * uniqueItems over items that are not literals, anyOf branches of one type that branch-union.ts
 * cannot join) are left to the validator that checks every call afterwards.
 * Numeric bounds are in numbers.ts, patterns and formats in string-automaton.ts.
 */
import { Phi4Error } from "../../engine/errors.js";
import type { JsonSchema } from "../types.js";
import { itemNode, ValueStart, type Frame } from "./frames.js";
import type { ArraySpec, LiteralSet, ObjectSpec, StringSpec, UnionSpec, ValueGrammarNode } from "./grammar-nodes.js";
import { enforceable, numberPieces, numberUnion, stringUnion } from "./branch-union.js";
import type { BoundedNumberSpec } from "./number-frame.js";
import { numberBounds, shortestNumber } from "./numbers.js";
import { PatternSpec } from "./pattern-string.js";
import { shortestMatch, type Dfa } from "./dfa.js";
import { stringAutomaton } from "./string-automaton.js";
import { UniqueArrayFrame } from "./unique-array.js";
import { rejectsAll } from "./branch-separation.js";

export interface GrammarOptions {
  /** Longest string value or free key, in characters. */
  maxStringLength: number;
  /** Most whitespace characters in a row between JSON tokens. */
  maxWhitespace: number;
  /** The longest token in bytes plus one (see StringSpec.clamp). */
  clamp: number;
}

let nextId = 0;
export const newId = () => nextId++;

export class ValueNode implements ValueGrammarNode {
  readonly id = newId();
  readonly start: Frame = new ValueStart(this);
  literals?: LiteralSet;
  object?: ObjectSpec;
  array?: ArraySpec;
  string?: StringSpec;
  /** bounded: the schema's numeric bounds and integer multipleOf, when it has any. */
  number?: { integer: boolean; bounded: BoundedNumberSpec | null };
  union?: UnionSpec;
  /** Set by SchemaCompiler.finish(); null while no finite instance is known. */
  shortest: string | null = null;

  minimal(): string {
    if (this.shortest === null) throw new Error("grammar node used before SchemaCompiler.finish()");
    return this.shortest;
  }
}

/** The shortest instance of `node` given its children's current shortest (null = none known yet). */
function shortestOf(node: ValueNode): string | null {
  const options: (string | null)[] = [...(node.literals?.values ?? []), ...(node.union?.branches.map((b) => b.shortest) ?? [])];
  if (node.string) options.push(node.string.pattern ? `"${node.string.pattern.rest(0, 0)}"` : `"${"a".repeat(node.string.minLength)}"`);
  if (node.number) options.push(node.number.bounded ? shortestNumber(node.number.bounded.integer, node.number.bounded.bounds) : "0");
  const object = node.object;
  if (object) {
    const members = object.properties.filter((p) => p.required).map((p) => (p.value.shortest === null ? null : `"${p.tail}: ${p.value.shortest}`));
    options.push(members.includes(null) ? null : `{${members.join(", ")}}`);
  }
  const array = node.array;
  if (array?.unique) options.push(`[${UniqueArrayFrame.open(array.unique).completion()}`);
  else if (array) {
    const items = Array.from({ length: array.minItems }, (_, i) => itemNode(array, i)).map((n) => (n instanceof ValueNode ? n.shortest : n.minimal()));
    options.push(items.includes(null) ? null : `[${items.join(", ")}]`);
  }
  return options.reduce<string | null>((best, o) => (o !== null && (best === null || o.length < best.length) ? o : best), null);
}

export function literalSet(texts: Iterable<string>): LiteralSet {
  return { id: newId(), values: [...new Set(texts)].sort() };
}

/** UTF-8 bytes of `text` as a binary string. */
export const binary = (text: string) => Buffer.from(text, "utf8").toString("latin1");

/** Most cells of a patterned string's completion table (see PatternSpec). */
const PATTERN_TABLE_CELLS = 1 << 22;

const TYPES = ["object", "array", "string", "number", "integer", "boolean", "null"];

/** Keywords beside an anyOf / oneOf that constrain its value (others, such as description, do not). */
const CONSTRAINT_KEYWORDS = new Set([
  "type",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "prefixItems",
  "additionalItems",
  "minItems",
  "maxItems",
  "uniqueItems",
  "minLength",
  "maxLength",
  "pattern",
  "format",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
  "nullable",
  "allOf",
]);

export class SchemaCompiler {
  private readonly memo = new Map<object, ValueNode>();
  private readonly nodes: ValueNode[] = [];
  private anyNode?: ValueNode;

  constructor(
    private readonly root: JsonSchema,
    private readonly options: GrammarOptions,
  ) {}

  /** A tool's arguments: its input schema, as an object whatever else the schema allows. */
  arguments(): ValueNode {
    const node = this.node(this.root);
    const onlyObjects = (n: ValueGrammarNode) => !!n.object && !n.literals && !n.array && !n.string && !n.number && !n.union;
    if (onlyObjects(node) || node.union?.branches.every(onlyObjects)) return node;
    const object = this.newNode();
    const objects = node.union?.branches.filter(onlyObjects) ?? [];
    if (objects.length > 0) object.union = { id: newId(), branches: objects };
    else object.object = node.object ?? this.objectSpec({});
    return object;
  }

  /**
   * Computes every node's shortest instance, which completions need. Recursive schemas make this a
   * fixpoint: lengths only shrink, so it ends. A node with no finite instance is an error (the model
   * could enter it and never finish).
   */
  finish(): void {
    for (let changed = true; changed;) {
      changed = false;
      for (const node of this.nodes) {
        const shortest = shortestOf(node);
        if (shortest !== null && (node.shortest === null || shortest.length < node.shortest.length)) {
          node.shortest = shortest;
          changed = true;
        }
      }
    }
    if (this.nodes.some((n) => n.shortest === null)) {
      throw new Phi4Error("INVALID_ARGUMENT", "a tool schema has no finite instance somewhere (a required property that contains itself)");
    }
  }

  private newNode(): ValueNode {
    const node = new ValueNode();
    this.nodes.push(node);
    return node;
  }

  node(schema: unknown): ValueNode {
    const resolved = this.resolve(schema);
    if (resolved === true || resolved === undefined || (typeof resolved === "object" && resolved !== null && Object.keys(resolved).length === 0))
      return this.any();
    if (resolved === false || resolved === null || typeof resolved !== "object")
      throw new Phi4Error("INVALID_ARGUMENT", "a tool schema allows no value somewhere (false)");
    const known = this.memo.get(resolved);
    if (known) return known;
    const node = this.newNode();
    this.memo.set(resolved, node); // before the children, so recursive schemas end here
    this.fill(
      node,
      mergeAllOf(resolved as JsonSchema, (s) => this.resolve(s)),
    );
    return node;
  }

  private fill(node: ValueNode, s: JsonSchema): void {
    const declared = declaredTypes(s);
    const types = typesOf(s);
    if (Array.isArray(s.enum) || "const" in s) {
      const values = (Array.isArray(s.enum) ? s.enum : [s.const]).filter((v) => declared === undefined || declared.some((t) => hasType(v, t)));
      if (values.length === 0) throw new Phi4Error("INVALID_ARGUMENT", "a tool schema has an enum with no value of its type");
      node.literals = literalSet(values.map((v) => binary(JSON.stringify(v))));
      return;
    }
    const branches = (Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : undefined) as unknown[] | undefined;
    if (branches) {
      // The schema's other keywords (a type, properties beside a oneOf of required lists) hold in every branch.
      const { anyOf: _any, oneOf: _one, ...rest } = s;
      const constrained = Object.keys(rest).some((k) => CONSTRAINT_KEYWORDS.has(k));
      const schemas = branches.map((b) => (constrained ? mergeAllOf({ allOf: [rest, b] }, (part) => this.resolve(part)) : b));
      node.union = { id: newId(), branches: this.branchNodes(schemas, !Array.isArray(s.anyOf)) };
      return;
    }
    if (types.has("object")) node.object = this.objectSpec(s);
    if (types.has("array")) node.array = this.arraySpec(s);
    if (types.has("string")) node.string = this.stringSpec(s);
    if (types.has("number") || types.has("integer")) node.number = numberShape(s, !types.has("number"));
    const words = [...(types.has("boolean") ? ["false", "true"] : []), ...(types.has("null") ? ["null"] : [])];
    if (words.length > 0) node.literals = literalSet(words);
  }

  /**
   * The nodes a union of `schemas` runs side by side (union-frame.ts). Strings and numbers of several
   * branches are first joined into one shape where branch-union.ts can (one automaton is cheaper than
   * several, and under oneOf it is exact). Under oneOf (`exclusive`) a branch is kept only where no
   * value it generates matches another branch (branch-separation.ts), if need be by not writing an
   * optional property that another branch requires; when no branch can be told apart that way, the
   * branches are followed as anyOf and oneOf is left to the validator.
   */
  private branchNodes(schemas: unknown[], exclusive: boolean): ValueNode[] {
    const direct = schemas.map((b) => {
      const resolved = this.resolve(b);
      if (resolved === null || typeof resolved !== "object") return null;
      const schema = mergeAllOf(resolved as JsonSchema, (part) => this.resolve(part));
      const nested = Array.isArray(schema.anyOf) || Array.isArray(schema.oneOf) || Array.isArray(schema.enum) || "const" in schema;
      return nested ? null : { schema, types: typesOf(schema) };
    });
    let nodes: (ValueNode | null)[] = schemas.map((b) => this.node(b));
    const sources = nodes.map((_, i) => [i]);
    const joined = this.joinBranches(
      direct,
      schemas.map((b) => this.node(b)),
      exclusive,
    );
    for (const { field, node, from } of joined) {
      // The joined node stands for the branches' values of that type; they keep their others.
      nodes = nodes.map((n, i) => (n && from.includes(i) && n[field] ? this.without(n, field) : n));
      nodes.push(node);
      sources.push(from);
    }
    const kept = nodes.flatMap((node, i) => (node ? [{ node, from: sources[i] }] : []));
    if (!exclusive) return kept.map((k) => k.node);
    const context = { resolve: (s: unknown) => this.resolve(s), root: this.root };
    const apart = (n: ValueNode, from: number[]) => schemas.every((other, j) => from.includes(j) || rejectsAll(other, n, context));
    const separated = kept.flatMap(({ node, from }) => {
      if (apart(node, from)) return [node];
      const narrowed = from.length === 1 ? this.withoutRequiredElsewhere(direct[from[0]]?.schema, schemas, from[0]) : null;
      return narrowed && apart(narrowed, from) ? [narrowed] : [];
    });
    return separated.length > 0 ? separated : kept.map((k) => k.node);
  }

  /**
   * Branch `index` of a oneOf as an object that never writes its optional properties which another
   * branch requires (so that its values fail that branch); null when that changes nothing or would
   * leave an object that takes any key.
   */
  private withoutRequiredElsewhere(schema: JsonSchema | undefined, branches: unknown[], index: number): ValueNode | null {
    if (!schema?.properties) return null;
    const own = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
    const elsewhere = branches.flatMap((b, j) => {
      const other = this.resolve(b) as JsonSchema | null;
      return j !== index && other && Array.isArray(other.required) ? (other.required as string[]) : [];
    });
    const drop = new Set(elsewhere.filter((name) => !own.has(name) && Object.hasOwn(schema.properties as object, name)));
    const properties = Object.fromEntries(Object.entries(schema.properties as Record<string, unknown>).filter(([name]) => !drop.has(name)));
    if (drop.size === 0 || Object.keys(properties).length === 0) return null;
    return this.node({ ...schema, properties });
  }

  /** A copy of `node` without its values of one type (their branch-union joined them elsewhere); null when nothing is left. */
  private without(node: ValueNode, field: "string" | "number"): ValueNode | null {
    const { literals, object, array, string, number, union } = node;
    const rest = { literals, object, array, string, number, union, [field]: undefined };
    if (Object.values(rest).every((v) => v === undefined)) return null;
    return Object.assign(this.newNode(), rest);
  }

  /**
   * Strings and numbers of several branches, joined (branch-union.ts): each joined node, and the
   * branches whose values of that type it stands for (node null: values left out). Only branches that describe
   * their value directly take part (no nested anyOf, enum or const); under oneOf, a string branch that
   * does not take part stops the join, as its strings might overlap the others'.
   */
  private joinBranches(
    direct: ({ schema: JsonSchema; types: Set<string> } | null)[],
    nodes: ValueNode[],
    exclusive: boolean,
  ): { field: "string" | "number"; node: ValueNode | null; from: number[] }[] {
    const out: { field: "string" | "number"; node: ValueNode | null; from: number[] }[] = [];
    const strings = direct.flatMap((d, i) => (d?.types.has("string") ? [i] : []));
    const stringsElsewhere = direct.some(
      (d, i) => d === null && (nodes[i].string || nodes[i].union || nodes[i].literals?.values.some((v) => v.startsWith('"'))),
    );
    const joinedString =
      strings.length >= 2 && !(exclusive && stringsElsewhere)
        ? stringUnion(
            strings.map((i) => direct[i]!.schema),
            exclusive,
          )
        : null;
    // Under anyOf a string branch whose pattern or format the grammar cannot enforce is left out while
    // another string branch is enforced (the rest is still a subset of what the schema accepts).
    const unenforced = exclusive ? [] : strings.filter((i) => !enforceable(direct[i]!.schema));
    if (joinedString) {
      const node = this.newNode();
      node.string = this.stringShape(joinedString.dfa, joinedString.minLength, joinedString.maxLength);
      out.push({ field: "string", node, from: [...joinedString.members.map((m) => strings[m]), ...unenforced] });
    } else if (unenforced.length > 0 && unenforced.length < strings.length) {
      out.push({ field: "string", node: null, from: unenforced });
    }
    const numbers = direct.flatMap((d, i) => (d && (d.types.has("number") || d.types.has("integer")) ? [i] : []));
    const numberBranches = numbers.map((i) => ({ schema: direct[i]!.schema, integer: !direct[i]!.types.has("number") }));
    const numbersElsewhere = direct.some((d, i) => d === null && (nodes[i].number || nodes[i].union));
    const joinedNumbers =
      numbers.length < 2
        ? null
        : exclusive
          ? numbersElsewhere
            ? null
            : numberPieces(numberBranches)
          : [numberUnion(numberBranches, false)].filter((n) => n !== null);
    for (const joined of joinedNumbers ?? []) {
      if (joined.bounds && shortestNumber(joined.integer, joined.bounds) === null) continue; // a piece with no number of 15 digits
      const node = this.newNode();
      node.number = { integer: joined.integer, bounded: joined.bounds && { id: newId(), integer: joined.integer, bounds: joined.bounds } };
      out.push({ field: "number", node, from: numbers });
    }
    return out;
  }

  private objectSpec(s: JsonSchema): ObjectSpec {
    const properties = (s.properties ?? {}) as Record<string, unknown>;
    const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
    const extra = s.additionalProperties;
    // A required key the schema does not describe must still be written; its value is whatever
    // additionalProperties allows.
    const names = [...Object.keys(properties), ...[...required].filter((k) => !Object.hasOwn(properties, k))];
    const specs = names.map((name) => ({
      tail: binary(JSON.stringify(name).slice(1)),
      value: this.node(Object.hasOwn(properties, name) ? properties[name] : extra === false ? true : extra),
      required: required.has(name),
    }));
    return {
      id: newId(),
      properties: specs,
      free: specs.length === 0 && extra !== false ? this.node(extra) : null,
      freeKey: this.stringNode(),
      maxWhitespace: this.options.maxWhitespace,
    };
  }

  /**
   * Tuples: draft 7's `items: [...]` with `additionalItems`, as the validator (draft 7) reads them.
   * 2020-12's `prefixItems` is followed only without `items`: the validator ignores prefixItems and
   * applies `items` to every item.
   */
  private arraySpec(s: JsonSchema): ArraySpec {
    const tuple = Array.isArray(s.items) ? (s.items as unknown[]) : Array.isArray(s.prefixItems) && s.items === undefined ? (s.prefixItems as unknown[]) : [];
    const rest = Array.isArray(s.items) ? s.additionalItems : s.items;
    const minItems = typeof s.minItems === "number" ? s.minItems : 0;
    let maxItems = typeof s.maxItems === "number" ? Math.max(s.maxItems, minItems) : Number.POSITIVE_INFINITY;
    if (rest === false) maxItems = Math.min(maxItems, tuple.length);
    const items = rest === false ? this.any() : this.node(rest);
    // uniqueItems over literals (an enum): at most one of each, as many as there are.
    const literals =
      s.uniqueItems === true && tuple.length === 0 && items.literals && !items.object && !items.array && !items.string && !items.number && !items.union
        ? items.literals.values
        : null;
    if (literals) maxItems = Math.min(maxItems, literals.length);
    if (maxItems < minItems) throw new Phi4Error("INVALID_ARGUMENT", `a tool schema allows no array: minItems ${minItems}, but at most ${maxItems} items`);
    const { maxWhitespace } = this.options;
    return {
      id: newId(),
      ...(tuple.length > 0 && { prefix: tuple.map((item) => this.node(item)) }),
      items,
      ...(literals && { unique: { id: newId(), values: literals, minItems, maxItems, maxWhitespace } }),
      minItems,
      maxItems,
      maxWhitespace,
    };
  }

  private stringSpec(s: JsonSchema): StringSpec {
    return this.stringShape(stringAutomaton(s), typeof s.minLength === "number" ? s.minLength : 0, typeof s.maxLength === "number" ? s.maxLength : Infinity);
  }

  /** A string of `minLength` to `declaredMax` characters following `dfa` (null: any characters). */
  private stringShape(dfa: Dfa | null, minLength: number, declaredMax: number): StringSpec {
    // maxStringLength never cuts a patterned string below its shortest match (a UUID has 36 characters);
    // a large automaton gets a shorter limit, to keep its table of completions (states x lengths) small.
    const shortest = dfa ? shortestMatch(dfa) : 0;
    const limit = dfa
      ? Math.max(shortest, Math.min(this.options.maxStringLength, Math.floor(PATTERN_TABLE_CELLS / dfa.edges.length)))
      : this.options.maxStringLength;
    const maxLength = Math.max(minLength, Math.min(declaredMax, limit));
    const fits = dfa !== null && (maxLength + 1) * dfa.edges.length <= 2 * PATTERN_TABLE_CELLS; // a huge minLength
    const plain = { id: newId(), minLength, maxLength, clamp: this.options.clamp };
    // A pattern every string matches needs no automaton.
    const pattern = fits && !dfa.free[0] ? new PatternSpec(newId(), dfa, minLength, maxLength, this.options.clamp, plain) : null;
    // A pattern with no match short enough for maxStringLength is left to the validator, like one outside the subset.
    return { ...plain, ...(pattern?.satisfiable() && { pattern }) };
  }

  private stringNode(): ValueNode {
    const node = this.newNode();
    node.string = this.stringSpec({});
    return node;
  }

  /** Any JSON value (a schema of `true` or `{}`). */
  private any(): ValueNode {
    if (!this.anyNode) {
      this.anyNode = this.newNode();
      this.fill(this.anyNode, { type: TYPES });
    }
    return this.anyNode;
  }

  /** Follows local references (#, #/$defs/X, #/definitions/X); a reference it cannot follow allows anything. */
  private resolve(schema: unknown, depth = 0): unknown {
    if (schema === null || typeof schema !== "object" || typeof (schema as JsonSchema).$ref !== "string") return schema;
    const ref = (schema as JsonSchema).$ref as string;
    if (!ref.startsWith("#") || depth > 32) return true;
    let target: unknown = this.root;
    for (const part of ref.slice(1).split("/").slice(1)) {
      const key = decodeURIComponent(part).replaceAll("~1", "/").replaceAll("~0", "~");
      target = target !== null && typeof target === "object" ? (target as Record<string, unknown>)[key] : undefined;
    }
    return target === undefined ? true : this.resolve(target, depth + 1);
  }
}

const declaredTypes = (s: JsonSchema) => (typeof s.type === "string" ? [s.type] : Array.isArray(s.type) ? (s.type as string[]) : undefined);

/** The JSON types a schema allows, declared or inferred from its keywords. */
function typesOf(s: JsonSchema): Set<string> {
  const types = new Set(declaredTypes(s) ?? inferTypes(s));
  if (s.nullable === true) types.add("null");
  return types;
}

function inferTypes(s: JsonSchema): string[] {
  if ("properties" in s || "required" in s || "additionalProperties" in s) return ["object"];
  if ("items" in s || "minItems" in s || "maxItems" in s) return ["array"];
  if ("minLength" in s || "maxLength" in s || "pattern" in s) return ["string"];
  return Array.isArray(s.enum) || "const" in s || Array.isArray(s.anyOf) || Array.isArray(s.oneOf) ? [] : TYPES;
}

function hasType(value: unknown, type: string): boolean {
  if (type === "integer") return Number.isInteger(value);
  if (type === "null") return value === null;
  if (type === "array") return Array.isArray(value);
  if (type === "object") return value !== null && typeof value === "object" && !Array.isArray(value);
  return typeof value === type;
}

/**
 * allOf, merged into one schema: properties and required lists joined, other keywords from the last
 * branch that has them. A branch with additionalProperties false admits only its own keys, so the
 * merged object keeps only keys every such branch declares.
 */
function mergeAllOf(s: JsonSchema, resolve: (s: unknown) => unknown): JsonSchema {
  if (!Array.isArray(s.allOf)) return s;
  const { allOf, ...rest } = s;
  const branches = [rest, ...(allOf as unknown[]).map((part) => resolve(part))]
    .filter((part): part is JsonSchema => part !== null && typeof part === "object")
    .map((part) => mergeAllOf(part, resolve));
  const merged: JsonSchema = Object.assign({}, ...branches);
  const properties: Record<string, unknown> = Object.assign({}, ...branches.map((b) => b.properties ?? {}));
  const closed = branches.filter((b) => b.additionalProperties === false).map((b) => new Set(Object.keys(b.properties ?? {})));
  merged.properties = Object.fromEntries(Object.entries(properties).filter(([key]) => closed.every((keys) => keys.has(key))));
  merged.required = branches.flatMap((b) => (Array.isArray(b.required) ? b.required : []));
  if (closed.length > 0) merged.additionalProperties = false;
  return merged;
}

/** A number's shape: integer or not, and its bounds (an error when no number satisfies them). */
function numberShape(s: JsonSchema, integer: boolean): NonNullable<ValueNode["number"]> {
  const found = numberBounds(s, integer);
  if (!found) return { integer, bounded: null };
  if (shortestNumber(found.integer, found.bounds) === null) {
    throw new Phi4Error("INVALID_ARGUMENT", `a tool schema allows no ${integer ? "integer" : "number"} between its bounds (${boundsText(s)})`);
  }
  return { integer: found.integer, bounded: { id: newId(), ...found } };
}

const boundsText = (s: JsonSchema) =>
  ["minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "multipleOf"]
    .filter((k) => k in s)
    .map((k) => `${k} ${JSON.stringify(s[k])}`)
    .join(", ");
