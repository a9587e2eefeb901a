/**
 * phi4 bench peer, run from the compiled dist/ as a user would. With transformers.js: both engines run
 * the same model and greedy decoding of the same prompt agrees token for token (a wrong layout, prompt
 * or decode loop on either side shows up as a mismatch); phi4-onnx runs ONNX Runtime's int4 kernel
 * here (--int4-kernel off), as transformers.js does: its own kernel adds in another order, which can
 * flip a near-tie of these random weights (docs/performance.md). With llama.cpp, on the GGUF of the
 * same preset and seed: its reported tokens must be llama.cpp's own greedy continuation of the
 * benchmark's prompt, recomputed here. No timing thresholds: this tests the harness, not the speed.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { lcgPrompt, PROMPT_ID_LIMIT } from "../lib/bench/common.js";
import { makeGguf } from "../lib/modelmaker/index.js";
import { LlamaSequence, openLlama, topTwo } from "./helpers/llama-oracle.js";

const run = promisify(execFile);
const models = inject("models");
const bin = path.resolve("bin/phi4.js");

async function peerTempDirs(): Promise<string[]> {
  return (await readdir(os.tmpdir())).filter((name) => name.startsWith("phi4-peer-"));
}

interface Run {
  promptTokens: number;
  ttftMs: number;
  prefillTokensPerSec: number;
  decodeTokensPerSec: number;
  eventLoopDelayMsP99: number;
  tokens: number[];
}
interface Engine {
  engine: string;
  version: string;
  threads: number;
  peakRssBytes: number;
  runs: Run[];
  batch: { concurrency: number; aggregateTokensPerSec: number; endToEndTokensPerSec: number; speedup: number }[];
}

function checkEngine(e: Engine, promptLengths: number[], genTokens: number, concurrency: number[]) {
  expect(e.version).toMatch(/^\d+\.\d+/);
  expect(e.threads).toBe(2);
  expect(e.peakRssBytes).toBeGreaterThan(10e6);
  expect(e.runs.map((r) => r.promptTokens)).toEqual(promptLengths);
  for (const r of e.runs) {
    expect(r.tokens).toHaveLength(genTokens);
    expect(r.ttftMs).toBeGreaterThan(0);
    expect(r.prefillTokensPerSec).toBeCloseTo((r.promptTokens / r.ttftMs) * 1000, 6);
    expect(r.decodeTokensPerSec).toBeGreaterThan(0);
    expect(r.eventLoopDelayMsP99).toBeGreaterThanOrEqual(0);
  }
  expect(e.batch.map((b) => b.concurrency)).toEqual(concurrency);
  for (const b of e.batch) {
    expect(b.aggregateTokensPerSec).toBeGreaterThan(0);
    expect(b.endToEndTokensPerSec).toBeGreaterThan(0);
  }
  expect(e.batch[0].speedup).toBe(1);
}

describe("phi4 bench peer", () => {
  let tmp: string;
  let gguf: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "bench-peer-"));
    gguf = path.join(tmp, "tiny-phi4.gguf");
    await makeGguf({ preset: "tiny-phi4", outFile: gguf, seed: 2 }); // the global setup's tiny-phi4 folder has seed 2
  });
  afterAll(() => rm(tmp, { recursive: true, force: true }));

  it("compares phi4-onnx with transformers.js on the same model and prompt, token for token", async () => {
    const before = await peerTempDirs();
    // tiny-phi4 switches to its long RoPE factors past 64 positions; these lengths stay below,
    // where plain incremental decoding (transformers.js) and full recomputation agree.
    const { stdout } = await run(process.execPath, [
      bin,
      "bench",
      "peer",
      "--model",
      models.tinyPhi4,
      "--engines",
      "phi4-onnx,transformers.js",
      "--prompt-tokens",
      "8,40",
      "--gen-tokens",
      "12",
      "--concurrency",
      "1,2",
      "--batch-prompt-tokens",
      "8",
      "--int4-kernel",
      "off",
      "--kv-type",
      "float32",
      "--json",
    ]);
    const out = JSON.parse(stdout);
    expect(out.benchmark).toBe("peer");
    expect(out.settings).toMatchObject({
      engines: ["phi4-onnx", "transformers.js"],
      promptLengths: [8, 40],
      genTokens: 12,
      concurrency: [1, 2],
      threads: 2,
      int4Kernel: false,
    });
    expect(out.engines.map((e: Engine) => e.engine)).toEqual(["phi4-onnx", "transformers.js"]);
    for (const e of out.engines) checkEngine(e, [8, 40], 12, [1, 2]);
    const [ours, peer] = out.engines as Engine[];
    expect(out.comparisons).toHaveLength(2);
    for (const [i, c] of out.comparisons.entries()) {
      expect(c.engine).toBe("transformers.js");
      expect(peer.runs[i].tokens).toEqual(ours.runs[i].tokens);
      expect(c.matchingTokens).toBe(12);
      expect(c.decodeSpeedup).toBeCloseTo(ours.runs[i].decodeTokensPerSec / peer.runs[i].decodeTokensPerSec, 6);
      expect(c.prefillSpeedup).toBeCloseTo(ours.runs[i].prefillTokensPerSec / peer.runs[i].prefillTokensPerSec, 6);
      expect(c.ttftSpeedup).toBeCloseTo(peer.runs[i].ttftMs / ours.runs[i].ttftMs, 6);
    }
    expect(out.machine.cpuFeatures === null || Array.isArray(out.machine.cpuFeatures)).toBe(true);
    // The linked Hugging Face layout is temporary.
    expect(await peerTempDirs()).toEqual(before);
  });

  it("runs llama.cpp on the GGUF of the same model: its tokens are its greedy continuation of the benchmark's prompts", async () => {
    const report = path.join(tmp, "peer.json");
    const { stdout } = await run(process.execPath, [
      bin,
      "bench",
      "peer",
      "--model",
      models.tinyPhi4,
      "--gguf",
      gguf,
      "--engines",
      "phi4-onnx,llama.cpp",
      "--prompt-tokens",
      "8,40",
      "--gen-tokens",
      "6",
      "--concurrency",
      "1,2",
      "--batch-prompt-tokens",
      "8",
      "--out",
      report,
    ]);
    expect(stdout).toMatch(/^# Peer benchmark: phi4-onnx .* vs llama\.cpp 3\.21\.1 \(llama\.cpp /);
    expect(stdout).toMatch(/\| 40 \| llama\.cpp \| [\d.]+ tok\/s \|/);
    expect(stdout).toMatch(/^\| CPU features \| /m);
    const out = JSON.parse(await readFile(report, "utf8"));
    expect(out.settings.engines).toEqual(["phi4-onnx", "llama.cpp"]);
    for (const e of out.engines) checkEngine(e, [8, 40], 6, [1, 2]);
    const llamaRuns = (out.engines as Engine[])[1].runs;
    expect(out.comparisons.map((c: { engine: string; promptTokens: number }) => [c.engine, c.promptTokens])).toEqual([
      ["llama.cpp", 8],
      ["llama.cpp", 40],
    ]);

    // llama.cpp as the benchmark ran it (flash attention auto, 2 threads), teacher-forced with its own reported tokens.
    const vocab: number = JSON.parse(await readFile(path.join(models.tinyPhi4, "genai_config.json"), "utf8")).model.vocab_size;
    const llama = await openLlama();
    const model = await llama.loadModel({ modelPath: gguf });
    try {
      for (const r of llamaRuns) {
        const sequence = await LlamaSequence.open(model, 256, { flashAttention: "auto", threads: 2 });
        const prompt = lcgPrompt(r.promptTokens, Math.min(vocab, PROMPT_ID_LIMIT));
        let next = topTwo(await sequence.append(prompt, vocab)).token;
        for (const [i, token] of r.tokens.entries()) {
          expect(token, `token ${i} after the ${r.promptTokens}-token prompt`).toBe(next);
          if (i + 1 < r.tokens.length) next = topTwo(await sequence.append([token], vocab)).token;
        }
        await sequence.dispose();
      }
    } finally {
      await model.dispose();
      await llama.dispose();
    }
  });

  it("refuses bad engine lists and a missing GGUF before starting any engine", async () => {
    const cases: [string[], RegExp][] = [
      [["--engines", "phi4-onnx,vllm"], /unknown engine "vllm"/],
      [["--engines", "transformers.js,llama.cpp", "--gguf", gguf], /--engines must include phi4-onnx/],
      [["--engines", "phi4-onnx,llama.cpp"], /llama\.cpp needs the model as a GGUF file: --gguf FILE/],
      [["--engines", "phi4-onnx,llama.cpp", "--gguf", path.join(tmp, "missing.gguf")], /--gguf .*missing\.gguf: no such file/],
      [["--prompt-tokens", "250", "--gen-tokens", "16"], /266 tokens, past the model's context length of 256/],
    ];
    for (const [args, message] of cases) {
      const lengths = args.includes("--prompt-tokens") ? [] : ["--prompt-tokens", "8"];
      const failure = await run(process.execPath, [bin, "bench", "peer", "--model", models.tinyPhi4, ...lengths, ...args]).catch((e) => e);
      expect(failure.code, args.join(" ")).toBe(1);
      expect(failure.stderr).toMatch(message);
    }
  });
});
