/** Every bad input gets a typed Phi4Error with a code: never a crash or a hang. */
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";

import { callNative } from "../lib/engine/errors.js";
import type { NativeModelSpec } from "../lib/engine/native-types.js";
import { getRuntime } from "../lib/engine/runtime.js";
import { loadModel, Phi4Error, type Model } from "../lib/index.js";

const models = inject("models");

async function expectCode(promise: Promise<unknown> | (() => unknown), code: string): Promise<Phi4Error> {
  let caught: unknown;
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(Phi4Error);
  expect((caught as Phi4Error).code).toBe(code);
  return caught as Phi4Error;
}

describe("model folder errors", () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), "phi4-bad-"));
  });
  afterAll(() => rm(scratch, { recursive: true, force: true }));

  async function copyTiny(name: string): Promise<string> {
    const dir = path.join(scratch, name);
    await cp(models.tiny, dir, { recursive: true });
    return dir;
  }

  it("a missing folder is MODEL_NOT_FOUND", async () => {
    const error = await expectCode(loadModel(path.join(scratch, "nope")), "MODEL_NOT_FOUND");
    expect(error.message).toContain("make-model");
  });

  it("a folder without genai_config.json is MODEL_NOT_FOUND", async () => {
    await expectCode(loadModel(scratch), "MODEL_NOT_FOUND");
  });

  it("malformed genai_config.json is MODEL_INVALID", async () => {
    const dir = await copyTiny("bad-json");
    await writeFile(path.join(dir, "genai_config.json"), "{ not json");
    await expectCode(loadModel(dir), "MODEL_INVALID");
  });

  it("a genai_config.json missing fields is MODEL_INVALID and names the field", async () => {
    const dir = await copyTiny("bad-schema");
    await writeFile(path.join(dir, "genai_config.json"), JSON.stringify({ model: { type: "phi3" } }));
    const error = await expectCode(loadModel(dir), "MODEL_INVALID");
    expect(error.message).toContain("model.decoder");
  });

  it("a missing model.onnx is MODEL_NOT_FOUND", async () => {
    const dir = await copyTiny("no-onnx");
    await rm(path.join(dir, "model.onnx"));
    await expectCode(loadModel(dir), "MODEL_NOT_FOUND");
  });

  it("a corrupt model.onnx is MODEL_LOAD_FAILED", async () => {
    const dir = await copyTiny("corrupt-onnx");
    await writeFile(path.join(dir, "model.onnx"), Buffer.from("this is not a protobuf".repeat(50)));
    await expectCode(loadModel(dir), "MODEL_LOAD_FAILED");
  });

  it("a corrupt tokenizer.json is MODEL_INVALID", async () => {
    const dir = await copyTiny("corrupt-tokenizer");
    await writeFile(path.join(dir, "tokenizer.json"), "[]");
    await expectCode(loadModel(dir), "MODEL_INVALID");
  });

  it("genai_config naming an input the graph lacks is MODEL_LOAD_FAILED", async () => {
    const dir = await copyTiny("wrong-io");
    const configPath = path.join(dir, "genai_config.json");
    const config = JSON.parse(await (await import("node:fs/promises")).readFile(configPath, "utf8"));
    config.model.decoder.inputs.input_ids = "tokens";
    await writeFile(configPath, JSON.stringify(config));
    const error = await expectCode(loadModel(dir), "MODEL_LOAD_FAILED");
    expect(error.message).toContain("tokens");
  });

  it("a KV name pattern with another '%' is MODEL_INVALID, never used as a format string", async () => {
    const dir = await copyTiny("bad-pattern");
    const configPath = path.join(dir, "genai_config.json");
    const config = JSON.parse(await (await import("node:fs/promises")).readFile(configPath, "utf8"));
    config.model.decoder.inputs.past_key_names = "past_%s_%n.%d.key";
    await writeFile(configPath, JSON.stringify(config));
    const error = await expectCode(loadModel(dir), "MODEL_INVALID");
    expect(error.message).toContain("past_key_names");
  });

  it("the addon itself refuses a KV name pattern it would otherwise have to format", async () => {
    const runtime = getRuntime();
    const spec = { modelPath: path.join(models.tiny, "model.onnx"), pastKey: "past_%s.%d.key", numLayers: 1, numKvHeads: 1, headSize: 8, vocabSize: 8 };
    const load = callNative(() => runtime.loadModel(spec as unknown as NativeModelSpec));
    const error = await expectCode(load, "INVALID_ARGUMENT");
    expect(error.message).toContain("past_%s.%d.key");
  });
});

describe("provider errors", () => {
  it("an unknown provider is PROVIDER_UNAVAILABLE", async () => {
    await expectCode(loadModel(models.tiny, { providers: [{ name: "tpu" }] }), "PROVIDER_UNAVAILABLE");
  });

  it("an ordered provider list falls back to the next provider and says why", async () => {
    const model = await loadModel(models.tiny, { providers: ["cuda", "tpu" as "cpu", "cpu"] });
    expect(model.providers).toEqual(["cpu"]);
    expect(model.providerFallbacks.map((f) => f.provider)).toEqual(["cuda", "tpu"]);
    expect(model.providerFallbacks[1].reason).toContain("Unknown execution provider");
    const sequence = await model.createSequence({ capacity: 16 });
    expect((await sequence.generateText([1, 2], { maxTokens: 2, stopTokens: [] })).tokens).toHaveLength(2);
    await model.dispose();
    await expectCode(loadModel(models.tiny, { providers: ["webgpu", "cuda"] }), "PROVIDER_UNAVAILABLE");
  });

  it("a provider the CPU library cannot start is PROVIDER_UNAVAILABLE", async () => {
    // onnxruntime-node's library lists CUDA but does not ship its provider library (and this machine has no GPU).
    const error = await expectCode(loadModel(models.tiny, { providers: ["cuda"] }), "PROVIDER_UNAVAILABLE");
    expect(error.message.length).toBeGreaterThan(10);
  });
});

describe("sequence errors", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(models.tiny);
  });
  afterAll(() => model.dispose());

  it("token ids outside the vocabulary are TOKEN_OUT_OF_RANGE", async () => {
    const sequence = await model.createSequence({ capacity: 32 });
    await expectCode(sequence.evaluate([1, model.folder.vocabSize]), "TOKEN_OUT_OF_RANGE");
    await expectCode(sequence.evaluate([-1]), "TOKEN_OUT_OF_RANGE");
    await expectCode(sequence.evaluate([1.5]), "TOKEN_OUT_OF_RANGE");
    // The sequence is untouched and still works.
    expect(sequence.length).toBe(0);
    expect((await sequence.evaluate([1, 2, 3])).length).toBe(model.folder.vocabSize);
    await sequence.dispose();
  });

  it("errors from native code keep the JavaScript stack of the call", async () => {
    const sequence = await model.createSequence({ capacity: 8 });
    const error = await expectCode(sequence.evaluate([model.folder.vocabSize + 5]), "TOKEN_OUT_OF_RANGE");
    expect(error.stack).toContain("engine-errors.test.ts");
    expect(error.message).toContain(String(model.folder.vocabSize + 5));
    await sequence.dispose();
  });

  it("a prompt over the capacity is CAPACITY_EXCEEDED, and generation stops at the capacity", async () => {
    const sequence = await model.createSequence({ capacity: 16 });
    const error = await expectCode(sequence.generateText(Array.from({ length: 17 }, (_, i) => i + 1)), "CAPACITY_EXCEEDED");
    expect(error.message).toContain("capacity");
    const result = await sequence.generateText([1, 2, 3, 4], { stopTokens: [], sampling: { greedy: true } });
    expect(result.stopReason).toBe("capacity");
    expect(sequence.length).toBe(16);
    await sequence.dispose();
  });

  it("a capacity beyond the context length is INVALID_ARGUMENT", async () => {
    await expectCode(model.createSequence({ capacity: model.contextLength + 1 }), "INVALID_ARGUMENT");
  });

  it("use after dispose is DISPOSED", async () => {
    const sequence = await model.createSequence({ capacity: 16 });
    await sequence.dispose();
    await expectCode(sequence.evaluate([1]), "DISPOSED");
    await expectCode(() => sequence.generate([1]), "DISPOSED");
    const other = await loadModel(models.tiny);
    await other.dispose();
    await expectCode(other.createSequence(), "DISPOSED");
  });

  it("a second generation on a busy sequence is BUSY", async () => {
    const sequence = await model.createSequence({ capacity: 64 });
    const first = sequence.generate([1, 2, 3], { maxTokens: 20, stopTokens: [] });
    await expectCode(() => sequence.generate([4]), "BUSY");
    await first.result;
    await sequence.dispose();
  });

  it("an AbortSignal aborts with ABORTED and leaves the sequence usable", async () => {
    const sequence = await model.createSequence({ capacity: 200 });
    const controller = new AbortController();
    const generation = sequence.generate([1, 2, 3], { stopTokens: [], signal: controller.signal });
    let seen = 0;
    const consume = (async () => {
      for await (const chunk of generation) {
        if (chunk.token !== undefined && ++seen === 5) controller.abort();
      }
    })();
    await expectCode(consume, "ABORTED");
    await expectCode(generation.result, "ABORTED");
    expect(sequence.length).toBeGreaterThanOrEqual(3 + 5);
    expect(sequence.length).toBeLessThan(200);
    const more = await sequence.generateText([4], { maxTokens: 3, stopTokens: [] });
    expect(more.tokens).toHaveLength(3);
    await sequence.dispose();
  });

  it("an already-aborted signal rejects at once", async () => {
    const sequence = await model.createSequence({ capacity: 16 });
    await expectCode(sequence.generateText([1], { signal: AbortSignal.abort() }), "ABORTED");
    expect(sequence.length).toBe(0);
    await sequence.dispose();
  });

  it("bad sampling options are INVALID_ARGUMENT", async () => {
    const sequence = await model.createSequence({ capacity: 16 });
    await expectCode(sequence.generateText([1], { sampling: { topP: 0 } }), "INVALID_ARGUMENT");
    await expectCode(sequence.generateText([1], { sampling: { temperature: -1 } }), "INVALID_ARGUMENT");
    await expectCode(sequence.generateText([1], { maxTokens: 0 }), "INVALID_ARGUMENT");
    await sequence.dispose();
  });
});
