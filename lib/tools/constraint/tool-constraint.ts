/**
 * Guaranteed-valid tool calls: a TokenConstraint whose masks let the model write only
 * `[{"name": <a tool>, "arguments": <JSON matching its input_schema>}, ...]` and then `<|/tool_call|>`.
 *
 * It also finishes within the token budget. The state's distance (fewest bytes left to finish) bounds
 * the tokens still needed, since every byte value is a token of the vocabulary: a token is allowed only
 * if the distance after it fits in the tokens left after it. When even the start does not fit that way (a budget smaller
 * than the call's byte length), a plan is made: the shortest completion, tokenized; its next token
 * stays allowed, so the call can always be finished by following it.
 */
import { Phi4Error } from "../../engine/errors.js";
import type { TokenConstraint } from "../../engine/generation.js";
import type { ModelHost } from "../../engine/model-host.js";
import type { Tokenizer } from "../../tokenizer/tokenizer.js";
import { ToolCatalog } from "../catalog.js";
import { TOOL_CALL_CLOSE, TOOL_CALL_OPEN } from "../stream-parser.js";
import type { AnyToolDefinition } from "../types.js";
import { ACCEPT, advanceBytes, type State } from "./automaton.js";
import { forcedBytes, type Forced } from "./forced.js";
import { ToolCallGrammar } from "./grammar.js";
import { MaskCache } from "./masks.js";
import { Vocabulary } from "./vocabulary.js";

export interface ToolConstraintOptions {
  /** Longest string in the arguments, in characters (default 2048): random-weight models never close strings on their own. */
  maxStringLength?: number;
  /** Most whitespace characters in a row between JSON tokens (default 4). */
  maxWhitespace?: number;
  /** Most calls in one list (default 8; 1 forbids parallel calls). */
  maxCalls?: number;
}

/**
 * call: the output is a call list from its first token (the prompt already ends with
 * `<|tool_call|>`); lazy: free text until the model samples `<|tool_call|>`, then a call list; forbid:
 * `<|tool_call|>` may not be sampled at all (tool_choice none).
 */
export type ToolConstraintMode = "call" | "lazy" | "forbid";

export interface CreateToolConstraintOptions extends ToolConstraintOptions {
  mode: ToolConstraintMode;
  /** The generation's maxTokens: a call is always finished within it. */
  budget: number;
  /** Mode "call": the part of the call the prompt already holds, e.g. `[{"name": "x", "arguments": `. */
  prefix?: string;
}

/** Builds the constraint for one generation (the vocabulary, grammar and mask cache are reused across calls). */
export async function createToolConstraint(
  model: ModelHost,
  tools: readonly AnyToolDefinition[] | ToolCatalog,
  options: CreateToolConstraintOptions,
): Promise<ToolCallConstraint> {
  const vocabulary = await Vocabulary.forModel(model);
  const shared = sharedFor(vocabulary);
  const catalog = ToolCatalog.from(tools);
  const maxCalls = options.maxCalls ?? 8;
  const grammarOptions = {
    maxStringLength: options.maxStringLength ?? 2048,
    maxWhitespace: options.maxWhitespace ?? 4,
    clamp: vocabulary.maxTokenBytes + 1,
  };
  for (const [name, value] of Object.entries({ maxCalls, ...grammarOptions })) {
    const least = name === "maxWhitespace" ? 0 : 1;
    if (!Number.isInteger(value) || value < least) throw new Phi4Error("INVALID_ARGUMENT", `${name} must be an integer >= ${least} (got ${value})`);
  }
  const key = JSON.stringify([catalog.tools.map((t) => [t.name, t.schema]), maxCalls, grammarOptions]);
  let grammar = shared.grammars.get(key);
  if (!grammar) {
    grammar = new ToolCallGrammar(catalog, maxCalls, grammarOptions);
    if (shared.grammars.size >= GRAMMARS_KEPT) shared.grammars.delete(shared.grammars.keys().next().value!);
    shared.grammars.set(key, grammar);
  }
  return new ToolCallConstraint(vocabulary, model.tokenizer, grammar, shared.masks, options);
}

const GRAMMARS_KEPT = 32;
const shared = new WeakMap<Vocabulary, { masks: MaskCache; grammars: Map<string, ToolCallGrammar> }>();

function sharedFor(vocabulary: Vocabulary) {
  let entry = shared.get(vocabulary);
  if (!entry) {
    entry = { masks: new MaskCache(vocabulary), grammars: new Map() };
    shared.set(vocabulary, entry);
  }
  return entry;
}

export class ToolCallConstraint implements TokenConstraint {
  /** Fewest tokens a call takes from where the constraint starts (closer included). */
  readonly minimumTokens: number;
  private readonly mode: ToolConstraintMode;
  private readonly budget: number;
  private readonly opener: number;
  private readonly closer: number;
  private readonly startState: State;
  private readonly startPlan: number[] | null;
  private readonly startLastByte: number;
  /** null until the call starts (lazy and forbid modes). */
  private state: State | null = null;
  private plan: number[] | null = null;
  private accepted = 0;
  private complete = false;
  /** The last byte of the call list so far (-1 before it), which decides jump-forward's spacing. */
  private lastByte = -1;
  /** forced()'s answer for the current state, until the state moves on. */
  private pendingForced: Forced | null = null;
  private readonly scratch: Uint8Array;

  constructor(
    private readonly vocabulary: Vocabulary,
    private readonly tokenizer: Tokenizer,
    grammar: ToolCallGrammar,
    private readonly masks: MaskCache,
    options: CreateToolConstraintOptions,
  ) {
    if (!(Number.isInteger(options.budget) && options.budget >= 1))
      throw new Phi4Error("INVALID_ARGUMENT", `the token budget must be a positive integer (got ${options.budget})`);
    this.mode = options.mode;
    this.budget = options.budget;
    this.opener = specialToken(vocabulary, TOOL_CALL_OPEN);
    this.closer = specialToken(vocabulary, TOOL_CALL_CLOSE);
    this.scratch = new Uint8Array(vocabulary.maskBytes);
    const start = options.mode === "call" ? grammar.after(options.prefix ?? "") : grammar.start;
    const prefix = options.mode === "call" ? Buffer.from(options.prefix ?? "", "utf8") : Buffer.alloc(0);
    this.startLastByte = prefix.length > 0 ? prefix[prefix.length - 1] : -1;
    if (!start) throw new Phi4Error("INVALID_ARGUMENT", `the prefix ${JSON.stringify(options.prefix)} does not start a call to one of the tools`);
    this.startState = start;
    this.startPlan = this.planFrom(start);
    this.minimumTokens = Math.min(start.distance, this.startPlan?.length ?? Infinity) + 1;
    if (options.mode === "call") {
      if (this.budget < this.minimumTokens) {
        throw new Phi4Error("INVALID_ARGUMENT", `max_tokens ${this.budget} is too small for a complete tool call: it needs at least ${this.minimumTokens}`);
      }
      this.begin();
    }
  }

  allowedTokens(): Uint8Array | null {
    const left = this.budget - this.accepted; // this token included
    if (this.state === null) {
      // Lazy: a call may start only while one still fits.
      return this.mode === "forbid" || left - 1 < this.minimumTokens ? this.vocabulary.allBut(this.opener) : null;
    }
    if (this.state === ACCEPT) return this.only(this.closer);
    const room = left - 1; // tokens for the JSON, this one included; the closer keeps the last
    // After this token, room - 1 tokens must cover the distance left (one byte per token at worst).
    const slack = room - 1 - this.state.distance;
    const entry = this.masks.get(this.state);
    const bits = entry.growth <= slack ? entry.bits : this.masks.get(this.state, slack).bits;
    return this.plan ? this.with(bits, this.plan[0]) : bits;
  }

  accept(token: number): void {
    this.accepted++;
    if (this.state === null) {
      if (this.mode === "lazy" && token === this.opener) this.begin();
      return;
    }
    if (this.state === ACCEPT) {
      if (token !== this.closer) throw new Error(`tool call constraint: token ${token} after the call list (only the closer may follow)`);
      this.complete = true;
      return;
    }
    this.plan = this.plan && this.plan[0] === token && this.plan.length > 1 ? this.plan.slice(1) : null;
    const bytes = this.vocabulary.tokenBytes[token];
    const next = bytes && advanceBytes(this.state, bytes);
    if (!next) throw new Error(`tool call constraint: token ${token} does not fit the grammar (the mask was not applied?)`);
    this.state = next;
    this.lastByte = bytes[bytes.length - 1];
    this.pendingForced = null;
  }

  forced(): Uint8Array {
    // While a plan steers the call to its end, its tokens are the way out: no jumps then.
    if (this.state === null || this.state === ACCEPT || this.plan) return EMPTY;
    this.pendingForced ??= forcedBytes(this.state, this.lastByte, MAX_JUMP_BYTES);
    return this.pendingForced.bytes;
  }

  acceptForced(takenBack: number, tokens: readonly number[]): boolean {
    const forced = this.pendingForced;
    if (!forced || forced.bytes.length === 0 || takenBack < 0 || takenBack > this.accepted)
      throw new Error("tool call constraint: acceptForced without forced bytes");
    const accepted = this.accepted - takenBack + tokens.length;
    // The same rule as for a sampled token: the rest must fit, one token per byte, before the closer.
    if (this.budget - accepted - 1 < forced.state.distance) return false;
    this.accepted = accepted;
    this.state = forced.state;
    this.lastByte = forced.bytes[forced.bytes.length - 1];
    this.pendingForced = null;
    return true;
  }

  isComplete(): boolean {
    return this.complete;
  }

  /** A copy in the same state that advances on its own (speculative decoding checks drafts on it). */
  fork(): ToolCallConstraint {
    // Every field but the scratch mask is immutable or replaced, never changed in place.
    const copy = Object.assign(Object.create(ToolCallConstraint.prototype) as ToolCallConstraint, this);
    Object.assign(copy, { scratch: new Uint8Array(this.scratch.length) });
    return copy;
  }

  private begin(): void {
    this.state = this.startState;
    this.lastByte = this.startLastByte;
    this.pendingForced = null;
    const room = this.budget - this.accepted - 1;
    this.plan = this.startState.distance > room ? this.startPlan : null;
  }

  /**
   * The shortest completion as tokens: the bytes that finish a UTF-8 character one token each, the rest
   * as the tokenizer spells it. Checked against the grammar; null if the tokenizer spells it otherwise.
   */
  private planFrom(state: State): number[] | null {
    const bytes = Buffer.from(state.completion(), "latin1");
    let head = 0;
    while (head < bytes.length && (bytes[head] & 0xc0) === 0x80) head++;
    const tokens = [...bytes.subarray(0, head)].map((b) => this.vocabulary.byteTokens[b]);
    tokens.push(...this.tokenizer.encode(bytes.subarray(head).toString("utf8"), { allowSpecial: false }));
    let s: State | null = state;
    for (const token of tokens) {
      const tokenBytes = this.vocabulary.tokenBytes[token];
      s = s && tokenBytes ? advanceBytes(s, tokenBytes) : null;
    }
    return s === ACCEPT ? tokens : null;
  }

  private with(bits: Uint8Array, token: number): Uint8Array {
    if (bits[token >> 3] & (1 << (token & 7))) return bits;
    this.scratch.set(bits);
    this.scratch[token >> 3] |= 1 << (token & 7);
    return this.scratch;
  }

  private only(token: number): Uint8Array {
    this.scratch.fill(0);
    this.scratch[token >> 3] |= 1 << (token & 7);
    return this.scratch;
  }
}

/** The longest jump, in bytes: enough for a call's opening and a few property names. */
const MAX_JUMP_BYTES = 128;
const EMPTY = new Uint8Array(0);

function specialToken(vocabulary: Vocabulary, text: string): number {
  const id = vocabulary.addedTokenId(text);
  if (id === undefined) throw new Phi4Error("INVALID_ARGUMENT", `the tokenizer has no ${text} token; tool calls need Phi-4's tool tokens`);
  return id;
}
