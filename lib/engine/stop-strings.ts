/**
 * Holds back streamed text that could be the start of a stop string, so a caller never sees part of
 * a stop string that is then cut off.
 */
export class StopStringMatcher {
  private held = "";

  constructor(private readonly stops: readonly string[]) {}

  /** Feeds a text delta; returns the text safe to emit and the stop string if one completed. */
  push(delta: string): { text: string; stop?: string } {
    const text = this.held + delta;
    let first: { index: number; stop: string } | undefined;
    for (const stop of this.stops) {
      const index = text.indexOf(stop);
      if (index !== -1 && (!first || index < first.index)) first = { index, stop };
    }
    if (first) {
      this.held = "";
      return { text: text.slice(0, first.index), stop: first.stop };
    }
    const keep = this.longestStopPrefixSuffix(text);
    this.held = text.slice(text.length - keep);
    return { text: text.slice(0, text.length - keep) };
  }

  /** Returns whatever was held back (at the end of a generation). */
  flush(): string {
    const text = this.held;
    this.held = "";
    return text;
  }

  private longestStopPrefixSuffix(text: string): number {
    let best = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, text.length); n > best; n--) {
        if (text.endsWith(stop.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
