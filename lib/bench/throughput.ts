/**
 * Decode rates of requests run at once, from the times their tokens reached JavaScript. The steady
 * state is the window in which every request is decoding: from the last request's first token to the
 * first request's last. The end-to-end rate counts every token after each request's first, from the
 * earliest first token to the last token, so prompts prefilled between decode steps count against it.
 */
export interface ConcurrentRates {
  aggregateTokensPerSec: number;
  endToEndTokensPerSec: number;
}

/** `runs[i]` holds request i's token times in ms, in order; each has at least two. */
export function concurrentRates(runs: number[][]): ConcurrentRates {
  const firstTokens = Math.min(...runs.map((t) => t[0]));
  const lastToken = Math.max(...runs.map((t) => t[t.length - 1]));
  const decoded = runs.reduce((sum, t) => sum + t.length - 1, 0);
  const steadyFrom = Math.max(...runs.map((t) => t[0]));
  const steadyTo = Math.min(...runs.map((t) => t[t.length - 1]));
  const steadyTokens = runs.reduce((sum, t) => sum + t.filter((time) => time > steadyFrom && time <= steadyTo).length, 0);
  const endToEndTokensPerSec = (decoded / (lastToken - firstTokens)) * 1000;
  return {
    // No window where all decode at once (a request ended before the last began): the end-to-end rate is all there is.
    aggregateTokensPerSec: steadyTo > steadyFrom && steadyTokens > 0 ? (steadyTokens / (steadyTo - steadyFrom)) * 1000 : endToEndTokensPerSec,
    endToEndTokensPerSec,
  };
}
