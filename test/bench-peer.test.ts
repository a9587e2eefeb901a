/**
 * phi4 bench peer, run from the compiled dist/ as a user would: both engines run the same model,
 * and greedy decoding of the same prompt agrees token for token (a wrong layout, prompt or decode
 * loop on either side shows up as a mismatch). No timing thresholds. phi4-onnx runs ONNX Runtime's
 * int4 kernel here (--int4-kernel off), as transformers.js does: its own kernel adds in another
 * order, which can flip a near-tie of these random weights (docs/performance.md).
 */
import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { describe, expect, inject, it } from "vitest";

const run = promisify(execFile);
const models = inject("models");
const bin = path.resolve("bin/phi4.js");

async function peerTempDirs(): Promise<string[]> {
  return (await readdir(os.tmpdir())).filter((name) => name.startsWith("phi4-peer-"));
}

describe("phi4 bench peer", () => {
  it("compares phi4-onnx with transformers.js on the same model and prompt, token for token", async () => {
    const before = await peerTempDirs();
    // tiny-phi4 switches to its long RoPE factors past 64 positions; these lengths stay below,
    // where plain incremental decoding (transformers.js) and full recomputation agree.
    const { stdout } = await run(process.execPath, [bin, "bench", "peer", "--model", models.tinyPhi4, "--prompt-tokens", "8,40", "--gen-tokens", "12", "--int4-kernel", "off", "--json"]);
    const out = JSON.parse(stdout);
    expect(out.benchmark).toBe("peer");
    expect(out.settings).toMatchObject({ promptLengths: [8, 40], genTokens: 12, int4Kernel: false });
    expect(out.engines.peer.version).toMatch(/^\d+\.\d+/);
    expect(out.results).toHaveLength(2);
    for (const r of out.results) {
      expect(r.ours.tokens).toHaveLength(12);
      expect(r.peer.tokens).toEqual(r.ours.tokens);
      expect(r.matchingTokens).toBe(12);
      for (const side of [r.ours, r.peer]) {
        expect(side.ttftMs).toBeGreaterThan(0);
        expect(side.decodeTokensPerSec).toBeGreaterThan(0);
        expect(side.eventLoopDelayMsP99).toBeGreaterThanOrEqual(0);
      }
      expect(r.decodeSpeedup).toBeCloseTo(r.ours.decodeTokensPerSec / r.peer.decodeTokensPerSec, 6);
      expect(r.ttftSpeedup).toBeCloseTo(r.peer.ttftMs / r.ours.ttftMs, 6);
    }
    // The linked Hugging Face layout is temporary.
    expect(await peerTempDirs()).toEqual(before);
  });

  it("refuses prompt lengths past the model's context before starting either engine", async () => {
    const failure = await run(process.execPath, [bin, "bench", "peer", "--model", models.tinyPhi4, "--prompt-tokens", "250", "--gen-tokens", "16"]).catch((e) => e);
    expect(failure.code).toBe(1);
    expect(failure.stderr).toMatch(/266 tokens, past the model's context length of 256/);
  });
});
