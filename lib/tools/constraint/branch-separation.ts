/**
 * oneOf in the grammar: a value must match exactly one branch, so a branch's grammar may be offered
 * only where none of its values matches another branch's schema. `rejectsAll(schema, node)` says, when
 * it can prove it, that no value the grammar node generates satisfies the schema: the types differ, a
 * property the schema requires is never written, a required property's value is itself rejected (a
 * `const` or `enum` discriminator), lengths or numeric ranges do not meet, a literal fails (checked
 * with ajv). It answers false when unsure, and schema.ts then leaves the branch out of the union
 * (or, when no branch can be told apart, follows the branches as anyOf and leaves oneOf to validation).
 */
import { Ajv, type ValidateFunction } from "ajv";

import { VALIDATOR_OPTIONS } from "../catalog.js";
import { addFormats } from "../formats.js";
import type { JsonSchema } from "../types.js";
import type { ArraySpec, ObjectSpec, StringSpec, ValueGrammarNode } from "./grammar-nodes.js";
import { numberBounds } from "./numbers.js";

export interface SeparationContext {
  /** Follows a local $ref (schema.ts's resolver); anything else as it is. */
  resolve(schema: unknown): unknown;
  /** The tool's whole input schema, whose $defs / definitions a branch may refer to. */
  readonly root: JsonSchema;
}

const MAX_DEPTH = 8;

/** True when no value `node` generates satisfies `schema` (false when that cannot be shown). */
export function rejectsAll(schema: unknown, node: ValueGrammarNode, context: SeparationContext, depth = 0): boolean {
  if (depth > MAX_DEPTH) return false;
  const s = context.resolve(schema);
  if (s === false) return true;
  if (s === null || typeof s !== "object") return false;
  if (node.union) return node.union.branches.every((branch) => rejectsAll(s, branch, context, depth + 1));
  const js = s as JsonSchema;
  // A value must pass every allOf part and some anyOf (and oneOf) branch.
  if (Array.isArray(js.allOf) && js.allOf.some((part) => rejectsAll(part, node, context, depth + 1))) return true;
  for (const branches of [js.anyOf, js.oneOf]) {
    if (Array.isArray(branches) && branches.every((branch) => rejectsAll(branch, node, context, depth + 1))) return true;
  }
  const allows = allowedTypes(js);
  const may = (type: string) => allows === null || allows.has(type) || (type === "integer" && allows.has("number"));
  if (node.literals && !node.literals.values.every((text) => literalRejected(text, js, context))) return false;
  if (node.object && may("object") && !objectRejected(js, node.object, context, depth)) return false;
  if (node.array && may("array") && !arrayRejected(js, node.array, context, depth)) return false;
  if (node.string && may("string") && !stringRejected(js, node.string)) return false;
  if (node.number && (may("integer") || (!node.number.integer && may("number"))) && !numberRejected(js, node.number)) return false;
  return true;
}

/** The JSON types a schema's own keywords let through (type, nullable, enum, const); null for all. */
function allowedTypes(s: JsonSchema): Set<string> | null {
  let types: Set<string> | null = typeof s.type === "string" ? new Set([s.type]) : Array.isArray(s.type) ? new Set(s.type as string[]) : null;
  if (types && s.nullable === true) types.add("null");
  const literals = Array.isArray(s.enum) ? s.enum : "const" in s ? [s.const] : null;
  if (literals) {
    const ofLiterals = new Set(literals.flatMap(typesOfValue));
    types = types ? new Set([...types].filter((t) => ofLiterals.has(t) || (t === "number" && ofLiterals.has("integer")))) : ofLiterals;
  }
  return types;
}

function typesOfValue(value: unknown): string[] {
  if (value === null) return ["null"];
  if (Array.isArray(value)) return ["array"];
  if (typeof value === "number") return Number.isInteger(value) ? ["integer", "number"] : ["number"];
  return [typeof value];
}

/** The property name a PropertySpec's tail spells (the JSON text after the opening quote, as a binary string). */
const nameOf = (tail: string) => JSON.parse(`"${Buffer.from(tail, "latin1").toString("utf8")}`) as string;

function objectRejected(s: JsonSchema, object: ObjectSpec, context: SeparationContext, depth: number): boolean {
  const written = object.properties.map((p) => ({ name: nameOf(p.tail), spec: p }));
  const required = Array.isArray(s.required) ? (s.required as string[]) : [];
  // A property the schema requires that the grammar never writes.
  if (object.free === null && required.some((name) => !written.some((w) => w.name === name))) return true;
  const declared = (s.properties ?? {}) as Record<string, unknown>;
  const always = written.filter((w) => w.spec.required);
  // A property the grammar always writes that the schema does not allow.
  const closed = s.additionalProperties === false && s.patternProperties === undefined;
  if (closed && always.some((w) => !Object.hasOwn(declared, w.name))) return true;
  if (typeof s.maxProperties === "number" && always.length > s.maxProperties) return true;
  // A property the grammar always writes whose values the schema's declaration of it rejects (a discriminator).
  return always.some((w) => Object.hasOwn(declared, w.name) && rejectsAll(declared[w.name], w.spec.value, context, depth + 1));
}

function arrayRejected(s: JsonSchema, array: ArraySpec, context: SeparationContext, depth: number): boolean {
  if (typeof s.minItems === "number" && array.maxItems < s.minItems) return true;
  if (typeof s.maxItems === "number" && array.minItems > s.maxItems) return true;
  // The first item is always written and the schema rejects every value the grammar writes there.
  const first = array.prefix?.[0] ?? array.items;
  const itemSchema = Array.isArray(s.items) ? s.items[0] : Array.isArray(s.prefixItems) ? s.prefixItems[0] : s.items;
  return array.minItems > 0 && itemSchema !== undefined && rejectsAll(itemSchema, first as ValueGrammarNode, context, depth + 1);
}

function stringRejected(s: JsonSchema, string: StringSpec): boolean {
  return (typeof s.minLength === "number" && string.maxLength < s.minLength) || (typeof s.maxLength === "number" && string.minLength > s.maxLength);
}

function numberRejected(s: JsonSchema, number: NonNullable<ValueGrammarNode["number"]>): boolean {
  const own = number.bounded?.bounds;
  const other = numberBounds(s, false)?.bounds;
  if (!own || !other) return false;
  return (own.upper !== null && other.lower !== null && own.upper < other.lower) || (own.lower !== null && other.upper !== null && own.lower > other.upper);
}

const ajv = addFormats(new Ajv({ ...VALIDATOR_OPTIONS, allErrors: false }));
const compiled = new WeakMap<object, ValidateFunction | null>();

/** Whether a literal (its JSON text as a binary string) fails `s`, checked by ajv with the root's definitions at hand. */
function literalRejected(text: string, s: JsonSchema, context: SeparationContext): boolean {
  let validate = compiled.get(s);
  if (validate === undefined) {
    // Only references into $defs / definitions resolve the same way inside the wrapper.
    const refs = [...JSON.stringify(s).matchAll(/"\$ref":"([^"]*)"/g)].map((m) => m[1]);
    const local = refs.every((ref) => ref.startsWith("#/$defs/") || ref.startsWith("#/definitions/"));
    try {
      const { $id: _id, $schema: _dialect, ...own } = s;
      validate = local ? ajv.compile({ $defs: context.root.$defs, definitions: context.root.definitions, ...own }) : null;
    } catch {
      validate = null;
    }
    compiled.set(s, validate);
  }
  return validate !== null && !validate(JSON.parse(Buffer.from(text, "latin1").toString("utf8")));
}
