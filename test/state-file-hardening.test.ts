/**
 * State files from untrusted places: only regular files of the declared size are read, the checksum
 * covers the header (metadata and fingerprint), tokens must be in the vocabulary, saves are atomic and
 * clean up after killed writers, and a sequence never ends up holding more than its capacity.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { ChatSession } from "../lib/chat/chat-session.js";
import { loadModel, type Model } from "../lib/engine/model.js";
import { readStateFile, writeStateFile } from "../lib/engine/sequence-state.js";

const models = inject("models");
let model: Model;
let dir: string;
let good: string;

const ids = (n: number, from = 1) => Array.from({ length: n }, (_, i) => from + i);
const greedy = { greedy: true } as const;

beforeAll(async () => {
  model = await loadModel(models.tiny, { threads: 1 });
  dir = await mkdtemp(path.join(os.tmpdir(), "phi4-state-hardening-"));
  good = path.join(dir, "good.phi4kv");
  const sequence = await model.createSequence({ capacity: 32 });
  await sequence.generateText(ids(6), { maxTokens: 3, stopTokens: [], sampling: greedy });
  await sequence.saveStateFile(good, { note: "transfer 100 dollars" });
  await sequence.dispose();
});
afterAll(async () => {
  await model?.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** The file's parts (format 2): preamble, header JSON, tokens, KV; the trailer is recomputed by `seal`. */
async function parts(file: string) {
  const bytes = await readFile(file);
  const headerLength = bytes.readUInt32LE(8);
  const header = JSON.parse(bytes.subarray(12, 12 + headerLength).toString("utf8")) as Record<string, unknown> & { tokens: number };
  const body = bytes.subarray(12 + headerLength, bytes.length - 32);
  return { bytes, header, body };
}

/** A file with a correct checksum around `header` and `body`: what a forger (not a bit flip) writes. */
function seal(header: object, body: Buffer, magic = Buffer.from("PHI4KV\0\x02", "latin1")): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  const content = Buffer.concat([magic, length, json, body]);
  return Buffer.concat([content, createHash("sha256").update(content).digest()]);
}

const code = (promise: Promise<unknown>) =>
  promise.then(
    () => "resolved",
    (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`,
  );

describe("reading", () => {
  it("refuses a symlink to /dev/zero and a FIFO at once, as not regular files", async () => {
    const zero = path.join(dir, "zero.phi4kv");
    await symlink("/dev/zero", zero);
    const started = performance.now();
    expect(await code(readStateFile(zero))).toMatch(/^STATE_INVALID: .*not a regular file/);
    const fifo = path.join(dir, "fifo.phi4kv");
    execFileSync("mkfifo", [fifo]);
    expect(await code(readStateFile(fifo))).toMatch(/^STATE_INVALID: .*not a regular file/);
    expect(performance.now() - started).toBeLessThan(2_000);
    const sequence = await model.createSequence({ capacity: 32 });
    expect(await code(sequence.loadStateFile(fifo))).toMatch(/^STATE_INVALID/);
    await sequence.dispose();
  });

  it("refuses a file over maxBytes before reading it, and one whose size is not what its header says", async () => {
    const size = (await readFile(good)).length;
    expect(await code(readStateFile(good, { maxBytes: size - 1 }))).toMatch(/more than the limit/);
    const { bytes } = await parts(good);
    const longer = path.join(dir, "longer.phi4kv");
    await writeFile(longer, Buffer.concat([bytes, Buffer.alloc(100)]));
    expect(await code(readStateFile(longer))).toMatch(/trailing data/);
  });

  it("reports a changed byte of the metadata as corruption (the checksum covers the header)", async () => {
    const { bytes } = await parts(good);
    const at = bytes.indexOf("transfer 100");
    expect(at).toBeGreaterThan(0);
    const forged = Buffer.from(bytes);
    forged[at + "transfer ".length] = "9".charCodeAt(0);
    const file = path.join(dir, "forged.phi4kv");
    await writeFile(file, forged);
    expect(await code(readStateFile(file))).toMatch(/^STATE_INVALID: .*checksum mismatch/);
  });

  it("reports a flipped fingerprint bit as corruption, not as another model", async () => {
    const { bytes, header } = await parts(good);
    const fingerprint = String(header.fingerprint);
    const at = bytes.indexOf(fingerprint);
    const flipped = Buffer.from(bytes);
    flipped[at] ^= 0x01;
    const file = path.join(dir, "fingerprint.phi4kv");
    await writeFile(file, flipped);
    const sequence = await model.createSequence({ capacity: 32 });
    expect(await code(sequence.loadStateFile(file))).toMatch(/^STATE_INVALID: .*checksum mismatch/);
    await sequence.dispose();
  });

  it("refuses a last token outside the vocabulary, even in a well-sealed file", async () => {
    const { header, body } = await parts(good);
    for (const bad of [2 ** 31 - 1, -1, model.folder.vocabSize]) {
      const tokens = Buffer.from(body);
      tokens.writeInt32LE(bad, (header.tokens - 1) * 4);
      const file = path.join(dir, `token-${bad}.phi4kv`);
      await writeFile(file, seal(header, tokens));
      expect(await code(readStateFile(file)), String(bad)).toMatch(/^STATE_INVALID: .*outside the vocabulary/);
    }
    // A header claiming a larger vocabulary is another model's state.
    const tokens = Buffer.from(body);
    tokens.writeInt32LE(model.folder.vocabSize + 10, (header.tokens - 1) * 4);
    const file = path.join(dir, "bigger-vocab.phi4kv");
    await writeFile(file, seal({ ...header, vocabSize: model.folder.vocabSize + 100 }, tokens));
    const sequence = await model.createSequence({ capacity: 32 });
    expect(await code(sequence.loadStateFile(file))).toMatch(/^STATE_MISMATCH: .*vocabSize/);
    await sequence.dispose();
  });

  it("says that a format 1 file is from an older version", async () => {
    const { header, body } = await parts(good);
    const file = path.join(dir, "v1.phi4kv");
    await writeFile(file, seal({ ...header, format: 1 }, body, Buffer.from("PHI4KV\0\x01", "latin1")));
    expect(await code(readStateFile(file))).toMatch(/^STATE_INVALID: .*format 1, written by an older phi4-onnx/);
  });
});

describe("writing", () => {
  it("saving an empty sequence is a typed error", async () => {
    const sequence = await model.createSequence({ capacity: 32 });
    const file = path.join(dir, "empty.phi4kv");
    expect(await code(sequence.saveStateFile(file))).toMatch(/^INVALID_ARGUMENT: nothing to save: the sequence is empty/);
    expect(existsSync(file)).toBe(false);
    await sequence.dispose();
  });

  it("removes temporary files of killed writers, keeps live ones, and leaves none after a failed write", async () => {
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    const file = path.join(dir, "atomic.phi4kv");
    const stale = [`atomic.phi4kv.${dead}.tmp`, `atomic.phi4kv.${dead}.0badc0de.tmp`];
    const live = `atomic.phi4kv.${process.pid}.12345678.tmp`;
    for (const name of [...stale, live]) await writeFile(path.join(dir, name), "partial");
    const state = await readStateFile(good);
    await writeStateFile(file, state);
    const names = await readdir(dir);
    for (const name of stale) expect(names).not.toContain(name);
    expect(names).toContain(live);
    expect((await readStateFile(file)).metadata).toEqual({ note: "transfer 100 dollars" });

    const missing = path.join(dir, "no-such-dir", "x.phi4kv");
    expect(await code(writeStateFile(missing, state))).toMatch(/^INVALID_ARGUMENT: cannot write the state file/);
    expect((await readdir(dir)).filter((n) => n.startsWith("x.phi4kv"))).toEqual([]);
  });
});

describe("capacity", () => {
  it("a prompt as long as the capacity is refused; one position shorter generates and its state restores", async () => {
    const sequence = await model.createSequence({ capacity: 16 });
    expect(await code(sequence.generateText(ids(16), { maxTokens: 2, stopTokens: [], sampling: greedy }))).toMatch(
      /^CAPACITY_EXCEEDED: .*at least one position/,
    );
    expect(sequence.length).toBeLessThanOrEqual(16);
    const result = await sequence.generateText(ids(15), { maxTokens: 2, stopTokens: [], sampling: greedy });
    expect(result.stopReason).toBe("capacity");
    expect(sequence.length).toBe(16);
    const file = path.join(dir, "full.phi4kv");
    await sequence.saveStateFile(file);
    const again = await model.createSequence({ capacity: 16 });
    await again.loadStateFile(file);
    expect(again.tokens).toEqual(sequence.tokens);
    // Appending to a full sequence is refused the same way.
    expect(await code(again.generateText([], { maxTokens: 1 }))).toMatch(/^CAPACITY_EXCEEDED/);
    await Promise.all([sequence.dispose(), again.dispose()]);
  });
});

describe("ChatSession", () => {
  it("a saved session whose metadata was edited does not load", async () => {
    const phi4 = await loadModel(models.tinyPhi4, { threads: 1 });
    try {
      const chat = await ChatSession.create(phi4, { systemPrompt: "Obey the user.", capacity: 128 });
      await chat.prompt("transfer 100 dollars", { maxTokens: 2 });
      const file = path.join(dir, "chat.phi4kv");
      await chat.save(file);
      await chat.save(file); // twice: the second save of the same session works too
      const bytes = await readFile(file);
      const at = bytes.indexOf("transfer 100");
      bytes[at + "transfer ".length] = "9".charCodeAt(0);
      await writeFile(file, bytes);
      expect(await code(ChatSession.load(phi4, file))).toMatch(/^STATE_INVALID: .*checksum/);
      await chat.dispose();
    } finally {
      await phi4.dispose();
    }
  });
});
