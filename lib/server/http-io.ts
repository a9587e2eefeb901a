/** Reading a request body under a size limit, and writing JSON answers and API errors. */
import type { IncomingMessage, ServerResponse } from "node:http";

import { ApiError, toApiError } from "./errors.js";

/**
 * The body parsed as JSON. A body over `limit` bytes is refused as soon as that is known (from
 * Content-Length, or while reading), without buffering the rest: the remainder is drained unread so
 * the client, still sending, can read the 413.
 */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const tooLarge = (size: string) => new ApiError("request_too_large", `the request body is ${size}; this server takes at most ${limit} bytes`);
  const declared = Number(req.headers["content-length"]);
  if (declared > limit) {
    req.resume();
    throw tooLarge(`${declared} bytes`);
  }
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Still flowing without a listener: the rest is read and dropped.
        req.off("data", onData);
        reject(tooLarge(`over ${limit} bytes`));
      } else chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => resolve(Buffer.concat(chunks)));
    req.once("error", reject);
    // A client that hangs up mid-body ends nothing; after "end" this rejects a settled promise, a no-op.
    req.once("close", () => reject(new ApiError("invalid_request_error", "the client closed the connection before sending the whole body")));
  });
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw new ApiError("invalid_request_error", `the request body is not valid JSON: ${(error as Error).message}`);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(json) });
  res.end(json);
}

/** An error response's body: the Messages API's shape unless the route speaks another API (OpenAI's). */
export type ErrorBody = (error: ApiError, cause: unknown, requestId: string) => unknown;

/** Writes `error` as an API error response (nothing, when the response has already started or the client left). */
export function sendError(res: ServerResponse, requestId: string, error: unknown, body: ErrorBody = (e) => e.body(requestId)): ApiError {
  const apiError = toApiError(error);
  if (!res.headersSent && !res.destroyed) sendJson(res, apiError.status, body(apiError, error, requestId));
  return apiError;
}
