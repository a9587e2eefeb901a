/**
 * The prefix cache's disk tier: the KV of long prompts kept as state files (sequence-state.ts: the
 * same format and integrity checks) under a cache directory, so that a restarted process, a second
 * server or a one-shot command answers a known long prompt without prefilling it again.
 *
 * Layout: ROOT/<model fingerprint>/<entry>.phi4kv, where <entry> is a hash of the fingerprint, the KV
 * type, the RoPE regime and the tokens: every file names its own content. Nothing else is kept: the
 * in-memory index (tokens and size of each entry) is rebuilt from the files' headers, and a file is
 * trusted only after readStateFile has checked all of it (size, checksum, shape) and its content
 * still hashes to its name. A corrupt, truncated or foreign file is removed, never used.
 *
 * Writes run in the background (sliced, asynchronous file I/O) into a temporary name, then a rename:
 * processes sharing the directory never see half a file. The directory is an LRU bounded by
 * maxBytes across all models in it (a file's modification time is its last use); an entry whose
 * tokens a newer entry extends is removed as superseded.
 */
import { createHash } from "node:crypto";
import { constants as bufferConstants } from "node:buffer";
import { mkdir, readdir, stat, unlink, utimes } from "node:fs/promises";
import path from "node:path";

import { Phi4Error } from "./errors.js";
import { commonPrefixLength } from "./prefix-cache.js";
import {
  checkStateFits,
  kvBytesPerToken,
  readStateFile,
  readStateFileHeader,
  removeStaleTemporaries,
  writeStateFile,
  type KvLayout,
  type SequenceState,
} from "./sequence-state.js";

export interface PrefixDiskOptions {
  /** The cache directory (shared by every model and process that uses it). */
  dir: string;
  /** Bytes the directory's entries may take, all models together; the least recently used go first. Default 16 GiB. */
  maxBytes?: number;
  /**
   * Prompts shorter than this are not written, and a stored prefix is only read when it saves at
   * least this many tokens of prefill (a file is worth its I/O for long prefixes only). Default 1024.
   */
  minTokens?: number;
}

export interface PrefixDiskStats {
  /** Lookups answered from a file, and the prompt tokens those spared a prefill. */
  hits: number;
  loadedTokens: number;
  writes: number;
  /** Background writes that failed (a full disk, a read-only directory); the cache carries on without them. */
  writeErrors: number;
  /** Files removed because they were corrupt, truncated or not what their name says. */
  removedInvalid: number;
  /** Files removed to stay under maxBytes, or because a newer entry extends them. */
  evictions: number;
  /** Entries of this model in the index. */
  entries: number;
}

export interface DiskMatch {
  state: SequenceState;
  /** Tokens of the target the state's KV covers. */
  length: number;
}

interface Entry {
  tokens: Int32Array;
  longRope: boolean;
}

const EXTENSION = ".phi4kv";
/**
 * The names the tier writes: only such files and folders are ever listed, evicted or removed, so a
 * directory given by mistake (one holding saved chats, say) loses nothing else.
 */
const ENTRY_NAME = /^[0-9a-f]{40}\.phi4kv$/;
const MODEL_FOLDER = /^[0-9a-f]{32}$/;
/** A temporary file of a write under way (or of a killed writer): the entry's name, the writer's pid, a random part. */
const TEMPORARY = /^([0-9a-f]{40}\.phi4kv)\.\d+\.[0-9a-f]{8}\.tmp$/;
/** Room for a file's header (the preamble, the JSON, the checksum) beside its tokens and KV. */
const FILE_OVERHEAD = 64 * 1024;
const DEFAULT_MAX_BYTES = 16 * 2 ** 30;
const DEFAULT_MIN_TOKENS = 1024;

/** The entry name of a state: a hash of what the KV depends on (the model, its KV type, the RoPE regime, every token). */
export function entryName(layout: Pick<KvLayout, "fingerprint" | "kvType">, longRope: boolean, tokens: Int32Array): string {
  const hash = createHash("sha256").update(`phi4kv-prefix\0${layout.fingerprint}\0${layout.kvType}\0${longRope ? "long" : "short"}\0`);
  hash.update(new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength));
  return hash.digest("hex").slice(0, 40) + EXTENSION;
}

/** Throws INVALID_ARGUMENT for options the tier cannot run with (checked before a model loads). */
export function checkPrefixDiskOptions(options: PrefixDiskOptions): void {
  if (typeof options.dir !== "string" || options.dir === "") throw new Phi4Error("INVALID_ARGUMENT", "the prefix cache directory must be a non-empty path");
  const { maxBytes = DEFAULT_MAX_BYTES, minTokens = DEFAULT_MIN_TOKENS } = options;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new Phi4Error("INVALID_ARGUMENT", `the prefix cache's disk budget must be a positive number of bytes (got ${maxBytes})`);
  }
  if (!Number.isInteger(minTokens) || minTokens < 1)
    throw new Phi4Error("INVALID_ARGUMENT", `the disk tier's minimum prefix must be a positive integer (got ${minTokens})`);
}

export class PrefixDiskCache {
  readonly root: string;
  /** This model's entries. */
  readonly dir: string;
  readonly maxBytes: number;
  readonly minTokens: number;
  private readonly index = new Map<string, Entry>();
  private refreshing: Promise<void> | undefined;
  /** The newest state waiting to be written (an older one still waiting is dropped for it), and the one being written. */
  private pending: SequenceState | undefined;
  private writing: SequenceState | undefined;
  private drained: Promise<void> = Promise.resolve();
  private readonly counters = { hits: 0, loadedTokens: 0, writes: 0, writeErrors: 0, removedInvalid: 0, evictions: 0 };

  constructor(
    options: PrefixDiskOptions,
    private readonly layout: KvLayout,
  ) {
    checkPrefixDiskOptions(options);
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.minTokens = options.minTokens ?? DEFAULT_MIN_TOKENS;
    this.root = path.resolve(options.dir);
    this.dir = path.join(this.root, layout.fingerprint);
  }

  get stats(): PrefixDiskStats {
    return { ...this.counters, entries: this.index.size };
  }

  /**
   * The stored state sharing the longest prefix with `target` (at most `limit` tokens of it), if it
   * covers at least `atLeast` + minTokens tokens; checked in full before it is returned. A file that
   * fails the checks is removed and the next best is tried.
   */
  async load(target: readonly number[], longRope: boolean, limit: number, atLeast: number): Promise<DiskMatch | undefined> {
    if (limit - atLeast < this.minTokens) return undefined;
    await this.refresh();
    const candidates = [...this.index]
      .filter(([, entry]) => entry.longRope === longRope)
      .map(([name, entry]) => ({ name, entry, length: Math.min(commonPrefixLength(entry.tokens, target), limit) }))
      .filter((c) => c.length >= atLeast + this.minTokens)
      .sort((a, b) => b.length - a.length);
    for (const { name, entry, length } of candidates) {
      const state = await this.read(name, entry);
      if (!state) continue;
      this.counters.hits++;
      this.counters.loadedTokens += length;
      const now = new Date();
      await utimes(path.join(this.dir, name), now, now).catch(() => undefined); // its last use, for the LRU
      return { state, length };
    }
    return undefined;
  }

  /**
   * How many leading tokens of `tokens` are worth writing (0: none). A file must fit the budget and be
   * read back into one Node.js buffer, so a prompt too long for that is stored as its longest prefix
   * that fits (the system prompt and tools come first: a restart still skips most of the prefill).
   * It must be at least minTokens long, and at least minTokens longer than what an entry (or a write
   * under way) already covers.
   */
  storableLength(tokens: readonly number[], longRope: boolean): number {
    const limit = Math.min(this.maxBytes, bufferConstants.MAX_LENGTH) - FILE_OVERHEAD;
    const length = Math.min(tokens.length, Math.floor(limit / (4 + kvBytesPerToken(this.layout))));
    if (length < this.minTokens) return 0;
    const prefix = tokens.slice(0, length);
    let covered = 0;
    const known = [...this.index.values(), this.pending, this.writing].filter((e): e is Entry => e !== undefined && e.longRope === longRope);
    for (const entry of known) covered = Math.max(covered, commonPrefixLength(entry.tokens, prefix));
    return length - covered >= this.minTokens ? length : 0;
  }

  /** Writes `state` (KV for all its tokens) in the background; see flush. */
  store(state: SequenceState): void {
    if (state.kvLength !== state.tokens.length) throw new Phi4Error("INVALID_ARGUMENT", "a prefix cache entry holds KV for every one of its tokens");
    this.pending = state;
    if (this.writing) return;
    this.drained = this.drain();
  }

  /** Counts a state that could not be taken for writing (as a failed write). */
  skipped(): void {
    this.counters.writeErrors++;
  }

  /** Resolves once every write asked for so far has finished (or failed). */
  async flush(): Promise<void> {
    for (;;) {
      const drained = this.drained;
      await drained;
      if (drained === this.drained) return;
    }
  }

  private async drain(): Promise<void> {
    while (this.pending) {
      const state = (this.writing = this.pending);
      this.pending = undefined;
      try {
        await this.write(state);
        this.counters.writes++;
      } catch {
        this.counters.writeErrors++;
      } finally {
        this.writing = undefined;
      }
    }
  }

  private async write(state: SequenceState): Promise<void> {
    const tokens = state.tokens.slice(0, state.kvLength);
    const name = entryName(this.layout, state.longRope, tokens);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeStateFile(path.join(this.dir, name), { ...state, tokens, metadata: undefined });
    this.index.set(name, { tokens, longRope: state.longRope });
    // An entry the new one extends is superseded (its every use is served by the new one).
    for (const [other, entry] of this.index) {
      if (other === name || entry.longRope !== state.longRope) continue;
      if (commonPrefixLength(entry.tokens, tokens) === entry.tokens.length) await this.remove(other, "evictions");
    }
    await this.enforceBudget();
  }

  /** Removes the least recently used entries (of any model in the directory) until they fit maxBytes. */
  private async enforceBudget(): Promise<void> {
    const files: { file: string; name: string; bytes: number; used: number }[] = [];
    for (const sub of (await listDir(this.root)).filter((name) => MODEL_FOLDER.test(name))) {
      for (const name of await listDir(path.join(this.root, sub))) {
        if (!ENTRY_NAME.test(name)) continue;
        const file = path.join(this.root, sub, name);
        const info = await stat(file).catch(() => undefined);
        if (info?.isFile()) files.push({ file, name, bytes: info.size, used: info.mtimeMs });
      }
    }
    let total = files.reduce((sum, f) => sum + f.bytes, 0);
    files.sort((a, b) => a.used - b.used);
    for (const f of files) {
      if (total <= this.maxBytes) break;
      await unlink(f.file).catch(() => undefined);
      if (path.dirname(f.file) === this.dir) this.index.delete(f.name);
      this.counters.evictions++;
      total -= f.bytes;
    }
  }

  /** Brings the index up to date with the directory (another process may have added or removed entries). */
  private refresh(): Promise<void> {
    this.refreshing ??= this.scan().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async scan(): Promise<void> {
    const listed = await listDir(this.dir);
    // What a writer killed mid-write left (gigabytes, maybe) goes once its process is gone.
    const interrupted = new Set(listed.map((name) => TEMPORARY.exec(name)?.[1]).filter((name): name is string => name !== undefined));
    for (const name of interrupted) await removeStaleTemporaries(path.join(this.dir, name));
    const names = new Set(listed.filter((name) => ENTRY_NAME.test(name)));
    for (const name of this.index.keys()) if (!names.has(name)) this.index.delete(name);
    for (const name of names) {
      if (this.index.has(name)) continue;
      try {
        const header = await readStateFileHeader(path.join(this.dir, name));
        const tokens = header.tokens;
        if (!this.ownEntry(name, header, tokens)) await this.remove(name, "removedInvalid");
        else this.index.set(name, { tokens, longRope: header.longRope });
      } catch (error) {
        // A bad file goes; any other failure to read it (no file handles left, say) skips it this time.
        if (isBadFile(error) && (await exists(path.join(this.dir, name)))) await this.remove(name, "removedInvalid");
      }
    }
  }

  /** Reads an entry in full; a file that fails any check is removed. */
  private async read(name: string, entry: Entry): Promise<SequenceState | undefined> {
    try {
      const state = await readStateFile(path.join(this.dir, name));
      if (
        this.ownEntry(name, state, state.tokens) &&
        commonPrefixLength(state.tokens, entry.tokens) === entry.tokens.length &&
        state.tokens.length === entry.tokens.length
      )
        return state;
    } catch (error) {
      // Anything but a bad file (no memory for it, say) is a miss that leaves the file alone.
      if (!isBadFile(error)) return undefined;
      if (!(await exists(path.join(this.dir, name)))) {
        this.index.delete(name); // removed meanwhile (another process evicted it)
        return undefined;
      }
    }
    await this.remove(name, "removedInvalid");
    return undefined;
  }

  /** A file this model wrote under this name: its layout is the model's, it has KV for every token, and its content hashes to its name. */
  private ownEntry(name: string, header: KvLayout & { kvLength: number; longRope: boolean }, tokens: Int32Array): boolean {
    try {
      checkStateFits({ ...header, tokens }, this.layout);
    } catch {
      return false;
    }
    return header.kvLength === tokens.length && entryName(this.layout, header.longRope, tokens) === name;
  }

  private async remove(name: string, counter: "removedInvalid" | "evictions"): Promise<void> {
    this.index.delete(name);
    await unlink(path.join(this.dir, name)).catch(() => undefined);
    this.counters[counter]++;
  }
}

/** The file was read and is not a usable state (as opposed to a file that could not be opened: gone, no permission, no handles). */
function isBadFile(error: unknown): boolean {
  return error instanceof Phi4Error && error.code === "STATE_INVALID" && !(error.cause as NodeJS.ErrnoException | undefined)?.code;
}

async function listDir(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
