/**
 * Bounds and typed errors for inputs from users and configs: sampling values that cannot work, empty
 * keys and stop strings, ports and thread counts out of range, token ids that are not ids, a config
 * that points outside its folder, and system errors printed without a stack.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { parseTokenList } from "../lib/cli/args.js";
import { loadModelFolder } from "../lib/engine/genai-config.js";
import { loadModel, type Model } from "../lib/engine/model.js";
import { toolOutputFromMcp } from "../lib/mcp/results.js";
import { apiKeyCheck } from "../lib/server/auth.js";
import { parseMessagesBody } from "../lib/server/request-schema.js";
import { createServer } from "../lib/server/server.js";

const models = inject("models");
const run = promisify(execFile);
let model: Model;
let dir: string;

beforeAll(async () => {
  model = await loadModel(models.tiny, { threads: 1 });
  dir = await mkdtemp(path.join(os.tmpdir(), "phi4-bounds-"));
});
afterAll(async () => {
  await model?.dispose();
  await rm(dir, { recursive: true, force: true });
});

const failure = (work: () => unknown) =>
  Promise.resolve()
    .then(work)
    .then(
      () => "resolved",
      (e: { code?: string; type?: string; message?: string }) => `${e.code ?? e.type}: ${e.message}`,
    );

const body = { model: "m", max_tokens: 4, messages: [{ role: "user", content: "hi" }] };

describe("request values", () => {
  it("top_p 0 and an empty stop sequence are 400s that name the field", async () => {
    expect(await failure(() => parseMessagesBody({ ...body, top_p: 0 }))).toMatch(/^invalid_request_error: top_p/);
    expect(await failure(() => parseMessagesBody({ ...body, stop_sequences: ["ok", ""] }))).toMatch(/^invalid_request_error: stop_sequences\.1/);
    expect(parseMessagesBody({ ...body, top_p: 0.5, stop_sequences: ["x"] }).request.top_p).toBe(0.5);
  });

  it("more than 100,000 messages (the Messages API's own limit) is a 400", async () => {
    const messages = Array.from({ length: 100_001 }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: "hi" }));
    expect(await failure(() => parseMessagesBody({ ...body, messages }))).toMatch(/^invalid_request_error: messages/);
    expect(parseMessagesBody({ ...body, messages: messages.slice(1) }).request.messages).toHaveLength(100_000);
  });

  it("an empty API key is refused instead of letting an empty header in", async () => {
    expect(await failure(() => apiKeyCheck(""))).toMatch(/^INVALID_ARGUMENT: the API key is empty/);
    expect(await failure(() => createServer({ model, apiKey: " " }))).toMatch(/^INVALID_ARGUMENT/);
  });

  it("a port outside 0..65535 is INVALID_ARGUMENT", async () => {
    const server = createServer({ model });
    expect(await failure(() => server.listen({ port: 99999 }))).toMatch(/^INVALID_ARGUMENT: port must be an integer from 0 to 65535/);
  });
});

describe("engine inputs", () => {
  it("token ids that are not ids are named as given", async () => {
    for (const bad of ["1e12", "NaN", "1.5", "2147483648", "-1"])
      expect(() => parseTokenList(`1,${bad}`), bad).toThrow(new RegExp(`"${bad.replace(".", "\\.")}" is not one`));
    expect(parseTokenList("0, 5,2147483647")).toEqual([0, 5, 2147483647]);
    const sequence = await model.createSequence({ capacity: 16 });
    for (const bad of [1e12, Number.NaN, 1.5, 2 ** 31]) {
      expect(await failure(() => sequence.generateText([1, bad], { maxTokens: 1 })), String(bad)).toBe(
        `TOKEN_OUT_OF_RANGE: token id ${bad} is not one of this model's (0..${model.folder.vocabSize - 1})`,
      );
    }
    await sequence.dispose();
  });

  it("a thread count far beyond the CPUs is refused before any thread starts", async () => {
    expect(await failure(() => loadModel(models.tiny, { threads: 100_000 }))).toMatch(/^INVALID_ARGUMENT: threads must be at most \d+/);
  });

  it("vocab_size or head_size that disagree with model.onnx are MODEL_INVALID at load, naming the field", async () => {
    const config = JSON.parse(await readFile(path.join(models.tiny, "genai_config.json"), "utf8"));
    const cases: Array<[string, (c: typeof config) => void, RegExp]> = [
      ["vocab", (c) => (c.model.vocab_size += 7), /^MODEL_INVALID: genai_config.json has vocab_size \d+ but model.onnx's logits has \d+/],
      ["head", (c) => (c.model.decoder.head_size /= 2), /^MODEL_INVALID: genai_config.json has head_size \d+ but model.onnx's past_key_values.0.key has \d+/],
    ];
    for (const [name, change, expected] of cases) {
      const folder = path.join(dir, `wrong-${name}`);
      await mkdir(folder);
      for (const file of await readdir(models.tiny)) await symlink(path.join(models.tiny, file), path.join(folder, file));
      const edited = structuredClone(config);
      change(edited);
      await rm(path.join(folder, "genai_config.json"));
      await writeFile(path.join(folder, "genai_config.json"), JSON.stringify(edited));
      expect(await failure(() => loadModel(folder, { threads: 1 })), name).toMatch(expected);
    }
  });

  it("decoder.filename outside the model folder is MODEL_INVALID", async () => {
    const config = JSON.parse(await readFile(path.join(models.tiny, "genai_config.json"), "utf8"));
    config.model.decoder.filename = "../../x/model.onnx";
    const folder = path.join(dir, "escape");
    await mkdir(folder);
    await writeFile(path.join(folder, "genai_config.json"), JSON.stringify(config));
    expect(await failure(() => loadModelFolder(folder))).toMatch(/^MODEL_INVALID: decoder.filename "..\/..\/x\/model.onnx" .*outside the model folder/);
  });
});

describe("tool results", () => {
  it("an MCP result of 5 MB keeps 100,000 characters of text and says how much was cut", () => {
    const image = { type: "image" as const, data: "iVBORw0KGgo=", mimeType: "image/png" };
    const output = toolOutputFromMcp({ content: [{ type: "text", text: "a".repeat(60_000) }, image, { type: "text", text: "b".repeat(5_000_000) }] });
    const texts = output.content.flatMap((b) => (b.type === "text" ? [b.text] : []));
    expect(texts[0]).toHaveLength(60_000);
    expect(texts[1]).toBe("b".repeat(40_000));
    expect(texts[2]).toBe("[4960000 more characters cut: the tool's result was longer than 100000 characters]");
    expect(output.content.filter((b) => b.type === "image")).toHaveLength(1);
    const small = toolOutputFromMcp({ content: [{ type: "text", text: "ok" }] }, 10);
    expect(small.content).toEqual([{ type: "text", text: "ok" }]);
  });
});

describe("CLI", () => {
  it("phi4 serve refuses an empty key, a bad port, log level or sampling default before loading the model", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--api-key", ""], /^phi4 serve: INVALID_ARGUMENT: the API key is empty/],
      [["--port", "99999"], /^phi4 serve: INVALID_ARGUMENT: port must be an integer from 0 to 65535 \(got 99999\)/],
      [["--log-level", "loud"], /^phi4 serve: INVALID_ARGUMENT: --log-level must be one of/],
      [["--temperature", "1.5"], /^phi4 serve: INVALID_ARGUMENT: the default temperature must be between 0 and 1 \(got 1.5\)/],
      [["--top-k", "2.5"], /^phi4 serve: INVALID_ARGUMENT: --top-k must be an integer/],
    ];
    for (const [args, expected] of cases) {
      const error = await run(process.execPath, [path.resolve("bin/phi4.js"), "serve", "--model", models.tiny, ...args], { timeout: 30_000 }).then(
        () => undefined,
        (e: { stderr: string }) => e,
      );
      expect(error?.stderr, args.join(" ")).toMatch(expected);
    }
  });

  it("system errors print one line, not a stack", async () => {
    const file = path.join(dir, "a-file");
    await writeFile(file, "");
    const error = await run(process.execPath, [path.resolve("bin/phi4.js"), "make-model", "--preset", "tiny", "--out", file]).then(
      () => undefined,
      (e: { stderr: string }) => e,
    );
    expect(error?.stderr).toMatch(/^phi4 make-model: EEXIST: file already exists/);
    expect(error?.stderr).not.toMatch(/\n\s+at /);
  });
});
