/**
 * anyOf / oneOf branches of the same JSON type, joined into one shape where the grammar can say
 * exactly "one branch or another" (schema.ts keeps the first branch of a type where it cannot, a
 * subset, which is sound):
 *
 * - strings: the union of their automata (patterns, formats; a plain string is any string), when the
 *   branches share their length limits. Under oneOf, where a value that matches two branches fails,
 *   each branch less the others (strings of exactly one branch), when every string branch has an
 *   automaton and takes part.
 * - numbers under anyOf: the branch that contains all the others (an integer range inside a number
 *   range), or one interval when the branches' intervals meet (same integer-ness, no multipleOf).
 * - numbers under oneOf: the pieces of the ranges that exactly one branch covers (same integer-ness,
 *   no multipleOf): `oneOf: [0..10, 5..20]` is [0, 5) and (10, 20].
 *
 * A branch whose pattern or format the grammar cannot enforce is left out of a union (the others still
 * make a subset of what the schema accepts); objects and arrays keep their first branch.
 */
import type { JsonSchema } from "../types.js";
import { combineDfa, type Dfa } from "./dfa.js";
import { numberBounds, ONE, type NumberBounds } from "./numbers.js";
import { UnsupportedPattern } from "./regex.js";
import { stringAutomaton } from "./string-automaton.js";

/** A string shape: its automaton (null: any string) and declared length limits. */
export interface StringUnion {
  dfa: Dfa | null;
  minLength: number;
  maxLength: number;
}

/** A number shape: integer or not, and its bounds (null: none). */
export interface NumberUnion {
  integer: boolean;
  bounds: NumberBounds | null;
}

/** Whether the grammar can enforce a string branch's pattern and format (else the validator checks them). */
export const enforceable = (s: JsonSchema) => stringShape(s) !== null;

/**
 * The strings of several branches (a direct string schema each), joined into one shape, and `members`:
 * the indexes of the branches whose strings it stands for (the others stay branches of their own);
 * null when no two can be joined.
 */
export function stringUnion(branches: readonly JsonSchema[], exclusive: boolean): (StringUnion & { members: number[] }) | null {
  const shapes = branches.map(stringShape);
  const enforced = shapes.filter((s): s is StringUnion => s !== null);
  if (enforced.length < 2 || (exclusive && enforced.length < shapes.length)) return null;
  const [first] = enforced;
  const group = enforced.filter((s) => s.minLength === first.minLength && s.maxLength === first.maxLength);
  const members = (chosen: readonly StringUnion[]) => shapes.flatMap((s, i) => (s !== null && chosen.includes(s) ? [i] : []));
  const withMembers = (union: StringUnion | null, chosen: readonly StringUnion[]) => union && { ...union, members: members(chosen) };
  if (exclusive) {
    if (group.length < shapes.length || group.some((s) => s.dfa === null)) return null;
    return withMembers(
      joined(first, () => {
        const dfas = group.map((s) => s.dfa!);
        const only = dfas.flatMap((dfa, i) => {
          try {
            return [dfas.reduce((rest, other, j) => (i === j ? rest : combineDfa(rest, other, "minus")), dfa)];
          } catch (error) {
            if (error instanceof UnsupportedPattern && error.message.includes("no string")) return []; // the others cover it
            throw error;
          }
        });
        if (only.length === 0) throw new UnsupportedPattern("no string matches exactly one branch");
        return only.slice(1).reduce((dfa, next) => combineDfa(dfa, next, "union"), only[0]);
      }),
      group,
    );
  }
  // A plain string whose length limits take in every other branch's is the union itself.
  const widest = enforced.find((s) => s.dfa === null && enforced.every((t) => s.minLength <= t.minLength && t.maxLength <= s.maxLength));
  if (widest) return withMembers(widest, enforced);
  if (group.length < 2) return null;
  if (group.some((s) => s.dfa === null)) return withMembers({ ...first, dfa: null }, group);
  return withMembers(
    joined(first, () => group.slice(1).reduce((dfa, s) => combineDfa(dfa, s.dfa!, "union"), group[0].dfa!)),
    group,
  );
}

/** `limits` with the automaton `build` makes, or null when it grows too large (the first branch alone still serves). */
function joined(limits: StringUnion, build: () => Dfa): StringUnion | null {
  try {
    return { ...limits, dfa: build() };
  } catch (error) {
    if (error instanceof UnsupportedPattern) return null;
    throw error;
  }
}

/** A branch's string shape, or null when its pattern or format is one the grammar leaves to the validator. */
function stringShape(s: JsonSchema): StringUnion | null {
  const dfa = stringAutomaton(s);
  if (dfa === null && (typeof s.pattern === "string" || typeof s.format === "string")) return null;
  return {
    dfa: dfa && !dfa.free[0] ? dfa : null,
    minLength: typeof s.minLength === "number" ? s.minLength : 0,
    maxLength: typeof s.maxLength === "number" ? s.maxLength : Infinity,
  };
}

/** The numbers the branches (direct number schemas, `integer` as each declares) allow, joined; null when not one shape. */
export function numberUnion(branches: readonly { schema: JsonSchema; integer: boolean }[], exclusive: boolean): NumberUnion | null {
  // Under oneOf a value in two branches' common range fails: no join is sound.
  if (exclusive || branches.length < 2) return null;
  const shapes: NumberUnion[] = [];
  for (const { schema, integer } of branches) {
    const found = numberBounds(schema, integer);
    // A multipleOf the grid cannot hold (1/3) is left to the validator: the branch cannot be enforced, so it is left out.
    if (typeof schema.multipleOf === "number" && !found?.bounds.multiple) continue;
    shapes.push(found ?? { integer, bounds: null });
  }
  if (shapes.length < 2) return null;
  const widest = shapes.find((a) => shapes.every((b) => contains(a, b)));
  if (widest) return widest;
  const integer = shapes[0].integer;
  if (shapes.some((s) => s.integer !== integer || s.bounds === null || s.bounds.multiple !== null)) return null;
  const sorted = shapes
    .map((s) => s.bounds!)
    .sort((a, b) => (a.lower === null ? -1 : b.lower === null ? 1 : a.lower < b.lower ? -1 : a.lower > b.lower ? 1 : 0));
  const lower = sorted[0].lower;
  let upper = sorted[0].upper;
  for (const next of sorted.slice(1)) {
    // The next range must start at or before the first value past this one (the next integer for integers).
    // Numbers here are decimals on the grid, so the first one past `upper` is one grid step on.
    const reach = upper === null ? null : integer ? floorGrid(upper) + ONE : upper + 1n;
    if (reach !== null && (next.lower === null ? false : (integer ? ceilGrid(next.lower) : next.lower) > reach)) return null;
    upper = upper === null || next.upper === null ? null : next.upper > upper ? next.upper : upper;
  }
  return { integer, bounds: { lower, upper, multiple: null } };
}

/**
 * oneOf over number ranges: the values exactly one branch allows, as ranges (each branch's range less
 * the others'); null when the branches differ in integer-ness or one has a multipleOf.
 */
export function numberPieces(branches: readonly { schema: JsonSchema; integer: boolean }[]): NumberUnion[] | null {
  const integer = branches[0]?.integer ?? false;
  if (branches.some((b) => b.integer !== integer || b.schema.multipleOf !== undefined)) return null;
  // Inclusive ranges on the grid (integers: whole ones); the next value past a bound is one step on.
  const step = integer ? ONE : 1n;
  const ranges = branches.map(({ schema }) => {
    const bounds = numberBounds(schema, integer)?.bounds;
    const lower = bounds?.lower ?? null;
    const upper = bounds?.upper ?? null;
    return { lower: lower !== null && integer ? ceilGrid(lower) : lower, upper: upper !== null && integer ? floorGrid(upper) : upper };
  });
  const pieces = ranges.flatMap((range, i) =>
    ranges.reduce<Range[]>((left, other, j) => (i === j ? left : left.flatMap((piece) => subtract(piece, other, step))), [range]),
  );
  return pieces.map((p) => ({ integer, bounds: { lower: p.lower, upper: p.upper, multiple: null } }));
}

interface Range {
  lower: bigint | null;
  upper: bigint | null;
}

/** `a` less `b` (inclusive ranges, null = unbounded): up to two ranges. */
function subtract(a: Range, b: Range, step: bigint): Range[] {
  const out: Range[] = [];
  // Below b: from a's lower up to just under b's lower.
  if (b.lower !== null && (a.lower === null || a.lower < b.lower)) {
    const upper = a.upper !== null && a.upper < b.lower - step ? a.upper : b.lower - step;
    if (a.lower === null || a.lower <= upper) out.push({ lower: a.lower, upper });
  }
  // Above b: from just over b's upper up to a's upper.
  if (b.upper !== null && (a.upper === null || a.upper > b.upper)) {
    const lower = a.lower !== null && a.lower > b.upper + step ? a.lower : b.upper + step;
    if (a.upper === null || lower <= a.upper) out.push({ lower, upper: a.upper });
  }
  // b covers nothing of a: a stays whole.
  const apart = (b.lower !== null && a.upper !== null && a.upper < b.lower) || (b.upper !== null && a.lower !== null && a.lower > b.upper);
  return apart ? [a] : out;
}

/** Whether every number `b` allows, `a` allows too. */
function contains(a: NumberUnion, b: NumberUnion): boolean {
  if (a.integer && !b.integer) return false;
  const outer = a.bounds;
  if (outer === null) return true;
  const inner = b.bounds ?? { lower: null, upper: null, multiple: null };
  if (outer.multiple !== null && (inner.multiple === null || inner.multiple % outer.multiple !== 0n)) return false;
  const lowerOk = outer.lower === null || (inner.lower !== null && outer.lower <= inner.lower);
  const upperOk = outer.upper === null || (inner.upper !== null && inner.upper <= outer.upper);
  return lowerOk && upperOk;
}

const floorGrid = (v: bigint) => v - (((v % ONE) + ONE) % ONE);
const ceilGrid = (v: bigint) => -floorGrid(-v);
