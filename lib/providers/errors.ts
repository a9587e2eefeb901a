/**
 * The error every provider throws: a stable `kind` the router and callers branch on, whatever the
 * backend's own error looked like (SDK error classes, HTTP statuses, engine codes).
 */
export type ProviderErrorKind =
  /** The backend answered with an HTTP error status (`status` holds it). */
  | "http"
  /** No answer in time. */
  | "timeout"
  /** The backend could not be reached. */
  | "network"
  /** The caller's signal aborted the call. */
  | "aborted"
  /** The request does not fit the backend's context. */
  | "context_exceeded"
  /** The request uses something this backend cannot do. */
  | "unsupported"
  /** The request itself is wrong (a tool_choice naming no tool, ...). */
  | "invalid_request"
  /** Too many requests are already waiting. */
  | "overloaded"
  /** The backend answered with something that is not a valid response. */
  | "invalid_response"
  /** The model's answer failed validation even after the backend's own retries (a tool call that never became valid). */
  | "invalid_output"
  /** The backend itself failed (engine error). */
  | "internal";

export class ProviderError extends Error {
  override readonly name = "ProviderError";
  /** The HTTP status, for kind "http". */
  readonly status: number | undefined;

  constructor(
    readonly provider: string,
    readonly kind: ProviderErrorKind,
    message: string,
    options: { status?: number; cause?: unknown } = {},
  ) {
    super(`${provider}: ${message}`, { cause: options.cause });
    this.status = options.status;
  }
}
