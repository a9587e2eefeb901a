/**
 * Claude, as far as the wire is concerned: POST /v1/messages answered in the Messages API format,
 * a JSON message or (for "stream": true) server-sent events with an `event:` line on each, in the
 * documented order (message_start, then per block content_block_start / deltas / content_block_stop,
 * message_delta with cumulative usage, message_stop, plus a ping), tool_use inputs streamed as
 * input_json_delta fragments, and errors in the `{"type":"error","error":{...}}` shape.
 */
import type { ServerResponse } from "node:http";

import { delay, ScriptedServer, type RecordedRequest } from "./scripted-server.js";

export type MockBlock = { type: "text"; text: string } | { type: "tool_use"; name: string; input: Record<string, unknown>; id?: string };

export type AnthropicReply =
  | { blocks: MockBlock[]; stopReason?: "end_turn" | "max_tokens" | "stop_sequence" | "tool_use"; delayMs?: number }
  | { status: number; errorType: string; message: string; delayMs?: number };

export type MockAnthropic = ScriptedServer<AnthropicReply>;

export function startMockAnthropic(): Promise<MockAnthropic> {
  return ScriptedServer.start<AnthropicReply>(answer);
}

/** A tool_use reply (stop reason tool_use) calling each tool in turn. */
export const toolUse = (...calls: { name: string; input: Record<string, unknown> }[]): AnthropicReply => ({
  blocks: calls.map((c) => ({ type: "tool_use", ...c })),
  stopReason: "tool_use",
});

export const text = (value: string): AnthropicReply => ({ blocks: [{ type: "text", text: value }] });

let ids = 0;

async function answer(reply: AnthropicReply | undefined, request: RecordedRequest, res: ServerResponse): Promise<void> {
  if (request.method !== "POST" || request.path !== "/v1/messages") return sendError(res, 404, "not_found_error", `no route ${request.method} ${request.path}`);
  if (!request.headers["x-api-key"] && !request.headers.authorization) return sendError(res, 401, "authentication_error", "no API key");
  if (!reply) return sendError(res, 500, "api_error", "the test scripted no reply for this request");
  if (reply.delayMs) await delay(reply.delayMs, res);
  if (res.destroyed) return;
  if ("status" in reply) return sendError(res, reply.status, reply.errorType, reply.message);

  const content = reply.blocks.map((b) =>
    b.type === "text" ? b : { type: "tool_use" as const, id: b.id ?? `toolu_mock${++ids}`, name: b.name, input: b.input },
  );
  const stopReason = reply.stopReason ?? (content.some((b) => b.type === "tool_use") ? "tool_use" : "end_turn");
  const usage = { input_tokens: Math.ceil(JSON.stringify(request.body.messages).length / 4), output_tokens: Math.ceil(JSON.stringify(content).length / 4) };
  const message = { id: `msg_mock${++ids}`, type: "message", role: "assistant", model: request.body.model, stop_sequence: null };
  if (!request.body.stream) {
    res.writeHead(200, { "content-type": "application/json", "request-id": `req_${ids}` });
    res.end(JSON.stringify({ ...message, content, stop_reason: stopReason, usage }));
    return;
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "request-id": `req_${ids}` });
  const send = (event: string, data: object) => res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`);
  send("message_start", { message: { ...message, content: [], stop_reason: null, usage: { input_tokens: usage.input_tokens, output_tokens: 1 } } });
  send("ping", {});
  content.forEach((block, index) => {
    if (block.type === "text") {
      send("content_block_start", { index, content_block: { type: "text", text: "" } });
      // Two deltas, so a client must concatenate.
      const half = Math.ceil(block.text.length / 2);
      for (const part of [block.text.slice(0, half), block.text.slice(half)]) send("content_block_delta", { index, delta: { type: "text_delta", text: part } });
    } else {
      send("content_block_start", { index, content_block: { type: "tool_use", id: block.id, name: block.name, input: {} } });
      const json = JSON.stringify(block.input);
      const cut = Math.floor(json.length / 2);
      for (const part of [json.slice(0, cut), json.slice(cut)]) send("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: part } });
    }
    send("content_block_stop", { index });
  });
  send("message_delta", { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
  send("message_stop", {});
  res.end();
}

function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ type: "error", error: { type, message } }));
}
