/** Reading a running server's /metrics in tests, and waiting for a condition on it (polled, bounded). */
import type { Phi4Server } from "../../lib/server/index.js";

/** One sample of the server's Prometheus text, by its name and labels as written (`name{a="b"}`); `apiKey` for a server that has one. */
export async function metric(server: Phi4Server, series: string, apiKey?: string): Promise<number> {
  const res = await fetch(`${server.url}/metrics`, { headers: apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` } });
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
  const text = await res.text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** Resolves once `condition` holds; the timeout only bounds a failure. */
export async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
