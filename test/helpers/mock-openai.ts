/**
 * An OpenAI-compatible chat-completions server (what vLLM, llama.cpp server and Ollama expose):
 * POST /v1/chat/completions answered as a chat.completion object, or for "stream": true as
 * `data:` chunks (role, content pieces, tool_calls with argument fragments, finish_reason, a final
 * usage-only chunk when stream_options.include_usage) ending in `data: [DONE]`.
 */
import type { ServerResponse } from "node:http";

import { delay, ScriptedServer, type RecordedRequest } from "./scripted-server.js";

export type OpenAIReply =
  | { content?: string; toolCalls?: { name: string; arguments: string; id?: string }[]; finishReason?: string; delayMs?: number }
  | { status: number; message: string; delayMs?: number };

export type MockOpenAI = ScriptedServer<OpenAIReply>;

export function startMockOpenAI(): Promise<MockOpenAI> {
  return ScriptedServer.start<OpenAIReply>(answer);
}

let ids = 0;

async function answer(reply: OpenAIReply | undefined, request: RecordedRequest, res: ServerResponse): Promise<void> {
  if (request.method !== "POST" || request.path !== "/v1/chat/completions") return sendError(res, 404, `no route ${request.method} ${request.path}`);
  if (!reply) return sendError(res, 500, "the test scripted no reply for this request");
  if (reply.delayMs) await delay(reply.delayMs, res);
  if (res.destroyed) return;
  if ("status" in reply) return sendError(res, reply.status, reply.message);

  const id = `chatcmpl-${++ids}`;
  const model = request.body.model;
  const toolCalls = (reply.toolCalls ?? []).map((c, i) => ({
    id: c.id ?? `call_${ids}_${i}`,
    type: "function",
    function: { name: c.name, arguments: c.arguments },
  }));
  const finish = reply.finishReason ?? (toolCalls.length > 0 ? "tool_calls" : "stop");
  const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
  if (!request.body.stream) {
    res.writeHead(200, { "content-type": "application/json" });
    const message = { role: "assistant", content: reply.content ?? null, ...(toolCalls.length > 0 && { tool_calls: toolCalls }) };
    res.end(JSON.stringify({ id, object: "chat.completion", created: 0, model, choices: [{ index: 0, message, finish_reason: finish }], usage }));
    return;
  }
  res.writeHead(200, { "content-type": "text/event-stream" });
  const chunk = (choice: object | null, extra: object = {}) =>
    res.write(
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: 0, model, choices: choice ? [{ index: 0, ...choice }] : [], ...extra })}\n\n`,
    );
  chunk({ delta: { role: "assistant", content: "" }, finish_reason: null });
  const content = reply.content ?? "";
  for (const piece of [content.slice(0, 3), content.slice(3)]) if (piece) chunk({ delta: { content: piece }, finish_reason: null });
  toolCalls.forEach((call, index) => {
    chunk({ delta: { tool_calls: [{ index, id: call.id, type: "function", function: { name: call.function.name, arguments: "" } }] }, finish_reason: null });
    const cut = Math.floor(call.function.arguments.length / 2);
    for (const piece of [call.function.arguments.slice(0, cut), call.function.arguments.slice(cut)]) {
      chunk({ delta: { tool_calls: [{ index, function: { arguments: piece } }] }, finish_reason: null });
    }
  });
  chunk({ delta: {}, finish_reason: finish });
  if (request.body.stream_options?.include_usage) chunk(null, { usage });
  res.end("data: [DONE]\n\n");
}

function sendError(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { message, type: "server_error", code: status } }));
}
