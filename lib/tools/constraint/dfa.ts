/**
 * Regular expression trees -> deterministic automata over code points (Thompson's construction, then
 * subsets), restricted to the characters a constrained JSON string can hold and pruned to the states
 * from which a match can still be completed, so that following the automaton never dead-ends.
 */
import { intersect, MAX_CODE_POINT, WRITABLE, type CharSet } from "./charset.js";
import { UnsupportedPattern, type RegexNode } from "./regex.js";

export interface DfaEdge {
  readonly lo: number;
  readonly hi: number;
  readonly to: number;
}

export interface Dfa {
  /** State 0 is the start. Edges of each state are sorted and disjoint, and lead only to live states. */
  readonly edges: readonly (readonly DfaEdge[])[];
  readonly accepting: readonly boolean[];
  /**
   * States from which every string matches (any code point, not only the writable ones), as after
   * `.*x` once the x is written.
   */
  readonly free: readonly boolean[];
}

const MAX_NFA_STATES = 20_000;
const MAX_DFA_STATES = 4_000;

class Nfa {
  readonly epsilon: number[][] = [];
  readonly moves: { set: CharSet; to: number }[][] = [];

  state(): number {
    if (this.epsilon.length >= MAX_NFA_STATES) throw new UnsupportedPattern("the pattern is too large to compile");
    this.epsilon.push([]);
    this.moves.push([]);
    return this.epsilon.length - 1;
  }

  /** Adds `node` between two new states; returns them. */
  build(node: RegexNode): [number, number] {
    const start = this.state();
    const end = this.state();
    this.connect(node, start, end);
    return [start, end];
  }

  private connect(node: RegexNode, from: number, to: number): void {
    switch (node.kind) {
      case "chars":
        this.moves[from].push({ set: node.set, to });
        return;
      case "seq": {
        let at = from;
        node.items.forEach((item, i) => {
          const next = i === node.items.length - 1 ? to : this.state();
          this.connect(item, at, next);
          at = next;
        });
        if (node.items.length === 0) this.epsilon[from].push(to);
        return;
      }
      case "alt":
        for (const option of node.options) this.connect(option, from, to);
        return;
      case "repeat": {
        let at = from;
        for (let i = 0; i < node.min; i++) {
          const next = this.state();
          this.connect(node.node, at, next);
          at = next;
        }
        if (node.max === Infinity) {
          // A loop through a state of its own, so the repeated part cannot be skipped into from elsewhere.
          const loop = this.state();
          this.epsilon[at].push(loop);
          this.connect(node.node, loop, loop);
          this.epsilon[loop].push(to);
          return;
        }
        for (let i = node.min; i < node.max; i++) {
          const next = this.state();
          this.epsilon[at].push(to);
          this.connect(node.node, at, next);
          at = next;
        }
        this.epsilon[at].push(to);
      }
    }
  }

  closure(states: Iterable<number>): number[] {
    const seen = new Set<number>(states);
    const stack = [...seen];
    while (stack.length > 0) {
      for (const next of this.epsilon[stack.pop()!]) {
        if (!seen.has(next)) {
          seen.add(next);
          stack.push(next);
        }
      }
    }
    return [...seen].sort((a, b) => a - b);
  }
}

/** The automaton of a pattern tree; throws UnsupportedPattern when it grows too large. */
export function compileDfa(tree: RegexNode): Dfa {
  const nfa = new Nfa();
  const [start, end] = nfa.build(tree);
  const sets: number[][] = [nfa.closure([start])];
  const index = new Map<string, number>([[sets[0].join(","), 0]]);
  const edges: DfaEdge[][] = [];
  // Per state: whether every code point has a move, and the states all its moves lead to.
  const complete: boolean[] = [];
  const successors: Set<number>[] = [];
  for (let i = 0; i < sets.length; i++) {
    const moves = sets[i].flatMap((s) => nfa.moves[s]);
    // Split the code points at every range boundary; each piece moves to one set of NFA states.
    const cuts = [...new Set([0, MAX_CODE_POINT + 1, ...moves.flatMap((m) => m.set.flatMap(([lo, hi]) => [lo, hi + 1]))])].sort((a, b) => a - b);
    const out: DfaEdge[] = [];
    let gapless = true;
    const next = new Set<number>();
    for (let c = 0; c < cuts.length - 1; c++) {
      const lo = cuts[c];
      const hi = cuts[c + 1] - 1;
      const targets = moves.filter((m) => m.set.some(([a, b]) => a <= lo && hi <= b)).map((m) => m.to);
      if (targets.length === 0) {
        gapless = false;
        continue;
      }
      const closed = nfa.closure(targets);
      const key = closed.join(",");
      let to = index.get(key);
      if (to === undefined) {
        if (sets.length >= MAX_DFA_STATES) throw new UnsupportedPattern("the pattern is too large to compile");
        to = sets.length;
        sets.push(closed);
        index.set(key, to);
      }
      next.add(to);
      // Only characters a constrained string can hold become edges.
      for (const [a, b] of intersect([[lo, hi]], WRITABLE)) {
        const last = out.at(-1);
        if (last && last.to === to && last.hi + 1 === a) out[out.length - 1] = { lo: last.lo, hi: b, to };
        else out.push({ lo: a, hi: b, to });
      }
    }
    edges.push(out);
    complete.push(gapless);
    successors.push(next);
  }
  const accepting = sets.map((set) => set.includes(end));
  return prune(edges, accepting, universal(accepting, complete, successors));
}

/** The states whose language is every string: accepting, complete, and leading only to such states (a greatest fixpoint). */
function universal(accepting: boolean[], complete: boolean[], successors: Set<number>[]): boolean[] {
  const free = accepting.map((a, i) => a && complete[i]);
  for (let changed = true; changed;) {
    changed = false;
    free.forEach((f, i) => {
      if (f && [...successors[i]].some((to) => !free[to])) free[i] = !(changed = true);
    });
  }
  return free;
}

/** Drops the states that cannot reach an accepting one (and the edges into them), renumbering the rest. */
function prune(edges: DfaEdge[][], accepting: boolean[], free: boolean[]): Dfa {
  const live = accepting.slice();
  for (let changed = true; changed;) {
    changed = false;
    edges.forEach((out, s) => {
      if (!live[s] && out.some((e) => live[e.to])) live[s] = changed = true;
    });
  }
  if (!live[0]) throw new UnsupportedPattern("the pattern matches no string a tool call can write");
  const number = new Map<number, number>();
  live.forEach((alive, s) => alive && number.set(s, number.size));
  return {
    edges: [...number.keys()].map((s) => edges[s].filter((e) => live[e.to]).map((e) => ({ ...e, to: number.get(e.to)! }))),
    accepting: [...number.keys()].map((s) => accepting[s]),
    free: [...number.keys()].map((s) => free[s]),
  };
}

/** The state after `cp` from `state`, or -1. */
export function move(dfa: Dfa, state: number, cp: number): number {
  for (const e of dfa.edges[state]) {
    if (cp < e.lo) return -1;
    if (cp <= e.hi) return e.to;
  }
  return -1;
}

/** The automaton of strings both accept (a `pattern` and a `format` on one string). */
export function intersectDfa(a: Dfa, b: Dfa): Dfa {
  const pairs: [number, number][] = [[0, 0]];
  const index = new Map<string, number>([["0,0", 0]]);
  const edges: DfaEdge[][] = [];
  for (let i = 0; i < pairs.length; i++) {
    const [p, q] = pairs[i];
    const out: DfaEdge[] = [];
    for (const x of a.edges[p]) {
      for (const y of b.edges[q]) {
        const lo = Math.max(x.lo, y.lo);
        const hi = Math.min(x.hi, y.hi);
        if (lo > hi) continue;
        const key = `${x.to},${y.to}`;
        let to = index.get(key);
        if (to === undefined) {
          if (pairs.length >= MAX_DFA_STATES) throw new UnsupportedPattern("the pattern is too large to compile");
          to = pairs.length;
          pairs.push([x.to, y.to]);
          index.set(key, to);
        }
        out.push({ lo, hi, to });
      }
    }
    edges.push(out.sort((m, n) => m.lo - n.lo));
  }
  return prune(
    edges,
    pairs.map(([p, q]) => a.accepting[p] && b.accepting[q]),
    pairs.map(([p, q]) => a.free[p] && b.free[q]),
  );
}

/** The fewest characters of a match. */
export function shortestMatch(dfa: Dfa): number {
  const depth = new Map<number, number>([[0, 0]]);
  for (const [q, d] of depth) {
    if (dfa.accepting[q]) return d;
    for (const e of dfa.edges[q]) if (!depth.has(e.to)) depth.set(e.to, d + 1);
  }
  return Infinity; // pruned automata always match, so this is not reached
}

/**
 * The automaton of strings either accepts ("union", anyOf over patterned strings) or that `a` accepts
 * and `b` does not ("minus", a oneOf branch less the others): the product of the two with a dead
 * state (-1) for a side that has no move. Throws UnsupportedPattern when no string is left.
 */
export function combineDfa(a: Dfa, b: Dfa, mode: "union" | "minus"): Dfa {
  const pairs: [number, number][] = [[0, 0]];
  const index = new Map<string, number>([["0,0", 0]]);
  const edges: DfaEdge[][] = [];
  for (let i = 0; i < pairs.length; i++) {
    const [p, q] = pairs[i];
    const left = p < 0 ? [] : a.edges[p];
    const right = q < 0 ? [] : b.edges[q];
    const cuts = [...new Set([...left, ...right].flatMap((e) => [e.lo, e.hi + 1]))].sort((m, n) => m - n);
    const out: DfaEdge[] = [];
    for (let c = 0; c < cuts.length - 1; c++) {
      const lo = cuts[c];
      const hi = cuts[c + 1] - 1;
      const x = left.find((e) => e.lo <= lo && hi <= e.hi)?.to ?? -1;
      const y = right.find((e) => e.lo <= lo && hi <= e.hi)?.to ?? -1;
      if (x < 0 && (y < 0 || mode === "minus")) continue;
      const key = `${x},${y}`;
      let to = index.get(key);
      if (to === undefined) {
        if (pairs.length >= MAX_DFA_STATES) throw new UnsupportedPattern("the pattern is too large to compile");
        to = pairs.length;
        pairs.push([x, y]);
        index.set(key, to);
      }
      const last = out.at(-1);
      if (last && last.to === to && last.hi + 1 === lo) out[out.length - 1] = { lo: last.lo, hi, to };
      else out.push({ lo, hi, to });
    }
    edges.push(out);
  }
  const side = (flags: readonly boolean[], s: number) => s >= 0 && flags[s];
  const accepting = pairs.map(([p, q]) => (mode === "union" ? side(a.accepting, p) || side(b.accepting, q) : side(a.accepting, p) && !side(b.accepting, q)));
  // Every string matches from here: on either side for a union; for a difference, only once `b` is out of moves.
  const free = pairs.map(([p, q]) => (mode === "union" ? side(a.free, p) || side(b.free, q) : side(a.free, p) && q < 0));
  return prune(edges, accepting, free);
}

/** Whether some string a tool call can write matches both (oneOf branches must not overlap). */
export function overlaps(a: Dfa, b: Dfa): boolean {
  const seen = new Set<string>(["0,0"]);
  const stack: [number, number][] = [[0, 0]];
  while (stack.length > 0) {
    const [p, q] = stack.pop()!;
    if (a.accepting[p] && b.accepting[q]) return true;
    for (const x of a.edges[p]) {
      for (const y of b.edges[q]) {
        if (Math.max(x.lo, y.lo) > Math.min(x.hi, y.hi) || seen.has(`${x.to},${y.to}`)) continue;
        seen.add(`${x.to},${y.to}`);
        stack.push([x.to, y.to]);
      }
    }
  }
  return false;
}
