/**
 * Tools sent with `defer_loading: true` (a client's tool search) stay out of the request the model
 * sees until a tool_reference in the conversation loads them, and cannot be forced before that.
 */
import { describe, expect, it } from "vitest";

import { ApiError } from "../lib/server/errors.js";
import { parseMessagesBody } from "../lib/server/request-schema.js";

const schema = { type: "object", properties: { q: { type: "string" } } };
const tools = [
  { name: "search_tools", description: "Find tools", input_schema: schema },
  { name: "web_fetch", description: "Fetch a URL", input_schema: schema, defer_loading: true },
];
const ask = { role: "user", content: "Fetch example.com" };

function parse(body: Record<string, unknown>) {
  return parseMessagesBody({ model: "m", max_tokens: 16, messages: [ask], tools, ...body }).request;
}

describe("deferred tools", () => {
  it("are left out until loaded", () => {
    expect(parse({}).tools?.map((t) => t.name)).toEqual(["search_tools"]);
  });

  it("a tool_reference in a tool result loads one; the reference reads as text", () => {
    const messages = [
      ask,
      { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "search_tools", input: { q: "fetch" } }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: [{ type: "tool_reference", tool_name: "web_fetch" }] }] },
    ];
    const request = parse({ messages, tool_choice: { type: "tool", name: "web_fetch" } });
    expect(request.tools?.map((t) => t.name)).toEqual(["search_tools", "web_fetch"]);
    expect(request.tool_choice).toEqual({ type: "tool", name: "web_fetch" });
    expect(request.messages[2].content).toEqual([{ type: "tool_result", tool_use_id: "t1", content: [{ type: "text", text: "Tool loaded: web_fetch" }] }]);
  });

  it("forcing one that is not loaded is a 400 that says why", () => {
    const forced = () => parse({ tool_choice: { type: "tool", name: "web_fetch" } });
    expect(forced).toThrow(ApiError);
    expect(forced).toThrow(/"web_fetch", which has defer_loading and is not loaded yet/);
  });

  it("forcing a tool when no tools are sent is a 400", () => {
    expect(() => parse({ tools: undefined, tool_choice: { type: "tool", name: "web_fetch" } })).toThrow(/"web_fetch", but no tools were sent/);
  });
});
