/**
 * The server's routes and the small ones' handlers: count_tokens, the model list, health and
 * metrics. POST /v1/messages and POST /v1/chat/completions have their own modules. Paths are matched
 * without the query string (Claude Code calls `/v1/messages?beta=true`), and HEAD requests as GET ones.
 */
import { Phi4Error } from "../engine/errors.js";
import { ApiError } from "./errors.js";
import type { Exchange, ServerState } from "./exchange.js";
import { readJson, sendJson } from "./http-io.js";
import { postChatCompletions } from "./chat-completions.js";
import { postMessages } from "./messages.js";
import { modelBody, modelsBody, openAIErrorBody, sharedErrorBody } from "./openai-shape.js";
import { PROMETHEUS_CONTENT_TYPE } from "./prometheus.js";
import { parseCountTokensBody } from "./request-schema.js";

export interface Route {
  method: string;
  /** The metrics label, and the path (":id" matches one segment). */
  path: string;
  handle: (x: Exchange, state: ServerState) => Promise<void> | void;
  /** The body of its error responses, when they are not in the Messages API's shape. */
  errorBody?: (error: ApiError, cause: unknown, x: Exchange) => unknown;
}

/** The error body of the routes both APIs share. */
const sharedErrors = (error: ApiError, cause: unknown, x: Exchange) => sharedErrorBody(error, cause, x.requestId, x.req);

const ROUTES: Route[] = [
  { method: "POST", path: "/v1/messages", handle: postMessages },
  { method: "POST", path: "/v1/messages/count_tokens", handle: countTokens },
  { method: "POST", path: "/v1/chat/completions", handle: postChatCompletions, errorBody: openAIErrorBody },
  { method: "GET", path: "/v1/models", handle: (x, state) => sendJson(x.res, 200, modelsBody(x.req, state.models)), errorBody: sharedErrors },
  { method: "GET", path: "/v1/models/:id", handle: getModel, errorBody: sharedErrors },
  { method: "GET", path: "/health", handle: health },
  // Claude Code sends HEAD / before its first request (a connection check): the root answers as /health.
  { method: "GET", path: "/", handle: health },
  { method: "GET", path: "/metrics", handle: metrics },
];

/** The route for a request, with its captured segment. HEAD is answered as GET, without the body (node:http drops it). */
export function matchRoute(method: string | undefined, pathname: string): { route: Route; param?: string } | undefined {
  const wanted = method === "HEAD" ? "GET" : method;
  for (const route of ROUTES) {
    if (route.method !== wanted) continue;
    if (route.path === pathname) return { route };
    const prefix = route.path.endsWith("/:id") ? route.path.slice(0, -"/:id".length) + "/" : undefined;
    if (prefix && pathname.startsWith(prefix) && pathname.length > prefix.length && !pathname.slice(prefix.length).includes("/")) {
      return { route, param: pathname.slice(prefix.length) };
    }
  }
  return undefined;
}

async function countTokens(x: Exchange, state: ServerState): Promise<void> {
  const request = parseCountTokensBody(await readJson(x.req, state.maxBodyBytes));
  const limit = state.maxCountTokens;
  // Tokenized off the event loop: other requests (health checks too) are served meanwhile.
  const tokens = await state.renderer.promptTokensAsync(request, { maxTokens: limit }).catch((error: unknown) => {
    if (error instanceof Phi4Error && error.code === "CAPACITY_EXCEEDED")
      throw new ApiError("invalid_request_error", `prompt is too long: more than ${limit} tokens (the most count_tokens counts)`);
    throw error;
  });
  x.usage = { input_tokens: tokens.length };
  sendJson(x.res, 200, { input_tokens: tokens.length });
}

function health(x: Exchange, state: ServerState): void {
  sendJson(x.res, 200, { status: "ok", model: state.localId, queue_depth: state.provider.queueDepth ?? null });
}

function getModel(x: Exchange, state: ServerState): void {
  const model = state.models.find((m) => m.id === x.param);
  if (!model) throw new ApiError("not_found_error", `model: ${x.param} (this server lists ${state.models.map((m) => m.id).join(", ")})`);
  sendJson(x.res, 200, modelBody(x.req, model));
}

function metrics(x: Exchange, state: ServerState): void {
  const text = state.metrics.render();
  x.res.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE, "content-length": Buffer.byteLength(text) });
  x.res.end(text);
}
