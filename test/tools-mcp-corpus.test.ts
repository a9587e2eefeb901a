/**
 * The constraint on the tools of the reference MCP servers (everything, filesystem, memory), as they
 * list them: random walks over the Phi-4 vocabulary, forced to each tool, give calls that validate
 * under ajv with ajv-formats. (Random tokens, not a model: the tiny test model's 256-token context
 * cannot hold some of these schemas in a prompt.)
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import { McpServerConnection } from "../lib/mcp/connection.js";
import { callOpening } from "../lib/tools/choice.js";
import { createToolConstraint } from "../lib/tools/constraint/tool-constraint.js";
import { Vocabulary } from "../lib/tools/constraint/vocabulary.js";
import { addFormats } from "../lib/tools/formats.js";
import type { McpTool } from "../lib/tools/types.js";
import { everythingServer, filesystemServer, memoryServer } from "./helpers/mcp-servers.js";

const models = inject("models");
const CLOSE = 200026;
const BUDGET = 160;

/** Numerical Recipes LCG in [0, 1): the same walks on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

const allowed = (bits: Uint8Array | null, id: number) => bits === null || (bits[id >> 3] & (1 << (id & 7))) !== 0;

describe("forced calls to the reference MCP servers' tools", () => {
  let model: Model;
  let vocabulary: Vocabulary;
  let dir: string;
  const tools: McpTool[] = [];
  const connections: McpServerConnection[] = [];

  beforeAll(async () => {
    model = await loadModel(models.tinyPhi4);
    vocabulary = await Vocabulary.forModel(model);
    dir = await mkdtemp(path.join(os.tmpdir(), "phi4-mcp-corpus-"));
    const configs = { everything: everythingServer(), filesystem: filesystemServer(dir), memory: memoryServer(path.join(dir, "memory.json")) };
    for (const [name, config] of Object.entries(configs)) {
      const connection = new McpServerConnection(name, config, 30_000);
      connections.push(connection);
      tools.push(...(await connection.listTools()));
    }
  });
  afterAll(async () => {
    for (const connection of connections) await connection.close();
    await model?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("every tool: random walks give calls that validate", async () => {
    expect(tools.length).toBeGreaterThan(20);
    const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
    const failures: string[] = [];
    for (const tool of tools) {
      const validate = ajv.compile(tool.inputSchema);
      const prefix = `[${callOpening(tool.name)}`;
      for (let seed = 1; seed <= 2; seed++) {
        const constraint = await createToolConstraint(model, [tool], { mode: "call", budget: BUDGET, prefix, maxStringLength: 12, maxWhitespace: 1 });
        const rand = random(seed);
        const bytes: number[] = [];
        for (let step = 0; !constraint.isComplete(); step++) {
          expect(step, `${tool.name}: the budget ran out`).toBeLessThan(BUDGET);
          const bits = constraint.allowedTokens();
          let token = -1;
          for (let i = 0; i < 32 && token < 0; i++) {
            const id = Math.floor(rand() * vocabulary.tokenBytes.length);
            if (allowed(bits, id)) token = id;
          }
          // A sparse mask: a uniformly random allowed token.
          if (token < 0) {
            const ids: number[] = [];
            for (let id = 0; id < vocabulary.tokenBytes.length; id++) if (allowed(bits, id)) ids.push(id);
            token = ids[Math.floor(rand() * ids.length)];
          }
          constraint.accept(token);
          if (token !== CLOSE) bytes.push(...vocabulary.tokenBytes[token]!);
        }
        const json = prefix + new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
        const calls = JSON.parse(json) as { name: string; arguments: unknown }[];
        for (const call of calls)
          if (!validate(call.arguments)) failures.push(`${tool.name}: ${JSON.stringify(call.arguments)}: ${JSON.stringify(validate.errors)}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
