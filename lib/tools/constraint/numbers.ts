/**
 * Numeric bounds for the grammar: which number texts can still become a value that ajv accepts under
 * `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` and an integer `multipleOf`, and the
 * shortest way to finish one.
 *
 * Bounded numbers are written as plain decimals (no exponent) of at most 15 digits in all. Such a
 * decimal has at most 15 significant digits, so it converts to a double and back unchanged (DBL_DIG):
 * distinct decimals give distinct doubles, in the same order. A bound is rounded inward to 15
 * significant digits, so comparing decimals exactly here gives the same answer as ajv's comparison of
 * doubles. Arithmetic is exact, on BigInt multiples of 10^-15 (the grid).
 */
import type { JsonSchema } from "../types.js";

/** Digits a bounded number may have, integer and fraction together. */
export const MAX_DIGITS = 15;
const SCALE = 15;
export const ONE = 10n ** BigInt(SCALE); // 1 on the grid

export interface NumberBounds {
  /** Smallest and largest allowed value on the grid (inclusive), null when unbounded. */
  readonly lower: bigint | null;
  readonly upper: bigint | null;
  /** Allowed values are multiples of this (on the grid: whole, or a fractional multipleOf); null for none. */
  readonly multiple: bigint | null;
}

/** A number text so far, without its sign: integer digits, whether a dot was written, fraction digits. */
export interface NumberPrefix {
  readonly negative: boolean;
  readonly int: string;
  readonly dot: boolean;
  readonly frac: string;
}

/**
 * The bounds a schema puts on a number, or null when it puts none. `integer` may be turned on: a
 * number schema whose multipleOf is a whole number only has whole multiples.
 */
export function numberBounds(s: JsonSchema, integer: boolean): { integer: boolean; bounds: NumberBounds } | null {
  const multiple = typeof s.multipleOf === "number" && s.multipleOf > 0 ? exactOnGrid(s.multipleOf) : null;
  const isInteger = integer || (multiple !== null && multiple % ONE === 0n);
  // Draft 4 writes exclusiveness as a boolean beside minimum/maximum; later drafts as a number.
  const lowers = [
    typeof s.minimum === "number" ? toGrid(s.minimum, "lower", s.exclusiveMinimum === true) : null,
    typeof s.exclusiveMinimum === "number" ? toGrid(s.exclusiveMinimum, "lower", true) : null,
  ].filter((b): b is bigint => b !== null);
  const uppers = [
    typeof s.maximum === "number" ? toGrid(s.maximum, "upper", s.exclusiveMaximum === true) : null,
    typeof s.exclusiveMaximum === "number" ? toGrid(s.exclusiveMaximum, "upper", true) : null,
  ].filter((b): b is bigint => b !== null);
  if (multiple !== null && multiple % ONE !== 0n) {
    // A fractional multipleOf: validation divides doubles (multipleOfPrecision in catalog.ts), which is
    // exact enough for quotients up to MAX_QUOTIENT, so values stay within that many steps of zero.
    lowers.push(-multiple * MAX_QUOTIENT);
    uppers.push(multiple * MAX_QUOTIENT);
  }
  if (lowers.length === 0 && uppers.length === 0 && multiple === null) return null;
  return {
    integer: isInteger,
    bounds: {
      lower: lowers.length > 0 ? lowers.reduce((a, b) => (a > b ? a : b)) : null,
      upper: uppers.length > 0 ? uppers.reduce((a, b) => (a < b ? a : b)) : null,
      multiple,
    },
  };
}

/**
 * Most steps of a fractional multipleOf from zero: a decimal value / step in doubles is then within
 * 10^9 * 2^-52 (under 10^-6) of the whole quotient, which ajv's multipleOfPrecision 6 accepts.
 */
const MAX_QUOTIENT = 10n ** 9n;

/** `value` on the grid when it is a decimal of at most 15 significant digits and 15 fraction digits; else null. */
function exactOnGrid(value: number): bigint | null {
  const [mantissa, exponentText] = value.toExponential().split("e");
  const digits = mantissa.replace("-", "").replace(".", "");
  const shift = Number(exponentText) - (digits.length - 1) + SCALE;
  if (digits.length > MAX_DIGITS || shift < 0) return null;
  return BigInt(digits) * 10n ** BigInt(shift);
}

/** A bound as an inclusive grid value, rounded inward (null for an infinite one). */
function toGrid(bound: number, side: "lower" | "upper", exclusive: boolean): bigint | null {
  if (!Number.isFinite(bound)) return null;
  // The shortest decimal that round-trips to the double (toExponential with no argument).
  const [mantissa, exponentText] = bound.toExponential().split("e");
  const negative = mantissa.startsWith("-");
  let digits = mantissa.replace("-", "").replace(".", "");
  let exponent = Number(exponentText) - (digits.length - 1);
  let strict = exclusive;
  if (digits.length > MAX_DIGITS) {
    // Rounded inward to 15 digits (the dropped ones are not all zero), the bound lies strictly inside
    // the original one, so it becomes inclusive. Inward is away from zero for a positive lower bound
    // and a negative upper one.
    const cut = BigInt(digits.slice(0, MAX_DIGITS));
    exponent += digits.length - MAX_DIGITS;
    digits = String((side === "lower") !== negative ? cut + 1n : cut);
    strict = false;
  }
  // value = ±digits * 10^exponent; on the grid: ±digits * 10^(exponent + SCALE) = num / den
  const shift = exponent + SCALE;
  const num = (negative ? -1n : 1n) * BigInt(digits) * (shift >= 0 ? 10n ** BigInt(shift) : 1n);
  const den = shift >= 0 ? 1n : 10n ** BigInt(-shift);
  if (side === "lower") return strict ? floorDiv(num, den) + 1n : ceilDiv(num, den);
  return strict ? ceilDiv(num, den) - 1n : floorDiv(num, den);
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n === b < 0n ? q + 1n : q;
}

/**
 * The values a prefix can still reach, in families: `count` values from `first` in steps of `step`
 * (grid units), each written with `fraction` fraction digits, `cost` more characters than the prefix.
 * With `finest`, only the families that contain all others (enough to tell whether any value is
 * reachable); otherwise all, by increasing cost once the prefix has a digit.
 */
interface Family {
  first: bigint;
  step: bigint;
  count: bigint;
  fraction: number;
  cost: number;
}

function* families(p: NumberPrefix, integer: boolean, finest: boolean): Generator<Family> {
  const k = p.int.length;
  if (p.dot) {
    const first = BigInt(p.int + p.frac.padEnd(SCALE, "0"));
    const most = MAX_DIGITS - k;
    for (let f = finest ? most : Math.max(p.frac.length, 1); f <= most; f++) {
      yield { first, step: 10n ** BigInt(SCALE - f), count: 10n ** BigInt(f - p.frac.length), fraction: f, cost: f - p.frac.length };
    }
    return;
  }
  if (k === 0) {
    for (let c = 0; c <= 9; c++) for (const family of families({ ...p, int: String(c) }, integer, finest)) yield { ...family, cost: family.cost + 1 };
    return;
  }
  const value = BigInt(p.int) * ONE;
  const moreInt = p.int === "0" ? 0 : MAX_DIGITS - k; // "0" takes no more integer digits
  const fractions = (j: number) => (integer ? 0 : MAX_DIGITS - k - j);
  // j more integer digits, then f fraction digits (a dot first when f > 0).
  const family = (j: number, f: number): Family => ({
    first: value * 10n ** BigInt(j),
    step: 10n ** BigInt(SCALE - f),
    count: 10n ** BigInt(j + f),
    fraction: f,
    cost: j + (f > 0 ? 1 + f : 0),
  });
  if (finest) {
    for (let j = 0; j <= moreInt; j++) yield family(j, fractions(j));
    return;
  }
  for (let cost = 0; cost <= MAX_DIGITS - k + 1; cost++) {
    if (cost <= moreInt) yield family(cost, 0);
    for (let j = 0; j <= Math.min(moreInt, cost - 2); j++) {
      const f = cost - 1 - j;
      if (f >= 1 && f <= fractions(j)) yield family(j, f);
    }
  }
}

/** The smallest member of `family` within the prefix's magnitude bounds, or null. */
function smallestIn(family: Family, range: { lower: bigint; upper: bigint | null }, multiple: bigint | null): bigint | null {
  // Members are multiples of step (as family.first is); allowed ones, of multiple too.
  const modulus = multiple === null ? family.step : lcm(multiple, family.step);
  const from = range.lower > family.first ? range.lower : family.first;
  let to = family.first + (family.count - 1n) * family.step;
  if (range.upper !== null && range.upper < to) to = range.upper;
  const x = ceilDiv(from, modulus) * modulus;
  return x <= to ? x : null;
}

/**
 * Bounds on the magnitude of a value with this sign (null: no value of that sign is allowed). A minus
 * sign starts only numbers below zero: "-0" is never written.
 */
function magnitudeRange(bounds: NumberBounds, negative: boolean): { lower: bigint; upper: bigint | null } | null {
  const lower = negative ? (bounds.upper === null ? 1n : -bounds.upper) : (bounds.lower ?? 0n);
  const upper = negative ? (bounds.lower === null ? null : -bounds.lower) : bounds.upper;
  const least = negative ? 1n : 0n;
  const range = { lower: lower > least ? lower : least, upper };
  return upper !== null && upper < range.lower ? null : range;
}

/** Whether some number that starts with the prefix satisfies the bounds. */
export function reachable(p: NumberPrefix, integer: boolean, bounds: NumberBounds): boolean {
  const range = magnitudeRange(bounds, p.negative);
  if (!range) return false;
  for (const family of families(p, integer, true)) if (smallestIn(family, range, bounds.multiple) !== null) return true;
  return false;
}

/** Whether the prefix is itself a complete number that satisfies the bounds. */
export function satisfies(p: NumberPrefix, bounds: NumberBounds): boolean {
  if (p.int === "" || (p.dot && p.frac === "")) return false;
  const range = magnitudeRange(bounds, p.negative);
  if (!range) return false;
  const value = BigInt(p.int + p.frac.padEnd(SCALE, "0"));
  if (value < range.lower || (range.upper !== null && value > range.upper)) return false;
  return bounds.multiple === null || value % bounds.multiple === 0n;
}

/** The fewest characters that finish the prefix as an allowed number (null: none can). */
export function shortestRest(p: NumberPrefix, integer: boolean, bounds: NumberBounds): string | null {
  const range = magnitudeRange(bounds, p.negative);
  if (!range) return null;
  const written = p.int + (p.dot ? `.${p.frac}` : "");
  let best: string | null = null;
  for (const family of families(p, integer, false)) {
    if (best !== null && family.cost >= best.length) {
      if (p.int !== "") break; // the rest cost more (with no digit yet, families come per first digit)
      continue;
    }
    const x = smallestIn(family, range, bounds.multiple);
    if (x === null) continue;
    const frac = (x % ONE).toString().padStart(SCALE, "0").slice(0, family.fraction);
    const rest = `${x / ONE}${family.fraction > 0 ? `.${frac}` : ""}`.slice(written.length);
    if (best === null || rest.length < best.length) best = rest;
  }
  return best;
}

/** The shortest allowed number text, or null when the bounds allow none. */
export function shortestNumber(integer: boolean, bounds: NumberBounds): string | null {
  const positive = shortestRest({ negative: false, int: "", dot: false, frac: "" }, integer, bounds);
  const negative = shortestRest({ negative: true, int: "", dot: false, frac: "" }, integer, bounds);
  const signed = negative === null ? null : `-${negative}`;
  if (positive === null) return signed;
  return signed === null || positive.length <= signed.length ? positive : signed;
}

const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));
const lcm = (a: bigint, b: bigint) => (a / gcd(a, b)) * b;
