/**
 * Claude Code's billing-header system block (its hex digits change per session) is left out of the
 * local prompt: two sessions that differ only there share the prefill of everything after it, and
 * count_tokens counts what the model reads, and a restarted server gives a new session that prefix
 * from the disk tier. With keepClientMetadata the block stays in.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import { commonPrefixLength } from "../lib/engine/prefix-cache.js";
import { isClientMetadata, withoutClientMetadata } from "../lib/providers/client-metadata.js";
import { LocalProvider } from "../lib/providers/local.js";
import type { MessageRequest } from "../lib/messages/types.js";
import { startServer, type Phi4Server } from "../lib/server/index.js";

const models = inject("models");
let model: Model;
let server: Phi4Server;

beforeAll(async () => {
  model = await loadModel(models.tinyPhi4, { threads: 1, prefixCache: { minTokens: 4 } });
  server = await startServer({ model, port: 0, maxConcurrency: 2 });
});
afterAll(async () => {
  await server?.close();
  await model?.dispose();
});

const SYSTEM = "You are a Claude agent. Answer in one short sentence. Read a file before you edit it, and never delete files you did not create.";

/** A Claude Code-shaped request: the billing block first, then the system prompt, then the question. */
function session(hash: string, question: string): MessageRequest {
  return {
    model: "claude-sonnet-4-5",
    max_tokens: 4,
    temperature: 0,
    system: [
      { type: "text", text: `x-anthropic-billing-header: cc_version=2.1.197.${hash}; cc_entrypoint=cli;` },
      { type: "text", text: SYSTEM, cache_control: { type: "ephemeral" } },
    ],
    messages: [{ role: "user", content: question }],
  };
}

async function post(route: string, body: object): Promise<Response> {
  return fetch(`${server.url}${route}`, {
    method: "POST",
    headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify(body),
  });
}

describe("client metadata", () => {
  it("recognizes the billing block only, and leaves a request without one as it is", () => {
    expect(isClientMetadata("x-anthropic-billing-header: cc_version=2.1.197.a3f; cc_entrypoint=sdk-ts;")).toBe(true);
    expect(isClientMetadata("You are Claude Code. x-anthropic-billing-header: is a header.")).toBe(false);
    const plain: MessageRequest = {
      max_tokens: 1,
      system: "x-anthropic-billing-header: kept in a string system prompt",
      messages: [{ role: "user", content: "hi" }],
    };
    expect(withoutClientMetadata(plain)).toBe(plain);
    expect(withoutClientMetadata(session("abc", "hi")).system).toEqual([session("abc", "hi").system![1]]);
  });

  it("two sessions whose billing hash differs share the prefix: the second prefills its new tokens only", async () => {
    const provider = new LocalProvider(model);
    const first = session("a1f", "What is in this folder?");
    const second = session("9c0", "Which files changed today?");
    const [a, b] = [provider.promptTokens(first), provider.promptTokens(second)];
    const shared = commonPrefixLength(a, b);
    // The system prompt is shared; kept, the block makes the prompts part at its hash, before the system prompt.
    const kept = new LocalProvider(model, { keepClientMetadata: true });
    const [keptA, keptB] = [kept.promptTokens(first), kept.promptTokens(second)];
    const systemTokens = model.tokenizer.encode(SYSTEM).length;
    expect(keptB.length - commonPrefixLength(keptA, keptB)).toBeGreaterThan(b.length - shared + systemTokens - 2);

    expect((await post("/v1/messages", first)).status).toBe(200);
    const before = model.prefixCache!.stats;
    const res = await post("/v1/messages", second);
    expect(res.status).toBe(200);
    const after = model.prefixCache!.stats;
    expect(after.prefilledTokens - before.prefilledTokens).toBe(b.length - shared);
    expect(after.reusedTokens - before.reusedTokens).toBe(shared);
  });

  it("a restarted server (a new model on the same cache directory) gives a new session the shared prefix from disk", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "phi4-client-metadata-"));
    const serveOnce = async (request: MessageRequest) => {
      const fresh = await loadModel(models.tinyPhi4, { threads: 1, prefixCacheDisk: { dir, minTokens: 16 } });
      const restarted = await startServer({ model: fresh, port: 0 });
      try {
        const res = await fetch(`${restarted.url}/v1/messages`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(request),
        });
        expect(res.status).toBe(200);
        await fresh.prefixDisk!.flush();
        return { cache: fresh.prefixCache!.stats, disk: fresh.prefixDisk!.stats };
      } finally {
        await restarted.close();
        await fresh.dispose();
      }
    };
    try {
      const first = session("b20", "What is in this folder?");
      const second = session("f7d", "Which files changed today?");
      const provider = new LocalProvider(model);
      const [a, b] = [provider.promptTokens(first), provider.promptTokens(second)];
      const shared = commonPrefixLength(a, b);
      expect((await serveOnce(first)).disk.writes).toBe(1);
      const after = await serveOnce(second);
      expect(after.disk.hits).toBe(1);
      expect(after.cache.reusedTokens).toBe(shared);
      expect(after.cache.prefilledTokens).toBe(b.length - shared);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("count_tokens counts the prompt without the block, and with it when the server keeps it", async () => {
    const count = async (base: string, body: object) => {
      const res = await fetch(`${base}/v1/messages/count_tokens`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return ((await res.json()) as { input_tokens: number }).input_tokens;
    };
    const withBlock = session("123", "hi");
    const withoutBlock = { ...withBlock, system: withBlock.system!.slice(1) };
    expect(await count(server.url, withBlock)).toBe(await count(server.url, withoutBlock));
    const keeping = await startServer({ model, port: 0, keepClientMetadata: true });
    try {
      expect(await count(keeping.url, withBlock)).toBeGreaterThan(await count(keeping.url, withoutBlock));
    } finally {
      await keeping.close();
    }
  });
});
