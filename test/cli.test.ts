/** The phi4 command, run as a user would (node bin/phi4.js, from the compiled dist/). */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { describe, expect, inject, it } from "vitest";

import { Oracle } from "./helpers/oracle.js";

const run = promisify(execFile);
const models = inject("models");
const bin = path.resolve("bin/phi4.js");

async function phi4(...args: string[]) {
  return run(process.execPath, [bin, ...args], { maxBuffer: 16 << 20 });
}

async function phi4Fails(...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await phi4(...args);
  } catch (error) {
    const e = error as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
  throw new Error(`phi4 ${args.join(" ")} succeeded but should have failed`);
}

/** The CLI loads models with the defaults: on the CPU, an fp16 KV cache (LoadModelOptions.kvType). */
const CLI_KV = { kvType: "float16" } as const;

describe("phi4 CLI", () => {
  it("generate --json prints exactly one JSON object that matches the oracle", async () => {
    const { stdout } = await phi4("generate", "--model", models.tiny, "--tokens", "5,6,7,8", "--max-tokens", "6", "--greedy", "--json");
    const lines = stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]);
    expect(Object.keys(out).sort()).toEqual(["steps", "stopReason", "text", "timings", "tokens", "usage"]);
    expect(out.usage).toEqual({ promptTokens: 4, outputTokens: out.tokens.length, cachedTokens: 0 });
    expect(["eos", "max_tokens"]).toContain(out.stopReason);
    expect(Object.keys(out.timings).sort()).toEqual(["acceptanceRate", "decodeTokensPerSec", "loadMs", "tokensPerStep", "ttftMs"]);
    const oracle = await Oracle.load(models.tiny);
    try {
      await oracle.expectGreedy([5, 6, 7, 8], out.tokens, out.tokens.length, CLI_KV);
    } finally {
      await oracle.release();
    }
  });

  it("generate --chat wraps the text in the chat template; --prompt encodes raw text", async () => {
    const chat = JSON.parse((await phi4("generate", "--model", models.tinyPhi4, "--chat", "Hi", "--max-tokens", "3", "--json")).stdout);
    const raw = JSON.parse((await phi4("generate", "--model", models.tinyPhi4, "--prompt", "Hi", "--max-tokens", "3", "--json")).stdout);
    // <|user|>Hi<|end|><|assistant|> is 4 tokens with the Phi-4 tokenizer; "Hi" alone is 1.
    expect(chat.usage.promptTokens).toBe(4);
    expect(raw.usage.promptTokens).toBe(1);
  });

  it("seeded sampling from the CLI is reproducible", async () => {
    const args = [
      "generate",
      "--model",
      models.tiny,
      "--tokens",
      "1,2",
      "--max-tokens",
      "8",
      "--temperature",
      "1.2",
      "--top-k",
      "40",
      "--top-p",
      "0.9",
      "--seed",
      "7",
      "--json",
    ];
    const a = JSON.parse((await phi4(...args)).stdout);
    const b = JSON.parse((await phi4(...args)).stdout);
    expect(a.tokens).toEqual(b.tokens);
  });

  it("generate streams text without --json", async () => {
    const { stdout, stderr } = await phi4("generate", "--model", models.tinyPhi4, "--prompt", "Hello", "--max-tokens", "5");
    expect(stdout.length).toBeGreaterThan(0);
    expect(stderr).toMatch(/tokens\/s/);
  });

  it("info reports the ONNX Runtime version, providers and the model", async () => {
    const { stdout } = await phi4("info", "--model", models.tiny, "--json");
    const info = JSON.parse(stdout);
    expect(info.onnxruntime.version).toMatch(/^1\.\d+/);
    expect(info.onnxruntime.providers).toContain("CPUExecutionProvider");
    expect(info.model.ropeSwitchAt).toBe(64);
    expect((await phi4("info")).stdout).toMatch(/ONNX Runtime 1\.\d+/);
  });

  it("<command> --help prints what the command does and its full usage, and exits 0", async () => {
    const { stdout } = await phi4("make-model", "--help");
    expect(stdout).toMatch(/^phi4 make-model: write a random-weight model folder .*tiny-phi4-long/);
    expect(stdout).toMatch(/usage: phi4 make-model --preset .* --out DIR/);
    expect(stdout).toMatch(/or: phi4 make-model .* --format gguf/);
    const bench = (await phi4("bench", "peer", "--help")).stdout;
    expect(bench).toMatch(/usage: phi4 bench peer --model DIR .*--gguf FILE\.gguf/);
    expect((await phi4("serve", "--help")).stdout).toMatch(/usage: phi4 serve --model DIR .*--port/);
  });

  it("make-model writes a complete folder", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "phi4-cli-make-"));
    try {
      await phi4("make-model", "--preset", "tiny", "--out", dir, "--seed", "3");
      expect((await readdir(dir)).sort()).toEqual(
        [
          "config.json",
          "genai_config.json",
          "generation_config.json",
          "model.onnx",
          "special_tokens_map.json",
          "tokenizer.json",
          "tokenizer_config.json",
        ].sort(),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("--save-state then --load-state continues exactly where the first run stopped", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "phi4-cli-state-"));
    try {
      const file = path.join(dir, "s.phi4kv");
      const first = JSON.parse(
        (await phi4("generate", "--model", models.tiny, "--tokens", "3,4,5", "--max-tokens", "4", "--greedy", "--json", "--save-state", file)).stdout,
      );
      const second = JSON.parse(
        (await phi4("generate", "--model", models.tiny, "--load-state", file, "--tokens", "6", "--max-tokens", "4", "--greedy", "--json")).stdout,
      );
      const resumed = JSON.parse((await phi4("generate", "--model", models.tiny, "--load-state", file, "--max-tokens", "3", "--greedy", "--json")).stdout);
      const oracle = await Oracle.load(models.tiny);
      await oracle.expectGreedy([3, 4, 5, ...first.tokens, 6], second.tokens, second.tokens.length, CLI_KV);
      await oracle.expectGreedy([3, 4, 5, ...first.tokens], resumed.tokens, resumed.tokens.length, CLI_KV);
      await oracle.release();
      const bad = await phi4Fails("generate", "--model", models.tinyPhi4, "--load-state", file, "--json");
      expect(bad.stderr).toContain("STATE_MISMATCH");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("errors print the code and exit non-zero", async () => {
    const missing = await phi4Fails("generate", "--model", "/nonexistent/model", "--prompt", "x", "--json");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("MODEL_NOT_FOUND");
    const range = await phi4Fails("generate", "--model", models.tiny, "--tokens", "1,99999999", "--json");
    expect(range.stderr).toContain("TOKEN_OUT_OF_RANGE");
    const both = await phi4Fails("generate", "--model", models.tiny, "--tokens", "1", "--prompt", "x");
    expect(both.stderr).toContain("exactly one of");
    const unknown = await phi4Fails("frobnicate");
    expect(unknown.stderr).toContain("unknown command");
  });
});
