/**
 * OpenAI's shapes for the answers that are not chat completions: errors, `{"error": {"message",
 * "type", "param", "code"}}` with the same statuses as the Messages API's, and the model list. The
 * routes both APIs share (GET /v1/models and /v1/models/{id}) pick their shape by one rule: a request
 * with an `anthropic-version` header (every Anthropic SDK and Claude Code send one; Anthropic's API
 * requires it) gets the Anthropic shape; any other gets a body in both shapes at once (OpenAI's
 * fields beside Anthropic's), which OpenAI's SDKs and plain HTTP clients read alike.
 */
import type { IncomingMessage } from "node:http";

import { ProviderError } from "../providers/errors.js";
import type { ApiError, ApiErrorType } from "./errors.js";
import { modelList, type ModelInfo } from "./model-names.js";

/** OpenAI's error codes for the cases it has one for. */
const CODES: Partial<Record<ApiErrorType, string>> = {
  authentication_error: "invalid_api_key",
  not_found_error: "not_found",
  request_too_large: "request_too_large",
  rate_limit_error: "rate_limit_exceeded",
  overloaded_error: "overloaded",
};

export function openAIErrorBody(error: ApiError, cause: unknown) {
  const code = cause instanceof ProviderError && cause.kind === "context_exceeded" ? "context_length_exceeded" : (CODES[error.type] ?? null);
  return { error: { message: error.message, type: error.type, param: error.param ?? null, code } };
}

export const speaksAnthropic = (req: IncomingMessage) => req.headers["anthropic-version"] !== undefined;

/** A model in both shapes: Anthropic's type, display_name, created_at; OpenAI's object, created, owned_by. */
export const bothShapesModel = (model: ModelInfo) => ({
  ...model,
  object: "model" as const,
  created: Math.floor(Date.parse(model.created_at) / 1000),
  owned_by: "phi4-onnx",
});

export function modelsBody(req: IncomingMessage, models: ModelInfo[]) {
  return speaksAnthropic(req) ? modelList(models) : { object: "list" as const, ...modelList(models.map(bothShapesModel)) };
}

export function modelBody(req: IncomingMessage, model: ModelInfo) {
  return speaksAnthropic(req) ? model : bothShapesModel(model);
}

/** An error of the shared routes: Anthropic's shape, with OpenAI's param and code beside type and message unless the client speaks Anthropic. */
export function sharedErrorBody(error: ApiError, cause: unknown, requestId: string, req: IncomingMessage) {
  const anthropic = error.body(requestId);
  return speaksAnthropic(req) ? anthropic : { ...anthropic, error: { ...anthropic.error, ...openAIErrorBody(error, cause).error } };
}
