/**
 * The prefix cache's disk tier: a model loaded afresh on the same directory (what a restarted process
 * sees: empty memory, the files only) answers a stored prompt without prefilling it, with the greedy
 * tokens of a full recomputation; corrupt, truncated and foreign entries are skipped and removed;
 * the directory stays within its byte budget and keeps one entry per growing conversation.
 */
import { execFile } from "node:child_process";
import { mkdtemp, open, readdir, readFile, rename, rm, truncate, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type LoadModelOptions, type Model } from "../lib/engine/model.js";
import { defaultPrefixCacheDir, userCacheDir } from "../lib/engine/cache-dir.js";
import { entryName, type PrefixDiskOptions } from "../lib/engine/prefix-disk.js";
import { prefixCacheDisk } from "../lib/cli/prefix-cache-args.js";
import { isLongRopeRegime } from "../lib/engine/rope-regime.js";
import { EXACT_ORACLE_OPTIONS, Oracle } from "./helpers/oracle.js";

const models = inject("models");
const greedy = { greedy: true };
const MIN_TOKENS = 32;

function ids(count: number, seed: number, vocab = 500): number[] {
  let x = seed;
  return Array.from({ length: count }, () => (x = (x * 1103515245 + 12345) % 2147483648) % vocab);
}

let scratch: string;
let oracle: Oracle;
const loaded: Model[] = [];

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), "phi4-prefix-disk-"));
  oracle = await Oracle.load(models.tiny);
});
afterAll(async () => {
  await Promise.all(loaded.map((m) => m.dispose()));
  await oracle?.release();
  await rm(scratch, { recursive: true, force: true });
});

/** A model on `dir` with nothing in memory: what a new process starts with. */
async function fresh(dir: string, options: Partial<LoadModelOptions> = {}): Promise<Model> {
  const model = await loadModel(models.tiny, { ...EXACT_ORACLE_OPTIONS, threads: 1, prefixCacheDisk: { dir, minTokens: MIN_TOKENS }, ...options });
  loaded.push(model);
  return model;
}

async function run(model: Model, prompt: number[], count = 5) {
  const sequence = await model.createSequence({ capacity: 200 });
  try {
    const result = await sequence.generateText(prompt, { maxTokens: count, stopTokens: [], sampling: greedy, append: false });
    await model.prefixDisk!.flush();
    return result;
  } finally {
    await sequence.dispose();
  }
}

/** The entry a prompt is stored under (the tiny model switches to the long RoPE cache past 64 tokens: these prompts run under it). */
function nameOf(model: Model, prompt: number[]): string {
  return entryName(model.kvLayout, isLongRopeRegime(model.folder.ropeOriginalLength, prompt.length), Int32Array.from(prompt));
}

async function entries(model: Model): Promise<string[]> {
  return (await readdir(model.prefixDisk!.dir).catch(() => [])).filter((n) => n.endsWith(".phi4kv")).sort();
}

/** Bytes that are no state file. */
const filler = (length: number) => Buffer.alloc(length, 7);

describe("the disk tier across processes", () => {
  it("a fresh model answers a stored prompt from the file, equal to the oracle, and one sharing its prefix too", async () => {
    const dir = path.join(scratch, "restart");
    const prompt = ids(120, 1);
    const first = await fresh(dir);
    const cold = await run(first, prompt);
    expect(cold.usage.cachedTokens).toBe(0);
    const [name] = await entries(first);
    expect(name).toBe(nameOf(first, prompt));

    const restarted = await fresh(dir);
    const warm = await run(restarted, prompt);
    // Everything but the last token (which runs for its logits) came from the file.
    expect(warm.usage.cachedTokens).toBe(prompt.length - 1);
    expect(restarted.prefixDisk!.stats).toMatchObject({ hits: 1, loadedTokens: prompt.length - 1 });
    expect(warm.tokens).toEqual(cold.tokens);
    await oracle.expectGreedy(prompt, warm.tokens, 5);

    const another = await fresh(dir);
    const branch = [...prompt.slice(0, 100), ...ids(10, 7)];
    const shared = await run(another, branch);
    expect(shared.usage.cachedTokens).toBe(100);
    await oracle.expectGreedy(branch, shared.tokens, 5);
    // The loaded state went into the memory tier: the same model needs no file the next time.
    const again = await run(another, [...prompt.slice(0, 100), ...ids(10, 8)]);
    expect(again.usage.cachedTokens).toBeGreaterThanOrEqual(100);
    expect(another.prefixDisk!.stats.hits).toBe(1);
  });

  it("a process started afresh (phi4 generate twice) hits the file the first one wrote", async () => {
    const dir = path.join(scratch, "cli");
    const prompt = "word ".repeat(80);
    const env = { ...process.env, PHI4_PREFIX_CACHE_DIR: dir };
    const generate = () =>
      promisify(execFile)(
        process.execPath,
        [
          "bin/phi4.js",
          "generate",
          "--model",
          models.tiny,
          "--max-tokens",
          "4",
          "--greedy",
          "--threads",
          "1",
          "--prefix-cache-min-tokens",
          String(MIN_TOKENS),
          "--prompt",
          prompt,
        ],
        { env },
      );
    const cold = await generate();
    const warm = await generate();
    expect(cold.stderr).toMatch(/cached 0 of (\d+) prompt tokens/);
    const total = Number(/of (\d+) prompt tokens/.exec(cold.stderr)![1]);
    expect(warm.stderr).toContain(`cached ${total - 1} of ${total} prompt tokens`);
    expect(warm.stdout).toBe(cold.stdout);
  });

  it("a prompt whose file would not fit the budget is stored as its longest prefix that does", async () => {
    const dir = path.join(scratch, "prefix-only");
    const probe = await fresh(dir);
    const perToken = 4 + probe.info.kvBytesPerToken;
    // Room for 80 tokens' file (64 KiB are set aside for the header).
    const options = { prefixCacheDisk: { dir, minTokens: MIN_TOKENS, maxBytes: 64 * 1024 + 80 * perToken + perToken / 2 } };
    const prompt = ids(120, 41);
    await run(await fresh(dir, options), prompt);
    const reader = await fresh(dir, options);
    const result = await run(reader, prompt);
    expect(result.usage.cachedTokens).toBe(80);
    await oracle.expectGreedy(prompt, result.tokens, 5);
  });

  it("two models writing the same prompt to one directory at once leave one good entry", async () => {
    const dir = path.join(scratch, "race");
    const prompt = ids(110, 31);
    const [a, b] = await Promise.all([fresh(dir), fresh(dir)]);
    await Promise.all([run(a, prompt), run(b, prompt)]);
    expect(await readdir(a.prefixDisk!.dir)).toEqual([nameOf(a, prompt)]);
    const reader = await fresh(dir);
    expect((await run(reader, prompt)).usage.cachedTokens).toBe(prompt.length - 1);
  });

  it("a temporary file a killed writer left is removed; one of a live writer stays", async () => {
    const dir = path.join(scratch, "killed");
    const model = await fresh(dir);
    await run(model, ids(100, 51));
    const [entry] = await entries(model);
    // A pid that no process has (above the kernel's limit) and this process's own.
    const dead = path.join(model.prefixDisk!.dir, `${entry}.4194999.0123abcd.tmp`);
    const live = path.join(model.prefixDisk!.dir, `${entry}.${process.pid}.0123abcd.tmp`);
    await writeFile(dead, filler(1000));
    await writeFile(live, filler(1000));
    const reader = await fresh(dir);
    await run(reader, ids(100, 51));
    const left = await readdir(model.prefixDisk!.dir);
    expect(left).not.toContain(path.basename(dead));
    expect(left).toContain(path.basename(live));
  });

  it("a prompt that adds fewer than minTokens to a stored one is not written; one that adds more supersedes it", async () => {
    const dir = path.join(scratch, "grow");
    const model = await fresh(dir);
    const base = ids(100, 2);
    await run(model, base);
    const [baseName] = await entries(model);
    await run(model, [...base, ...ids(MIN_TOKENS - 1, 3)]);
    expect(await entries(model)).toEqual([baseName]);
    const longer = [...base, ...ids(MIN_TOKENS + 5, 4)];
    await run(model, longer);
    expect(await entries(model)).toEqual([nameOf(model, longer)]);
    expect(model.prefixDisk!.stats.evictions).toBe(1);
  });

  it("stays within its byte budget, the least recently used entry going first", async () => {
    const dir = path.join(scratch, "budget");
    const probe = await fresh(dir);
    const prompts = [ids(100, 11), ids(100, 12), ids(100, 13)];
    await run(probe, prompts[0]);
    const [first] = await entries(probe);
    const size = (await readFile(path.join(probe.prefixDisk!.dir, first))).length;
    // Room for two entries of this size, not three.
    const model = await fresh(dir, { prefixCacheDisk: { dir, minTokens: MIN_TOKENS, maxBytes: 2 * size + size / 2 } });
    await run(model, prompts[1]);
    // Using the first entry makes the second the least recently used.
    expect((await run(model, prompts[0])).usage.cachedTokens).toBe(99);
    // Files the tier did not name are never its to evict, even in its folders.
    const foreign = [path.join(dir, "chat.phi4kv"), path.join(model.prefixDisk!.dir, "saved-chat.phi4kv")];
    for (const file of foreign) await writeFile(file, filler(size * 3));
    await run(model, prompts[2]);
    expect(await entries(model)).toEqual(["saved-chat.phi4kv", nameOf(model, prompts[0]), nameOf(model, prompts[2])].sort());
    for (const file of foreign) expect((await readFile(file)).length).toBe(size * 3);
  });
});

describe("entries that are not what they claim", () => {
  let model: Model;
  let dir: string;
  let good: Buffer;
  let goodName: string;
  const prompt = ids(90, 21);

  beforeAll(async () => {
    dir = path.join(scratch, "bad");
    model = await fresh(dir);
    await run(model, prompt);
    [goodName] = await entries(model);
    good = await readFile(path.join(model.prefixDisk!.dir, goodName));
  });

  /** Puts `bytes` under the good entry's name, then asks a fresh model for the prompt: it must prefill, remove the file, and still be right. */
  async function expectSkipped(prepare: (file: string) => Promise<void>) {
    const file = path.join(model.prefixDisk!.dir, goodName);
    await writeFile(file, good);
    await prepare(file);
    const reader = await fresh(dir);
    const result = await run(reader, prompt);
    expect(result.usage.cachedTokens).toBe(0);
    expect(reader.prefixDisk!.stats).toMatchObject({ hits: 0, removedInvalid: 1 });
    await oracle.expectGreedy(prompt, result.tokens, 5);
    // The prefill wrote a good entry again.
    expect(await readFile(file)).toEqual(good);
  }

  it("a corrupt KV byte (caught by the checksum when the file is read in full)", async () => {
    await expectSkipped(async (file) => {
      const handle = await open(file, "r+");
      await handle.write(Buffer.from([good[good.length - 100] ^ 0xff]), 0, 1, good.length - 100);
      await handle.close();
    });
  });

  it("a truncated file", async () => {
    await expectSkipped((file) => truncate(file, good.length - 1000));
  });

  it("another model's state under this model's directory", async () => {
    const other = await loadModel(models.tinyPhi4, { threads: 1 });
    loaded.push(other);
    const sequence = await other.createSequence({ capacity: 200 });
    await sequence.generateText(prompt, { maxTokens: 1, stopTokens: [], sampling: greedy });
    await expectSkipped(async (file) => sequence.saveStateFile(file));
  });

  it("a valid entry of this model under a name that is not its content's", async () => {
    await expectSkipped((file) => rename(file, path.join(path.dirname(file), "0".repeat(40) + ".phi4kv")));
  });
});

describe("options", () => {
  it("a bad directory, budget or minimum is INVALID_ARGUMENT before the model loads", async () => {
    for (const bad of [{ dir: "" }, { dir: scratch, maxBytes: 0 }, { dir: scratch, maxBytes: 1.5 }, { dir: scratch, minTokens: -1 }]) {
      await expect(loadModel(models.tiny, { prefixCacheDisk: bad })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    }
  });
});

describe("the command-line options", () => {
  it("--prefix-cache-disk-bytes takes a size as --kv-memory does (8GiB, 500MB, 1.5G, bytes)", () => {
    const bytes = (value: string) => (prefixCacheDisk({ "prefix-cache-disk-bytes": value }) as PrefixDiskOptions).maxBytes;
    expect(bytes("8GiB")).toBe(8 * 1024 ** 3);
    expect(bytes("500MB")).toBe(500 * 1024 ** 2);
    expect(bytes("1.5G")).toBe(1.5 * 1024 ** 3);
    expect(bytes("4096")).toBe(4096);
    for (const bad of ["", "0", "-1G", "lots", "8X"]) {
      expect(() => prefixCacheDisk({ "prefix-cache-disk-bytes": bad })).toThrow(/--prefix-cache-disk-bytes must be a size/);
    }
    expect(prefixCacheDisk({ "no-prefix-cache-disk": true, "prefix-cache-disk-bytes": "8G" })).toBe(false);
  });
});

describe("the default directory", () => {
  it("is the platform's user cache directory, or PHI4_PREFIX_CACHE_DIR", () => {
    expect(userCacheDir({ XDG_CACHE_HOME: "/x/cache" }, "linux", "/home/u")).toBe(path.join("/x/cache", "phi4-onnx"));
    // A relative XDG_CACHE_HOME is invalid and ignored.
    expect(userCacheDir({ XDG_CACHE_HOME: "cache" }, "linux", "/home/u")).toBe(path.join("/home/u", ".cache", "phi4-onnx"));
    expect(userCacheDir({}, "darwin", "/Users/u")).toBe(path.join("/Users/u", "Library", "Caches", "phi4-onnx"));
    expect(userCacheDir({ LOCALAPPDATA: "C:\\Users\\u\\AppData\\Local" }, "win32", "C:\\Users\\u")).toBe(
      path.join("C:\\Users\\u\\AppData\\Local", "phi4-onnx"),
    );
    expect(defaultPrefixCacheDir({ PHI4_PREFIX_CACHE_DIR: "/elsewhere" })).toBe("/elsewhere");
    expect(defaultPrefixCacheDir({ XDG_CACHE_HOME: "/x/cache" })).toBe(path.join(userCacheDir({ XDG_CACHE_HOME: "/x/cache" }), "prefix-cache"));
  });
});
