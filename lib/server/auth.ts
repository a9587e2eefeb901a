/**
 * The API key check: `x-api-key` (the Anthropic SDKs, ANTHROPIC_API_KEY) or `Authorization: Bearer`
 * (ANTHROPIC_AUTH_TOKEN, gateways). Keys are compared as SHA-256 digests with timingSafeEqual: equal
 * lengths for any input, and no early exit that would tell an attacker how much of a guess was right.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

import { Phi4Error } from "../engine/errors.js";
import { ApiError } from "./errors.js";

export function apiKeyCheck(expected: string): (headers: IncomingHttpHeaders) => void {
  // An empty key would be matched by an empty header: a server with no key at all, but looking locked.
  if (expected.trim() === "") throw new Phi4Error("INVALID_ARGUMENT", "the API key is empty: give a real key, or none to serve without one");
  const want = digest(expected);
  return (headers) => {
    const bearer = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? "")?.[1];
    // Clients with both ANTHROPIC_API_KEY and ANTHROPIC_AUTH_TOKEN set send both headers: either may hold the key.
    const given = [headerValue(headers["x-api-key"]), bearer].filter((key) => key !== undefined);
    if (given.length === 0) throw new ApiError("authentication_error", "this server needs an API key: send it as x-api-key or Authorization: Bearer");
    if (!given.some((key) => timingSafeEqual(digest(key), want))) throw new ApiError("authentication_error", "invalid API key");
  };
}

const digest = (key: string) => createHash("sha256").update(key).digest();
const headerValue = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);
