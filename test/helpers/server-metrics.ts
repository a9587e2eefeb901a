/** Reading a running server's /metrics in tests (wait on a value of it with until.ts). */
import type { Phi4Server } from "../../lib/server/index.js";

/** One sample of the server's Prometheus text, by its name and labels as written (`name{a="b"}`); `apiKey` for a server that has one. */
export async function metric(server: Phi4Server, series: string, apiKey?: string): Promise<number> {
  const res = await fetch(`${server.url}/metrics`, { headers: apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` } });
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
  const text = await res.text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}
