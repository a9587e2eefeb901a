/**
 * KV growth as users of the server and the CLI see it: with no capacity given, the local provider
 * takes prompts up to the model's context length; an answer that runs out of context (the capacity or
 * the KV memory budget) stops with model_context_window_exceeded, not max_tokens; a prompt beyond the
 * budget is a 400 invalid_request_error with the numbers, refused before any prefill; and phi4's
 * commands take --kv-memory.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import Anthropic from "@anthropic-ai/sdk";
import { beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import { makeModel } from "../lib/modelmaker/index.js";
import { LocalProvider } from "../lib/providers/local.js";
import { startServer, type Phi4Server } from "../lib/server/index.js";

const models = inject("models");
const run = promisify(execFile);
const bin = path.resolve("bin/phi4.js");
const hello = { model: "local", max_tokens: 200, temperature: 0, messages: [{ role: "user" as const, content: "Say hi" }] };

describe("KV growth at the API", () => {
  let bytesPerToken: number;
  beforeAll(async () => {
    const probe = await loadModel(models.tinyPhi4, { threads: 1 });
    bytesPerToken = probe.info.kvBytesPerToken;
    await probe.dispose();
  });

  /** A server on a model whose contexts may back `budgetTokens` positions of KV. */
  async function serve(budgetTokens: number, capacity?: number): Promise<{ model: Model; server: Phi4Server; client: Anthropic }> {
    const model = await loadModel(models.tinyPhi4, { threads: 1, kvMemory: budgetTokens * bytesPerToken });
    const server = await startServer({ model, port: 0, maxConcurrency: 2, capacity });
    return { model, server, client: new Anthropic({ baseURL: server.url, apiKey: "unused", maxRetries: 0 }) };
  }

  it("an answer that reaches the KV memory budget stops with model_context_window_exceeded, streamed or not", async () => {
    const { model, server, client } = await serve(48);
    try {
      const message = await client.messages.create(hello);
      expect(message.stop_reason).toBe("model_context_window_exceeded");
      // Every token but the last one sampled has its KV in the budget.
      expect(message.usage.input_tokens + message.usage.output_tokens).toBe(49);
      // The idle sequence keeps that KV (prefix reuse), and /metrics shows it against the budget.
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`^phi4_kv_memory_bytes ${48 * bytesPerToken}$`, "m"));
      expect(metrics).toMatch(new RegExp(`^phi4_kv_memory_budget_bytes ${48 * bytesPerToken}$`, "m"));
      // Again, streamed: the idle sequence's KV of the first answer makes room for this one.
      const stream = client.messages.stream(hello);
      const final = await stream.finalMessage();
      expect(final.stop_reason).toBe("model_context_window_exceeded");
      expect(final.content).toEqual(message.content);
    } finally {
      await server.close();
      await model.dispose();
    }
  });

  it("an answer that reaches the capacity stops with model_context_window_exceeded", async () => {
    const { model, server, client } = await serve(10_000, 40);
    try {
      const message = await client.messages.create(hello);
      expect(message.stop_reason).toBe("model_context_window_exceeded");
      expect(message.usage.input_tokens + message.usage.output_tokens).toBe(40);
      // Where max_tokens ends it first, it says so.
      const short = await client.messages.create({ ...hello, max_tokens: 3 });
      expect(short.stop_reason).toBe("max_tokens");
    } finally {
      await server.close();
      await model.dispose();
    }
  });

  it("a prompt beyond the KV memory budget is a 400 that names the budget, refused before any prefill", async () => {
    const { model, server, client } = await serve(30);
    try {
      const error = await client.messages.create({ ...hello, messages: [{ role: "user", content: "word ".repeat(40) }] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Anthropic.BadRequestError);
      const budgetKiB = (30 * bytesPerToken) / 1024;
      expect((error as Error).message).toMatch(
        new RegExp(
          `prompt is too long: (more than )?\\d+ tokens > 29 maximum \\((more than )?\\d+ over; the local KV memory budget of ${budgetKiB} KiB holds 30 tokens.*--kv-memory`,
        ),
      );
      expect(model.kvMemoryInUse).toBe(0);
    } finally {
      await server.close();
      await model.dispose();
    }
  });

  it("with no capacity given, the local provider takes prompts up to the context length (Phi-4-mini's 131072); a reservation too large is halved", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "phi4-kv-growth-"));
    try {
      await makeModel({ preset: "tiny-phi4-long", outDir: dir, seed: 4 });
      const model = await loadModel(dir, { threads: 1 });
      try {
        expect(model.contextLength).toBe(131072);
        const provider = new LocalProvider(model);
        expect(provider.contextTokens).toBe(131072);
        // A Claude Code-sized prompt (19k tokens) is accepted: the answer starts (message_start), and
        // the request is dropped before its long prefill finishes.
        const controller = new AbortController();
        const request = { ...hello, max_tokens: 1, messages: [{ role: "user" as const, content: "word ".repeat(19_000) }] };
        const events = provider.stream(request, { signal: controller.signal })[Symbol.asyncIterator]();
        const first = await events.next();
        expect(first.value).toMatchObject({ type: "message_start", message: { usage: { input_tokens: expect.any(Number) } } });
        expect((first.value as { message: { usage: { input_tokens: number } } }).message.usage.input_tokens).toBeGreaterThan(19_000);
        controller.abort();
        await events.return?.(undefined);
        await provider.close();

        // Address space is finite (128 TiB for a process on x86-64 Linux): a reservation the system
        // refuses is halved until it fits, and the context says what it got.
        const huge = await model.createContext({ sequences: 1 << 20 });
        expect(huge.capacity).toBeLessThan(model.contextLength);
        expect(Number.isInteger(Math.log2(model.contextLength / huge.capacity))).toBe(true);
        const logits = await huge.getSequence().evaluate([1, 2, 3]);
        expect(logits).toHaveLength(model.folder.vocabSize);
        await huge.dispose();
      } finally {
        await model.dispose();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("phi4 generate takes --kv-memory (a size) and stops at it; a bad size is a clear error; the help names it", async () => {
    const budget = `${(24 * bytesPerToken) / 1024}K`;
    const { stdout } = await run(process.execPath, [
      bin,
      "generate",
      "--model",
      models.tiny,
      "--tokens",
      "5,6,7,8",
      "--max-tokens",
      "100",
      "--greedy",
      "--kv-memory",
      budget,
      "--json",
    ]);
    const out = JSON.parse(stdout);
    expect(out.stopReason).toBe("kv_memory");
    expect(out.usage.promptTokens + out.usage.outputTokens).toBe(25);
    const bad = await run(process.execPath, [bin, "serve", "--model", models.tiny, "--kv-memory", "lots"]).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: expect.any(Number) });
    expect((bad as { stderr: string }).stderr).toMatch(/--kv-memory must be a size such as 8G/);
    for (const command of ["serve", "chat", "agent", "generate"]) {
      const help = await run(process.execPath, [bin, command, "--help"]).catch((e: { stdout: string; stderr: string }) => e);
      expect(`${help.stdout}${help.stderr}`).toMatch(/--kv-memory SIZE/);
    }
  });
});
