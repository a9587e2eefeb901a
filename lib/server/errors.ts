/**
 * Errors as the Messages API reports them: an HTTP status and `{"type":"error","error":{type,message}}`.
 * Everything thrown while serving a request is mapped here, so clients (the official SDKs, Claude
 * Code) see the error classes and retry behaviour they expect: 529 for an overloaded engine (retried
 * with backoff), 400 for a request this server can never answer (not retried).
 */
import { Phi4Error } from "../engine/errors.js";
import { ProviderError } from "../providers/errors.js";
import { RouterError } from "../router/router.js";

export type ApiErrorType =
  "invalid_request_error" | "authentication_error" | "not_found_error" | "request_too_large" | "rate_limit_error" | "api_error" | "overloaded_error";

const STATUS: Record<ApiErrorType, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  overloaded_error: 529,
};

export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly status: number;

  constructor(
    readonly type: ApiErrorType,
    message: string,
    /** The request field at fault, when one is (OpenAI's error shape names it as `param`). */
    readonly param?: string,
  ) {
    super(message);
    this.status = STATUS[type];
  }

  body(requestId: string) {
    return { type: "error", error: { type: this.type, message: this.message }, request_id: requestId };
  }
}

/**
 * What to report for `error`, thrown under `signal`: when the server itself aborted the request (a
 * shutdown, its reason an ApiError), that reason rather than the provider's "aborted".
 */
export function failureOf(error: unknown, signal: AbortSignal): unknown {
  return signal.aborted && signal.reason instanceof ApiError ? signal.reason : error;
}

/** The API error for anything a handler threw. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof ProviderError) return new ApiError(providerErrorType(error), error.message);
  // Every candidate failed; with no attempt at all, no configured provider may take this request.
  if (error instanceof RouterError)
    return new ApiError(error.attempts.length === 0 ? "invalid_request_error" : "api_error", `no provider could answer: ${error.message}`);
  if (error instanceof Phi4Error) return new ApiError(engineErrorType(error), `${error.code}: ${error.message}`);
  return new ApiError("api_error", (error as Error)?.message ?? String(error));
}

function providerErrorType(error: ProviderError): ApiErrorType {
  switch (error.kind) {
    case "context_exceeded":
    case "unsupported":
    case "invalid_request":
      return "invalid_request_error";
    case "overloaded":
      return "overloaded_error";
    case "http":
      // An upstream's rate limit or overload is the client's to back off from; its other failures are ours.
      if (error.status === 429) return "rate_limit_error";
      if (error.status === 529 || error.status === 503) return "overloaded_error";
      if (error.status === 413) return "request_too_large";
      if (error.status === 400) return "invalid_request_error";
      return "api_error";
    default:
      return "api_error";
  }
}

function engineErrorType(error: Phi4Error): ApiErrorType {
  switch (error.code) {
    case "OVERLOADED":
      return "overloaded_error";
    case "INVALID_ARGUMENT":
    case "CAPACITY_EXCEEDED":
      return "invalid_request_error";
    default:
      return "api_error";
  }
}
