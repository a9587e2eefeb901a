/**
 * The character automaton a string schema's `pattern` and `format` compile to, or null when the
 * grammar leaves them to the validator (no pattern or known format, or a pattern outside the regex
 * subset of regex.ts). Compiled automata are kept by source: tools share formats and patterns.
 */
import type { JsonSchema } from "../types.js";
import { compileDfa, intersectDfa, type Dfa } from "./dfa.js";
import { FORMAT_PATTERNS } from "./formats.js";
import { parsePattern, UnsupportedPattern } from "./regex.js";

const compiled = new Map<string, Dfa | null>();
const KEPT = 256;

export function stringAutomaton(s: JsonSchema): Dfa | null {
  const sources = [typeof s.format === "string" ? FORMAT_PATTERNS[s.format] : undefined, typeof s.pattern === "string" ? s.pattern : undefined];
  const dfas = sources.filter((source): source is string => source !== undefined).map(patternAutomaton);
  // Both given and both enforceable: the strings both accept; otherwise whichever the grammar can enforce.
  const known = dfas.filter((dfa): dfa is Dfa => dfa !== null);
  if (known.length === 2) {
    try {
      return intersectDfa(known[0], known[1]);
    } catch (error) {
      if (!(error instanceof UnsupportedPattern)) throw error;
      return known[0];
    }
  }
  return known[0] ?? null;
}

export function patternAutomaton(source: string): Dfa | null {
  if (compiled.has(source)) return compiled.get(source)!;
  let dfa: Dfa | null = null;
  try {
    dfa = compileDfa(parsePattern(source));
  } catch (error) {
    if (!(error instanceof UnsupportedPattern)) throw error;
  }
  if (compiled.size >= KEPT) compiled.delete(compiled.keys().next().value!);
  compiled.set(source, dfa);
  return dfa;
}
