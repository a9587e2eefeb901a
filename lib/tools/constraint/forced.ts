/**
 * Jump-forward: the bytes the grammar forces from a state, i.e. the continuation every valid output
 * shares from here (the `{"name": "` frame, the rest of a tool name once its prefix is unique, a
 * required property's name, closing brackets). The generation appends them in one run instead of
 * sampling them one token at a time.
 *
 * A byte is forced when it is the only one the grammar allows. Whitespace that is JSON layout (between
 * tokens, not inside a string, key or literal) does not count as a choice: where the only other byte
 * is forced, the layout is Phi-4-mini's own (json.dumps spacing, as its prompt renders calls): one
 * space after a "," or ":" and none elsewhere.
 */
import { ACCEPT, advance, type State } from "./automaton.js";
import { isWhitespace } from "./frame.js";

const SPACE = 0x20;
const COMMA = 0x2c;
const COLON = 0x3a;

export interface Forced {
  /** The forced bytes (ending on a whole UTF-8 character); empty when the next byte is a choice. */
  bytes: Uint8Array;
  /** The state after them. */
  state: State;
}

/**
 * Follows forced bytes from `state` for at most `cap` bytes. `previous` is the last byte written
 * before `state` (-1 if none), which decides json.dumps spacing.
 */
export function forcedBytes(state: State, previous: number, cap: number): Forced {
  const bytes: number[] = [];
  // The state after the last whole UTF-8 character: a jump never ends inside one.
  let end = { length: 0, state };
  let s = state;
  let last = previous;
  while (bytes.length < cap && s !== ACCEPT) {
    const next = onlyNext(s, last);
    if (!next) break;
    bytes.push(next.byte);
    s = next.state;
    last = next.byte;
    if (!startsMultiByte(bytes)) end = { length: bytes.length, state: s };
  }
  return { bytes: Uint8Array.from(bytes.slice(0, end.length)), state: end.state };
}

/** The one byte (and its state) the grammar lets follow `s`, or null when there is a choice. */
function onlyNext(s: State, previous: number): { byte: number; state: State } | null {
  let only: { byte: number; state: State } | null = null;
  let space: State | null = null;
  const layout = s.top.layoutWhitespace;
  for (let b = 0; b < 256; b++) {
    const next = advance(s, b);
    if (next === null) continue;
    if (layout && isWhitespace(b)) {
      if (b === SPACE) space = next;
      continue;
    }
    if (only) return null;
    only = { byte: b, state: next };
  }
  // A lone layout space (no other byte allowed) cannot happen: whitespace is never required.
  if (only && space && (previous === COMMA || previous === COLON)) return { byte: SPACE, state: space };
  return only;
}

/** True when `bytes` ends inside a multi-byte UTF-8 character (its lead byte read, not all of its continuation bytes). */
function startsMultiByte(bytes: readonly number[]): boolean {
  let i = bytes.length - 1;
  let continuation = 0;
  while (i >= 0 && (bytes[i] & 0xc0) === 0x80) {
    i--;
    continuation++;
  }
  if (i < 0) return false;
  const lead = bytes[i];
  const size = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return continuation < size - 1;
}
