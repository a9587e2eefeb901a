/** Waiting for a condition in tests: checked again and again until it holds; the timeout only bounds a failure. */

/** Resolves once `condition()` holds; rejects naming `what` when it still does not after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    // The next check after other I/O had a chance to run (a few milliseconds: the state changes in another process).
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
