/** phi4 bench, run from the compiled dist/ as a user would: output shape and sane values (no timing thresholds). */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { describe, expect, inject, it } from "vitest";

import { int4KernelSupported } from "../lib/engine/runtime.js";

const run = promisify(execFile);
const models = inject("models");
const bin = path.resolve("bin/phi4.js");
const quick = ["--prompt-tokens", "16", "--gen-tokens", "8", "--runs", "1", "--bandwidth-mib", "64"];

describe("phi4 bench decode", () => {
  it("--json prints one JSON object with the figures, machine facts and model identity", async () => {
    const { stdout } = await run(process.execPath, [bin, "bench", "decode", "--model", models.tiny, ...quick, "--json"]);
    const lines = stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]);
    expect(out.benchmark).toBe("decode");
    expect(Number.isNaN(Date.parse(out.date))).toBe(false);
    expect(out.settings).toMatchObject({ promptTokens: 16, genTokens: 8, runs: 1, bandwidthMiB: 64 });
    expect(out.settings.threads).toBeGreaterThanOrEqual(1);

    const r = out.results;
    for (const key of ["loadMs", "ttftMs", "prefillTokensPerSec", "decodeTokensPerSec", "peakRssBytes", "rooflineTokensPerSec", "rooflineFraction"]) {
      expect(r[key], key).toBeGreaterThan(0);
    }
    expect(r.decodeTokensPerSecRuns).toHaveLength(1);
    expect(r.readBandwidthBytesPerSec).toBeGreaterThan(1e8);
    expect(r.rooflineTokensPerSec).toBeCloseTo(r.readBandwidthBytesPerSec / out.model.weightBytesPerToken, 6);

    expect(out.machine.cpuModel).toEqual(expect.any(String));
    expect(out.machine.logicalCores).toBeGreaterThanOrEqual(out.machine.physicalCores);
    expect(out.machine.physicalCores).toBeGreaterThanOrEqual(1);
    expect(out.machine.totalMemoryBytes).toBeGreaterThan(0);
    expect(out.machine.node).toBe(process.version);
    expect(out.machine.onnxruntime).toMatch(/^1\.\d+/);
    expect(out.machine.os).toEqual(expect.any(String));

    expect(out.model.name).toBe(path.basename(models.tiny));
    expect(out.model.modelOnnxSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(out.model.externalDataBytes).toBe(0);
    // The tiny model's fp32 embedding table (vocab x hidden x 4) is left out of the bytes read per token.
    expect(out.model.embeddingBytes).toBe(out.model.vocabSize * out.model.hiddenSize * 4);
    // With the int4 kernel the step reads its packed weights: fp16 scales, 18 bytes per block of 32 where the file holds 20.
    const packed = out.settings.int4Kernel ? 18 / 20 : 1;
    expect(out.model.weightBytesPerToken).toBeCloseTo((out.model.modelOnnxBytes - out.model.embeddingBytes) * packed + out.model.hiddenSize * 4, 3);
  });

  it("--kv-type float32 measures the fp32 KV cache and says so (the default is fp16); another type is refused", async () => {
    const { stdout } = await run(process.execPath, [bin, "bench", "decode", "--model", models.tiny, ...quick, "--kv-type", "float32"]);
    expect(stdout).toMatch(/float32 KV cache/);
    const json = await run(process.execPath, [bin, "bench", "decode", "--model", models.tiny, ...quick, "--json"]);
    expect(JSON.parse(json.stdout).settings.kvType).toBe("float16");
    const error = await run(process.execPath, [bin, "bench", "decode", "--model", models.tiny, ...quick, "--kv-type", "bfloat16"]).catch(
      (e: { stderr: string }) => e,
    );
    expect((error as { stderr: string }).stderr).toMatch(/kvType must be "float32" or "float16"/);
  });

  it("--out writes FILE.json and FILE.md, and prints the markdown table", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "phi4-bench-"));
    try {
      const file = path.join(dir, "nested", "result.json");
      const { stdout } = await run(process.execPath, [bin, "bench", "decode", "--model", models.tiny, ...quick, "--out", file]);
      expect(stdout).toMatch(/^# Decode benchmark: tiny/);
      expect(stdout).toMatch(/\| Decode \/ roofline \| [\d.]+% \|/);
      expect(JSON.parse(await readFile(file, "utf8")).benchmark).toBe("decode");
      expect(await readFile(path.join(dir, "nested", "result.md"), "utf8")).toBe(stdout);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("rejects an unknown benchmark and bad arguments with a message", async () => {
    const fails = async (...args: string[]) => {
      const error = await run(process.execPath, [bin, "bench", ...args]).then(
        () => undefined,
        (e: unknown) => e as { code: number; stderr: string },
      );
      expect(error?.code).toBe(1);
      return error!.stderr;
    };
    expect(await fails("nope")).toMatch(/unknown benchmark "nope"/);
    expect(await fails("decode", "--model", models.tiny, "--gen-tokens", "1")).toMatch(/--gen-tokens must be an integer >= 2/);
    expect(await fails("decode", "--model", models.tiny, "--out", "result.txt")).toMatch(/--out must name a \.json file/);
    expect(await fails("decode", "--model", models.tiny, "--int4-kernel", "maybe")).toMatch(/--int4-kernel must be on, off or a variant/);
    expect(await fails("prefix", "--model", models.tiny, "--int4-kernel", "off")).toMatch(/--int4-kernel does not apply here/);
  });
});

describe("phi4 bench prefix", () => {
  it("--json reports cached vs uncached TTFT and per-turn conversation timings", async () => {
    const { stdout } = await run(process.execPath, [
      bin,
      "bench",
      "prefix",
      "--model",
      models.tiny,
      "--prefix-tokens",
      "40",
      "--turns",
      "3",
      "--turn-tokens",
      "8",
      "--reply-tokens",
      "4",
      "--json",
    ]);
    const out = JSON.parse(stdout.trim());
    expect(out).toMatchObject({ benchmark: "prefix", prefixTokens: 40 });
    expect(out.uncachedTtftMs).toBeGreaterThan(0);
    expect(out.cachedTtftMs).toBeGreaterThan(0);
    expect(out.cachedRatio).toBeCloseTo(out.cachedTtftMs / out.uncachedTtftMs, 6);
    const { withReuse, withoutReuse } = out.conversation;
    expect(withReuse.map((t: { turn: number }) => t.turn)).toEqual([1, 2, 3]);
    expect(withoutReuse.every((t: { cachedTokens: number }) => t.cachedTokens === 0)).toBe(true);
    // Turn 2 reuses everything of turn 1 that was evaluated (8 prompt + 3 of the 4 reply tokens).
    expect(withReuse[1].cachedTokens).toBe(11);
    expect(withReuse[2].contextTokens).toBe(3 * 8 + 2 * 4);
  });
});

describe("phi4 bench batch", () => {
  it("--json reports aggregate tokens/s and inter-token latency per concurrency", async () => {
    const { stdout } = await run(process.execPath, [
      bin,
      "bench",
      "batch",
      "--model",
      models.tiny,
      "--concurrency",
      "1,3",
      "--prompt-tokens",
      "8",
      "--gen-tokens",
      "6",
      "--json",
    ]);
    const out = JSON.parse(stdout.trim());
    expect(out.benchmark).toBe("batch");
    expect(out.results.map((r: { concurrency: number }) => r.concurrency)).toEqual([1, 3]);
    for (const r of out.results) {
      expect(r.aggregateTokensPerSec).toBeGreaterThan(0);
      expect(r.interTokenMsP50).toBeGreaterThan(0);
      expect(r.interTokenMsP95).toBeGreaterThanOrEqual(r.interTokenMsP50);
      expect(r.eventLoopDelayMsP99).toBeGreaterThanOrEqual(0);
    }
    expect(out.results[0].speedup).toBe(1);
    expect(out.settings.int4Kernel).toBe(int4KernelSupported());
  });

  it("--int4-kernel off measures ONNX Runtime's own int4 kernel, and says so", async () => {
    const { stdout } = await run(process.execPath, [
      bin,
      "bench",
      "batch",
      "--model",
      models.tiny,
      "--concurrency",
      "2",
      "--prompt-tokens",
      "4",
      "--gen-tokens",
      "3",
      "--int4-kernel",
      "off",
      "--json",
    ]);
    expect(JSON.parse(stdout.trim()).settings.int4Kernel).toBe(false);
  });
});

describe("phi4 bench micro", () => {
  it("--json reports tokenizer, parser and constraint figures, and the parser read back every call", async () => {
    const { stdout } = await run(process.execPath, [bin, "bench", "micro", "--model", models.tinyPhi4, "--max-time", "0.01", "--json"]);
    const out = JSON.parse(stdout.trim());
    expect(out.benchmark).toBe("micro");
    expect(out.settings.maxTimeSec).toBe(0.01);
    const { corpus: c, results: r } = out;
    expect(c.textBytes).toBeGreaterThan(8000);
    const figures = {
      "encode MB/s": r.encode.mbPerSec,
      "encode tokens/s": r.encode.tokensPerSec,
      "decode tokens/s": r.decode.tokensPerSec,
      "streaming decode tokens/s": r.streamDecode.tokensPerSec,
      "parser calls/s": r.parser.callsPerSec,
      "parser MB/s": r.parser.mbPerSec,
      "streaming parser calls/s": r.streamParser.callsPerSec,
      "mask mean us": r.constraint.mask.meanUs,
      "mask p95 us": r.constraint.mask.p95Us,
      "cold mask mean us": r.constraint.coldMask.meanUs,
      "vocabulary ms": r.constraint.vocabularyMs,
    };
    for (const [name, value] of Object.entries(figures)) {
      expect(Number.isFinite(value) && value > 0, `${name}: ${value}`).toBe(true);
    }
    expect(r.encode.tokensPerSec / r.encode.mbPerSec).toBeCloseTo(c.textTokens / (c.textBytes / 1e6), 3);
    expect(r.constraint.mask.p95Us).toBeGreaterThanOrEqual(r.constraint.mask.p50Us);

    // Parallel calls are in the corpus, and every call written came back equal, with no error entries.
    expect(c.toolCalls).toBeGreaterThan(c.toolOutputs);
    expect(r.parser.callsParsed).toBe(c.toolCalls);
    expect(r.parser.errors).toBe(0);
    // Every token of every call went through the mask: once cold, then in whole repeat passes.
    expect(r.constraint.coldMask.samples).toBe(c.constrainedTokens);
    expect(r.constraint.mask.samples % c.constrainedTokens).toBe(0);
    expect(r.constraint.mask.samples).toBeGreaterThan(0);
  });
});
