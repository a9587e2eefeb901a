/**
 * Prompt text that remembers which parts are content (message text, tool results, tool definitions:
 * anything a client, a document or a tool wrote) and which are the chat template's own markup. Only
 * markup may produce special tokens: "<|end|>" or "<|system|>" written inside content is encoded as
 * ordinary text, so content cannot close its turn or open a fake one.
 */
export type Range = readonly [start: number, end: number];

export class PromptText {
  private constructor(
    readonly text: string,
    /** Content ranges of `text`, sorted, disjoint and non-empty. */
    readonly content: readonly Range[],
  ) {}

  /** Text written by this library or the model's template: special-token strings in it are special tokens. */
  static markup(text: string): PromptText {
    return new PromptText(text, []);
  }

  /** Text from outside: special-token strings in it are ordinary characters. */
  static content(text: string): PromptText {
    return new PromptText(text, text.length === 0 ? [] : [[0, text.length]]);
  }

  /** A prompt from its text and content ranges (as another thread sent them); ranges are re-checked. */
  static withContent(text: string, ranges: readonly Range[]): PromptText {
    const content: Range[] = [];
    for (const [start, end] of [...ranges].sort((a, b) => a[0] - b[0])) appendRange(content, Math.max(0, start), Math.min(text.length, end));
    return new PromptText(text, content);
  }

  /** Builds a prompt from parts in order; a string part is markup. */
  static join(parts: ReadonlyArray<PromptText | string>): PromptText {
    let text = "";
    const content: Range[] = [];
    for (const part of parts) {
      const piece = typeof part === "string" ? PromptText.markup(part) : part;
      for (const [start, end] of piece.content) appendRange(content, text.length + start, text.length + end);
      text += piece.text;
    }
    return new PromptText(text, content);
  }

  /** Reads text in which content is wrapped in CONTENT_OPEN ... CONTENT_CLOSE (see chat-template.ts). */
  static fromMarked(marked: string): PromptText {
    let text = "";
    const content: Range[] = [];
    let open: number | undefined;
    let from = 0;
    // Jumps from mark to mark: content is megabytes at times, marks a few per message.
    for (const match of marked.matchAll(MARKS)) {
      const i = match.index;
      text += marked.slice(from, i);
      from = i + 1;
      if (match[0] === CONTENT_OPEN) open ??= text.length;
      else if (open !== undefined) {
        appendRange(content, open, text.length);
        open = undefined;
      }
    }
    text += marked.slice(from);
    // A template that cut content short (slicing a message) loses its close mark: the rest stays content,
    // the safe reading.
    if (open !== undefined) appendRange(content, open, text.length);
    return new PromptText(text, content);
  }

  /** The part of the prompt from `start` on (an incremental render's new tail). */
  slice(start: number): PromptText {
    const content: Range[] = [];
    for (const [s, e] of this.content) if (e > start) appendRange(content, Math.max(s, start) - start, e - start);
    return new PromptText(this.text.slice(start), content);
  }

  /** Whether [start, end) lies wholly in markup. */
  isMarkup(start: number, end: number): boolean {
    // Binary search for the first content range ending after `start`.
    let lo = 0;
    let hi = this.content.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.content[mid]![1] <= start) lo = mid + 1;
      else hi = mid;
    }
    const range = this.content[lo];
    return range === undefined || range[0] >= end;
  }
}

/** Marks around content while a template renders it: Unicode noncharacters, which text never carries
 * (they are removed from content before rendering, see stripMarks). */
export const CONTENT_OPEN = "\uFDD0";
export const CONTENT_CLOSE = "\uFDD1";

const MARKS = /[\uFDD0\uFDD1]/g;

export function stripMarks(text: string): string {
  return text.includes(CONTENT_OPEN) || text.includes(CONTENT_CLOSE) ? text.replace(MARKS, "") : text;
}

export function markContent(text: string): string {
  return CONTENT_OPEN + stripMarks(text) + CONTENT_CLOSE;
}

function appendRange(ranges: Range[], start: number, end: number): void {
  if (end <= start) return;
  const last = ranges.at(-1);
  if (last !== undefined && last[1] >= start) ranges[ranges.length - 1] = [last[0], Math.max(last[1], end)];
  else ranges.push([start, end]);
}
