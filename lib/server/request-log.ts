/**
 * The server's log: one JSON object per line (time, level, msg, then fields), so that log shippers
 * and `jq` read it as is. An access line for every request (method, path, status, duration, tokens,
 * request id) and, for a failure, a line with the error's code at `warn` (4xx) or `error` (5xx, and
 * errors in a stream that had already started).
 */
import type { Writable } from "node:stream";

import { Phi4Error } from "../engine/errors.js";
import { ProviderError } from "../providers/errors.js";
import { ApiError } from "./errors.js";

export const LOG_LEVELS = ["silent", "error", "warn", "info", "debug"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogEntryLevel = Exclude<LogLevel, "silent">;

export interface Logger {
  log(level: LogEntryLevel, msg: string, fields?: Record<string, unknown>): void;
}

/** Writes entries at `level` and more severe ones to `stream` (default stderr). */
export function jsonLogger(level: LogLevel = "info", stream: Writable = process.stderr): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  return {
    log(entryLevel, msg, fields = {}) {
      if (threshold === 0 || LOG_LEVELS.indexOf(entryLevel) > threshold) return;
      stream.write(`${JSON.stringify({ time: new Date().toISOString(), level: entryLevel, msg, ...fields })}\n`);
    },
  };
}

export const silentLogger: Logger = { log: () => undefined };

/** The stable code of an error for logs: an engine code, a provider error kind, or the API error type. */
export function errorCode(error: unknown): string {
  if (error instanceof Phi4Error) return error.code;
  if (error instanceof ProviderError) {
    const cause = error.cause instanceof Phi4Error ? `:${error.cause.code}` : "";
    return `provider_${error.kind}${cause}`;
  }
  if (error instanceof ApiError) return error.type;
  return (error as { code?: unknown })?.code?.toString() ?? "internal";
}
