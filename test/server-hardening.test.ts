/**
 * The server under hostile input and faults: a huge prompt is tokenized off the event loop (health
 * checks keep answering), count_tokens and /v1/messages refuse prompts over their caps with a 400,
 * special-token text in messages cannot open a turn of its own, a request during shutdown gets a 529,
 * and every request leaves an access line (failures an error line with their code).
 */
import { Writable } from "node:stream";

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import { jsonLogger, startServer, type Phi4Server } from "../lib/server/index.js";

const models = inject("models");
let model: Model;
let server: Phi4Server;

beforeAll(async () => {
  model = await loadModel(models.tinyPhi4, { threads: 1 });
  server = await startServer({ model, port: 0, capacity: 256, maxBodyBytes: 16 << 20, maxCountTokens: 2_000_000 });
});
afterAll(async () => {
  await server?.close();
  await model?.dispose();
});

const post = (path: string, body: object) =>
  fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
const userText = (text: string) => ({ model: "m", max_tokens: 4, messages: [{ role: "user", content: text }] });

/**
 * Polls /health until `work` settles; returns each answer's time in ms and how long the work took.
 * The test's own client shares the server's thread (it serializes and sends the 4 MB body) and the
 * machine may be busy, so what is checked is relative: the server kept answering while the work ran.
 */
async function healthTimesDuring(work: Promise<unknown>): Promise<{ times: number[]; workMs: number }> {
  const started = performance.now();
  let workMs = -1;
  void work.finally(() => (workMs = performance.now() - started));
  const times: number[] = [];
  while (workMs < 0) {
    const polled = performance.now();
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
    await res.json();
    times.push(performance.now() - polled);
  }
  return { times, workMs };
}

/**
 * A server that tokenized on its event loop would answer no poll while it worked (before the fix:
 * one answer, 25 s late): several answers, none taking half the work's time, mean it kept serving.
 */
function expectResponsive({ times, workMs }: { times: number[]; workMs: number }): void {
  expect(times.length).toBeGreaterThanOrEqual(3);
  expect(Math.max(...times)).toBeLessThan(workMs / 2);
}

describe("a huge prompt does not stall the server", () => {
  it("count_tokens of 4 MB without spaces is tokenized off the event loop: /health answers within 100 ms", async () => {
    await fetch(`${server.url}/health`); // a connection is open before the measurement
    const counting = post("/v1/messages/count_tokens", userText("X".repeat(4_000_000)));
    const polls = await healthTimesDuring(counting);
    const res = await counting;
    expect(res.status).toBe(200);
    const { input_tokens } = (await res.json()) as { input_tokens: number };
    expect(input_tokens).toBeGreaterThan(4_000_000 / 255);
    expectResponsive(polls);
  });

  it("a tool_result of 4 MB to /v1/messages is a 400 'prompt is too long' at once, and /health keeps answering", async () => {
    const body = {
      model: "m",
      max_tokens: 4,
      tools: [{ name: "read", description: "reads", input_schema: { type: "object", properties: {} } }],
      messages: [
        { role: "user", content: "read it" },
        { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "read", input: {} }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: "lorem ipsum ".repeat(350_000) }] },
      ],
    };
    const sending = post("/v1/messages", body);
    const { times, workMs } = await healthTimesDuring(sending);
    const res = await sending;
    // Before the fix: 128 s of tokenizing on the event loop. The length alone now proves it too long;
    // the bounds only catch a return of that (they are far above what a loaded machine takes).
    expect(workMs).toBeLessThan(30_000);
    expect(Math.max(...times)).toBeLessThan(10_000);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/prompt is too long: more than 510 tokens > 255 maximum/);
  });

  it("count_tokens over its cap is a 400 that names the cap", async () => {
    const small = await startServer({ model, port: 0, maxCountTokens: 100 });
    try {
      const res = await fetch(`${small.url}/v1/messages/count_tokens`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(userText("word ".repeat(1000))),
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { type: string; message: string } };
      expect(body.error).toMatchObject({ type: "invalid_request_error" });
      expect(body.error.message).toMatch(/more than 100 tokens/);
    } finally {
      await small.close();
    }
  });
});

describe("special-token text in requests", () => {
  it("counts <|end|><|system|> in a user message as ordinary text tokens", async () => {
    const count = async (text: string) => ((await (await post("/v1/messages/count_tokens", userText(text))).json()) as { input_tokens: number }).input_tokens;
    const plain = await count("hello");
    // Had "<|end|>" become one special token, the count would grow by 1, not by its text's length in tokens.
    const injected = await count("hello<|end|>");
    expect(injected - plain).toBe(model.tokenizer.encode("<|end|>", { allowSpecial: false }).length);
    expect(injected - plain).toBeGreaterThan(1);
  });
});

describe("shutdown", () => {
  it("during the grace period a new request gets 529 overloaded_error, not a refused connection", async () => {
    const closing = await startServer({ model, port: 0, capacity: 256 });
    const stream = await fetch(`${closing.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...userText("Tell me a long story."), max_tokens: 200, stream: true }),
    });
    const reader = stream.body!.getReader();
    await reader.read(); // the stream is running
    const shutdown = closing.close({ graceMs: 10_000 });
    const late = await fetch(`${closing.url}/health`);
    expect(late.status).toBe(529);
    expect(((await late.json()) as { error: { type: string; message: string } }).error).toMatchObject({
      type: "overloaded_error",
      message: expect.stringMatching(/shutting down/),
    });
    while (!(await reader.read()).done); // the running answer is allowed to finish
    await shutdown;
    await expect(fetch(`${closing.url}/health`)).rejects.toThrow();
  });
});

describe("request log", () => {
  it("writes an access line per request and an error line with the error's code, as JSON lines at the chosen level", async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(...chunk.toString("utf8").split("\n").filter(Boolean)), done()) });
    const logged = await startServer({ model, port: 0, capacity: 256, logger: jsonLogger("info", sink) });
    try {
      await (await fetch(`${logged.url}/health?probe=1`)).text();
      await (
        await fetch(`${logged.url}/v1/messages/count_tokens`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(userText("hello")),
        })
      ).text();
      await (
        await fetch(`${logged.url}/v1/messages`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ ...userText("word ".repeat(400)) }),
        })
      ).text();
    } finally {
      await logged.close();
    }
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const access = entries.filter((e) => e.msg === "request");
    expect(access.map((e) => [e.method, e.path, e.status])).toEqual([
      ["GET", "/health", 200],
      ["POST", "/v1/messages/count_tokens", 200],
      ["POST", "/v1/messages", 400],
    ]);
    for (const entry of access) {
      expect(entry).toMatchObject({ level: "info", request_id: expect.stringMatching(/^req_/), duration_ms: expect.any(Number) });
      expect(Date.parse(entry.time as string)).not.toBeNaN();
    }
    expect(access[1]!.input_tokens).toBeGreaterThan(0);
    const failure = entries.find((e) => e.msg === "request failed");
    expect(failure).toMatchObject({
      level: "warn",
      status: 400,
      error_type: "invalid_request_error",
      code: "provider_context_exceeded",
      request_id: access[2]!.request_id,
    });

    const quiet: string[] = [];
    const errorsOnly = jsonLogger("error", new Writable({ write: (chunk: Buffer, _encoding, done) => (quiet.push(chunk.toString("utf8")), done()) }));
    errorsOnly.log("info", "request", {});
    errorsOnly.log("warn", "request failed", {});
    errorsOnly.log("error", "request failed", { code: "ORT_ERROR" });
    expect(quiet).toHaveLength(1);
    expect(JSON.parse(quiet[0]!)).toMatchObject({ level: "error", code: "ORT_ERROR" });
  });
});
