/**
 * The server under load and interruption, driven by the official SDK: clients that abort mid-stream
 * or while queued free their slots (seen through /metrics), 16 concurrent streaming clients share the
 * batched engine without errors or unbounded memory, and a shutdown ends in-flight streams cleanly.
 */
import Anthropic, { APIError, APIUserAbortError } from "@anthropic-ai/sdk";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import { startServer, type Phi4Server } from "../lib/server/index.js";
import { metric } from "./helpers/server-metrics.js";
import { until } from "./helpers/until.js";

const models = inject("models");
let model: Model;
const servers: Phi4Server[] = [];

beforeAll(async () => {
  model = await loadModel(models.tinyPhi4, { threads: 1 });
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close({ graceMs: 0 })));
  await model?.dispose();
});

async function serve(maxConcurrency: number) {
  const server = await startServer({ model, port: 0, maxConcurrency });
  servers.push(server);
  return { server, client: new Anthropic({ baseURL: server.url, apiKey: "unused", maxRetries: 0 }) };
}

/** A stream that runs long (sampled, so no early end-of-turn), resolved once its first text arrived. */
async function longStream(client: Anthropic) {
  const stream = client.messages.stream({ model: "any", max_tokens: 200, temperature: 1, messages: [{ role: "user", content: "Tell me a long story" }] });
  const settled = stream.finalMessage().catch((error: unknown) => error);
  await new Promise((resolve) => stream.once("text", resolve));
  return { stream, settled };
}

const SYSTEM = "You are a terse assistant. Answer in one short sentence, in plain English, with no lists, no markdown and no preamble.";

describe("server under load", () => {
  it("a client that aborts mid-stream, or while queued, stops its request and frees its slot", async () => {
    const { server, client } = await serve(1);
    const running = await longStream(client);
    const queued = client.messages.stream({ model: "any", max_tokens: 4, messages: [{ role: "user", content: "Hi" }] });
    const queuedSettled = queued.finalMessage().catch((error: unknown) => error);
    await until(async () => (await metric(server, "phi4_queue_depth")) === 2, "the second request to wait");

    queued.abort();
    expect(await queuedSettled).toBeInstanceOf(APIUserAbortError);
    await until(async () => (await metric(server, "phi4_queue_depth")) === 1, "the queued request to leave the queue");

    running.stream.abort();
    expect(await running.settled).toBeInstanceOf(APIUserAbortError);
    await until(
      async () => (await metric(server, "phi4_queue_depth")) === 0 && (await metric(server, 'phi4_requests_in_flight{route="/v1/messages"}')) === 0,
      "the running request's slot to be freed",
    );
    expect(await metric(server, 'phi4_requests_total{route="/v1/messages",status="499"}')).toBe(2);
    // The one slot serves the next request.
    expect((await client.messages.create({ model: "any", max_tokens: 4, messages: [{ role: "user", content: "Hi" }] })).type).toBe("message");
  });

  it("serves 16 concurrent streaming clients through the batched engine, with no errors and bounded memory", async () => {
    const { server, client } = await serve(4);
    const ask = (i: number) =>
      client.messages
        .stream({ model: "claude-sonnet-5", max_tokens: 12, system: SYSTEM, messages: [{ role: "user", content: `Question number ${i}?` }] })
        .finalMessage();
    await ask(-1); // the engine context and first allocations
    const rssBefore = process.memoryUsage().rss;
    const all = Promise.all(Array.from({ length: 16 }, (_, i) => ask(i)));
    all.catch(() => undefined); // awaited below; a failure must not go unhandled while the queue is watched
    // Requests queue beyond the 4 generating at once.
    await until(async () => (await metric(server, "phi4_queue_depth")) > 4, "more than 4 requests in the queue");
    const messages = await all;

    for (const message of messages) {
      expect(message.content[0].type).toBe("text");
      expect(message.usage.output_tokens).toBeGreaterThan(0);
    }
    expect(await metric(server, 'phi4_requests_total{route="/v1/messages",status="200"}')).toBe(17);
    expect(await metric(server, "phi4_queue_depth")).toBe(0);
    // The shared system prompt is prefilled once, then reused.
    expect(await metric(server, "phi4_prefix_cache_hits_total")).toBeGreaterThan(0);
    const growthMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    expect(growthMiB).toBeLessThan(100);
  });

  it("a shutdown ends in-flight streams with a retryable overloaded_error and stops listening", async () => {
    const { server, client } = await serve(1);
    const running = await longStream(client);
    await server.close({ graceMs: 50 });
    const error = await running.settled;
    expect(error).toBeInstanceOf(APIError);
    expect(error).toMatchObject({ type: "overloaded_error" });
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
  });
});
