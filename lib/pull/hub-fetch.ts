/**
 * fetch for the hub, with redirects followed here rather than by fetch, so that HF_TOKEN goes only
 * to the endpoint's own origin: a redirect to a CDN, or a listing page link to another host, gets the
 * request without it.
 */
import { Phi4Error } from "../engine/errors.js";

const MAX_REDIRECTS = 10;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** A model hub and one repo on it. */
export interface Hub {
  /** Base URL without a trailing slash. */
  endpoint: string;
  /** "owner/name" (or a legacy bare "name"). */
  repo: string;
  /** Sent as `Authorization: Bearer` (HF_TOKEN): private and gated repos need it. */
  token?: string;
}

/** Sends `Authorization: Bearer` only when `url` is on the endpoint's origin (scheme, host and port). */
export function authHeaders(hub: Hub, url: string): Record<string, string> {
  return hub.token && new URL(url).origin === new URL(hub.endpoint).origin ? { authorization: `Bearer ${hub.token}` } : {};
}

/** GET `url`, following redirects; the token is sent (or not) anew for each hop. */
export async function hubFetch(hub: Hub, url: string, headers: Record<string, string> = {}): Promise<Response> {
  let current = url;
  for (let hop = 0; ; hop++) {
    const response = await fetch(current, { headers: { ...headers, ...authHeaders(hub, current) }, redirect: "manual" });
    const location = response.headers.get("location");
    if (!REDIRECTS.has(response.status) || location === null) return response;
    await response.body?.cancel();
    if (hop >= MAX_REDIRECTS) throw new Phi4Error("DOWNLOAD_FAILED", `${url}: more than ${MAX_REDIRECTS} redirects`);
    current = new URL(location, current).href;
  }
}
