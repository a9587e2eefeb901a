/**
 * phi4 bench prefix's Claude Code-shaped prompt, run from the compiled dist/ as a user would, on a
 * tiny network with Phi-4's tokenizer and a long context: a new session with another billing hash
 * reuses the whole shared prefix, a restarted process reads it from the disk tier (no timing
 * thresholds: the figures are the benchmark's to report).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { makeModel } from "../lib/modelmaker/index.js";

const run = promisify(execFile);
const bin = path.resolve("bin/phi4.js");
let root: string;
let modelDir: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "phi4-bench-agent-"));
  modelDir = path.join(root, "tiny-phi4-long");
  await makeModel({ preset: "tiny-phi4-long", outDir: modelDir, seed: 3 });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("phi4 bench prefix: the Claude Code-shaped prompt", () => {
  it("reports cold, changed-billing-hash and restarted-process runs, the latter two from the cache", async () => {
    const args = [
      "bench",
      "prefix",
      "--model",
      modelDir,
      "--threads",
      "1",
      "--prefix-tokens",
      "20",
      "--turns",
      "1",
      "--turn-tokens",
      "4",
      "--reply-tokens",
      "2",
      "--agent-tokens",
      "3500",
      "--json",
    ];
    const out = JSON.parse((await run(process.execPath, [bin, ...args])).stdout.trim());
    const agent = out.agent;
    expect(agent.tools).toBe(24);
    expect(agent.promptTokens).toBeLessThanOrEqual(3500);
    expect(agent.promptTokens).toBeGreaterThan(3000);
    expect(agent.cold.cachedTokens).toBe(0);
    // Everything before the question is shared once the billing block is left out; kept, it parts at the hash.
    expect(agent.sharedTokens).toBeGreaterThan(agent.promptTokens - 40);
    expect(agent.sharedTokensKeepingMetadata).toBeLessThan(40);
    expect(agent.changedHash.cachedTokens).toBe(agent.sharedTokens);
    expect(agent.restart.cachedTokens).toBeGreaterThan(agent.promptTokens - 40);
    expect(agent.changedHash.ratio).toBeCloseTo(agent.changedHash.ttftMs / agent.cold.ttftMs, 6);
    expect(agent.restart.ratio).toBeCloseTo(agent.restart.ttftMs / agent.cold.ttftMs, 6);

    const markdown = (await run(process.execPath, [bin, ...args.filter((a) => a !== "--json")])).stdout;
    expect(markdown).toMatch(/Claude Code-shaped prompt \(system \+ 24 tools, \d+ tokens\): TTFT cold/);
    expect(markdown).toMatch(/restarted process \(disk tier\)/);
  });
});
