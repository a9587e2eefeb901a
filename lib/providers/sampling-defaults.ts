/**
 * Sampling for requests that leave it unsaid. The Messages API samples at temperature 1.0 when a
 * request sends none (and OpenAI's chat completions do too), so a server follows that by default;
 * a server started with other defaults uses those instead. Fields a request sends always win.
 */
import { Phi4Error } from "../engine/errors.js";
import type { MessageRequest } from "../messages/types.js";

/** The request's sampling fields, by their wire names. */
export type RequestSampling = Pick<MessageRequest, "temperature" | "top_p" | "top_k">;

/** What the Messages API does with a request that sends no sampling fields. */
export const MESSAGES_API_SAMPLING: Readonly<RequestSampling> = { temperature: 1 };

/** `request`'s sampling fields, each from `defaults` where the request has none. */
export function withDefaults(request: MessageRequest, defaults: RequestSampling | undefined): RequestSampling {
  return {
    temperature: request.temperature ?? defaults?.temperature,
    top_p: request.top_p ?? defaults?.top_p,
    top_k: request.top_k ?? defaults?.top_k,
  };
}

/** Defaults in the ranges a request may send (the Messages API's), or INVALID_ARGUMENT naming the field. */
export function checkSamplingDefaults(defaults: RequestSampling): RequestSampling {
  const { temperature, top_p, top_k } = defaults;
  if (temperature !== undefined && !(temperature >= 0 && temperature <= 1))
    throw new Phi4Error("INVALID_ARGUMENT", `the default temperature must be between 0 and 1 (got ${temperature})`);
  if (top_p !== undefined && !(top_p > 0 && top_p <= 1))
    throw new Phi4Error("INVALID_ARGUMENT", `the default top_p must be above 0 and at most 1 (got ${top_p})`);
  if (top_k !== undefined && !(Number.isInteger(top_k) && top_k >= 0))
    throw new Phi4Error("INVALID_ARGUMENT", `the default top_k must be a non-negative integer (got ${top_k})`);
  return defaults;
}
