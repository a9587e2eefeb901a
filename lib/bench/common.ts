/** Helpers every benchmark uses: argument checks, deterministic prompts, medians and percentiles. */
import { Phi4Error } from "../engine/errors.js";

/** Prompt ids below this: ordinary text tokens in the Phi-4 vocabulary, clear of the special ones. */
export const PROMPT_ID_LIMIT = 50_000;

export function positiveInt(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new Phi4Error("INVALID_ARGUMENT", `--${name} must be an integer >= ${min} (got ${value})`);
  return value;
}

/** Deterministic prompt ids (Numerical Recipes LCG): every run and machine sees the same prompt for a seed. */
export function lcgPrompt(length: number, limit: number, seed = 12345): number[] {
  let state = seed;
  return Array.from({ length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % limit;
  });
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The value at fraction `q` (0..1) of the sorted values (nearest rank below); 0 when there are none. */
export function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}
