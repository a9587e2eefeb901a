/**
 * A sequence's saved state: its tokens and the KV cache of its evaluated positions, with everything
 * needed to refuse it on the wrong model. In memory it is a SequenceState; on disk a small header,
 * then the tokens and the KV bytes, then a SHA-256 of everything before it.
 *
 * File layout (format 2): "PHI4KV" 0x00 0x02 | u32 LE header length | header JSON | tokens (int32 LE)
 * | KV bytes | SHA-256 of all the preceding bytes (32 bytes).
 *
 * A state file may come from anywhere, so reading it trusts nothing: only a regular file is opened
 * (a FIFO or a device would hang or never end), its size must be what its header declares before
 * anything more is read, the checksum covers the header (a changed byte of the metadata or of the
 * fingerprint is corruption, not another model), and every token must be in the vocabulary.
 * Format 1 (before the checksum covered the header) is refused with a message that says so.
 */
import { createHash, randomBytes } from "node:crypto";
import { constants as bufferConstants } from "node:buffer";
import { constants, type Stats } from "node:fs";
import { open, readdir, rename, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";

import { Phi4Error } from "./errors.js";

export interface KvLayout {
  /** Model fingerprint (see fingerprint.ts). */
  fingerprint: string;
  kvType: "float32" | "float16";
  layers: number;
  kvHeads: number;
  headSize: number;
  /** Token ids of the model are below this. */
  vocabSize: number;
}

export interface SequenceState extends KvLayout {
  /** Every token of the sequence. */
  tokens: Int32Array;
  /** Positions whose KV is in `kv` (tokens.length, or one less when the last token was not yet evaluated). */
  kvLength: number;
  /** The LongRoPE regime the KV was built under. */
  longRope: boolean;
  /** KV bytes, [layer][K, V][kv head][position][head_size] for kvLength positions. */
  kv: Uint8Array;
  /** Caller data stored with the state (a chat session keeps its messages here). */
  metadata?: unknown;
}

export interface ReadStateOptions {
  /** Largest file accepted, in bytes. Default 64 GiB (a 131072-token Phi-4-mini state is 32 GiB). */
  maxBytes?: number;
}

export interface WriteStateOptions {
  /** Allow a state without tokens (a saved conversation that has no KV). Default false: saving an empty sequence is an error. */
  allowEmpty?: boolean;
}

const MAGIC_PREFIX = Buffer.from("PHI4KV\0", "latin1");
const FORMAT = 2;
const MAGIC = Buffer.concat([MAGIC_PREFIX, Buffer.from([FORMAT])]);
const PREAMBLE = MAGIC.length + 4;
const DIGEST_BYTES = 32;
/** The header holds the metadata (a chat's messages): generous, but read before the size is checked. */
const MAX_HEADER_BYTES = 256 * 2 ** 20;
const DEFAULT_MAX_BYTES = 64 * 2 ** 30;
const BUFFER_MAX = bufferConstants.MAX_LENGTH;
/** Bytes hashed and written or read per call: small enough that hashing one slice is a few milliseconds. */
const IO_SLICE = 16 * 2 ** 20;

interface Header extends KvLayout {
  format: number;
  tokens: number;
  kvLength: number;
  longRope: boolean;
  kvBytes: number;
  metadata?: unknown;
}

/** The KV layout fields of a header (and nothing else it carries). */
function layoutOf(header: KvLayout): KvLayout {
  const { fingerprint, kvType, layers, kvHeads, headSize, vocabSize } = header;
  return { fingerprint, kvType, layers, kvHeads, headSize, vocabSize };
}

export function kvBytesPerToken(layout: Pick<KvLayout, "kvType" | "layers" | "kvHeads" | "headSize">): number {
  return layout.layers * 2 * layout.kvHeads * layout.headSize * (layout.kvType === "float16" ? 2 : 4);
}

/** Throws STATE_MISMATCH unless `state` was made by a model with `layout`, STATE_INVALID if a token is outside its vocabulary. */
export function checkStateFits(state: KvLayout & { tokens?: Int32Array }, layout: KvLayout): void {
  const fields = ["fingerprint", "kvType", "layers", "kvHeads", "headSize", "vocabSize"] as const;
  const differing = fields.filter((field) => state[field] !== layout[field]);
  if (differing.length > 0) {
    const detail = differing.map((field) => `${field} ${state[field]} (state) vs ${layout[field]} (model)`).join(", ");
    throw new Phi4Error("STATE_MISMATCH", `this state was saved from a different model: ${detail}`);
  }
  const bad = state.tokens === undefined ? -1 : state.tokens.findIndex((t) => t < 0 || t >= layout.vocabSize);
  if (bad >= 0)
    throw new Phi4Error("STATE_INVALID", `token ${bad} of the state (${state.tokens![bad]}) is not a token id of this model (0..${layout.vocabSize - 1})`);
}

function tokenBytes(tokens: Int32Array): Buffer {
  const bytes = Buffer.alloc(tokens.length * 4);
  tokens.forEach((token, i) => bytes.writeInt32LE(token, i * 4));
  return bytes;
}

/**
 * Writes `state` to `file` atomically: a new temporary file beside it (created exclusively, owner-only,
 * flushed), then a rename. Temporary files that killed writers left for the same file are removed first.
 */
export async function writeStateFile(file: string, state: SequenceState, options: WriteStateOptions = {}): Promise<void> {
  if (state.tokens.length === 0 && !options.allowEmpty) throw new Phi4Error("INVALID_ARGUMENT", "nothing to save: the sequence is empty");
  const tokens = tokenBytes(state.tokens);
  // An empty native buffer may come back detached; there is nothing to copy from it anyway.
  const kv = state.kv.byteLength === 0 ? new Uint8Array(0) : state.kv;
  const header: Header = {
    format: FORMAT,
    fingerprint: state.fingerprint,
    kvType: state.kvType,
    layers: state.layers,
    kvHeads: state.kvHeads,
    headSize: state.headSize,
    vocabSize: state.vocabSize,
    tokens: state.tokens.length,
    kvLength: state.kvLength,
    longRope: state.longRope,
    kvBytes: kv.byteLength,
    metadata: state.metadata,
  };
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);

  await removeStaleTemporaries(file);
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  let handle: FileHandle | undefined;
  try {
    handle = await open(temporary, "wx", 0o600);
    // Written and hashed a slice at a time: a state of gigabytes never holds the event loop for long.
    const hash = createHash("sha256");
    let position = 0;
    for (const part of [MAGIC, length, json, tokens, kv]) {
      for (let at = 0; at < part.byteLength; at += IO_SLICE) {
        const slice = part.subarray(at, Math.min(part.byteLength, at + IO_SLICE));
        hash.update(slice);
        position += await writeAll(handle, slice, position);
      }
    }
    await writeAll(handle, hash.digest(), position);
    await handle.datasync();
    await handle.close();
    handle = undefined;
    await rename(temporary, file);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await unlink(temporary).catch(() => undefined);
    throw new Phi4Error("INVALID_ARGUMENT", `cannot write the state file ${file}: ${(error as Error).message}`, { cause: error });
  }
}

/** Writes all of `bytes` at `position` (a write may take fewer); returns how many. */
async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < bytes.byteLength) done += (await handle.write(bytes, done, bytes.byteLength - done, position + done)).bytesWritten;
  return done;
}

/** Removes FILE.<pid>.<random>.tmp files whose writing process is gone (killed during a save). */
export async function removeStaleTemporaries(file: string): Promise<void> {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return; // the write itself reports a missing directory
  }
  for (const name of names) {
    const match = name.startsWith(prefix) ? /^(\d+)\.(?:[0-9a-f]{8}\.)?tmp$/.exec(name.slice(prefix.length)) : null;
    if (match && !processAlive(Number(match[1]))) await unlink(path.join(dir, name)).catch(() => undefined);
  }
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true; // another save of this process may be writing it now
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"; // alive, someone else's
  }
}

/** What a state file says about itself before its body is checked: enough to index it. */
export interface StateFileHeader extends KvLayout {
  tokens: Int32Array;
  kvLength: number;
  longRope: boolean;
  kvBytes: number;
  /** The file's size in bytes. */
  bytes: number;
}

/**
 * Reads a state file's header and tokens only, without reading the KV or checking the checksum
 * (readStateFile does both): for an index of many large files. The same shape checks apply, so a
 * truncated, oversized or malformed file is STATE_INVALID here already; a corrupt KV byte is not.
 */
export async function readStateFileHeader(file: string, options: ReadStateOptions = {}): Promise<StateFileHeader> {
  return withStateFile(file, options, async (opened) => {
    const tokenBytes = await readExactly(opened.handle, opened.tokensStart, opened.header.tokens * 4);
    const tokens = readTokens(tokenBytes, opened.header, opened.invalid);
    const { header } = opened;
    return { ...layoutOf(header), tokens, kvLength: header.kvLength, longRope: header.longRope, kvBytes: header.kvBytes, bytes: opened.size };
  });
}

/** Reads and checks a state file: a truncated, corrupt, oversized or foreign file, or one that is not a regular file, is STATE_INVALID. */
export async function readStateFile(file: string, options: ReadStateOptions = {}): Promise<SequenceState> {
  return withStateFile(file, options, async ({ handle, header, headerBytes, preamble, tokensStart, size, invalid }) => {
    if (size - tokensStart > BUFFER_MAX)
      throw invalid(`its ${size - tokensStart} bytes of tokens and KV are more than one Node.js buffer holds (${BUFFER_MAX})`);
    // Read and hashed a slice at a time: a state of gigabytes never holds the event loop for long.
    const body = Buffer.allocUnsafe(size - tokensStart);
    const hash = createHash("sha256").update(preamble).update(headerBytes);
    const hashed = body.length - DIGEST_BYTES;
    for (let at = 0; at < body.length; at += IO_SLICE) {
      const slice = body.subarray(at, Math.min(body.length, at + IO_SLICE));
      await readInto(handle, slice, tokensStart + at);
      if (at < hashed) hash.update(slice.subarray(0, Math.min(slice.length, hashed - at)));
    }
    if (!hash.digest().equals(body.subarray(hashed))) throw invalid("checksum mismatch (the file is corrupt)");
    const tokens = readTokens(body, header, invalid);
    return {
      ...layoutOf(header),
      tokens,
      kvLength: header.kvLength,
      longRope: header.longRope,
      kv: body.subarray(header.tokens * 4, hashed),
      metadata: header.metadata,
    };
  });
}

interface OpenedState {
  handle: FileHandle;
  size: number;
  preamble: Buffer;
  headerBytes: Buffer;
  header: Header;
  tokensStart: number;
  invalid: (why: string) => Phi4Error;
}

/** Opens a state file and checks everything up to its body: a regular file, the magic, the header, the size it declares. */
async function withStateFile<T>(file: string, options: ReadStateOptions, use: (opened: OpenedState) => Promise<T>): Promise<T> {
  const invalid = (why: string) => new Phi4Error("STATE_INVALID", `${file} is not a usable phi4-onnx state file: ${why}`);
  let handle: FileHandle;
  try {
    // Non-blocking: opening a FIFO for reading would otherwise wait for a writer forever.
    handle = await open(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    throw new Phi4Error("STATE_INVALID", `cannot read the state file ${file}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const stats: Stats = await handle.stat();
    if (!stats.isFile()) throw invalid("not a regular file");
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    if (stats.size > maxBytes) throw invalid(`${stats.size} bytes, more than the limit of ${maxBytes}`);
    const size = stats.size;
    const preamble = await readExactly(handle, 0, Math.min(PREAMBLE, size));
    if (preamble.length < PREAMBLE || !preamble.subarray(0, MAGIC_PREFIX.length).equals(MAGIC_PREFIX)) throw invalid("wrong magic bytes");
    const format = preamble[MAGIC_PREFIX.length]!;
    if (format !== FORMAT) {
      throw invalid(
        format < FORMAT
          ? `format ${format}, written by an older phi4-onnx whose checksum did not cover the header; this version reads format ${FORMAT} only (save the state again)`
          : `format ${format}, newer than this version reads (${FORMAT})`,
      );
    }
    const headerLength = preamble.readUInt32LE(MAGIC.length);
    if (headerLength > MAX_HEADER_BYTES || PREAMBLE + headerLength + DIGEST_BYTES > size) throw invalid("truncated or oversized header");
    const headerBytes = await readExactly(handle, PREAMBLE, headerLength);
    const header = parseHeader(headerBytes, invalid);
    const tokensStart = PREAMBLE + headerLength;
    const expected = tokensStart + header.tokens * 4 + header.kvBytes + DIGEST_BYTES;
    if (expected !== size) throw invalid(`expected ${expected} bytes, found ${size} (${expected > size ? "truncated" : "trailing data"})`);
    return await use({ handle, size, preamble, headerBytes, header, tokensStart, invalid });
  } finally {
    await handle.close();
  }
}

/** The tokens at the start of `bytes`; the state's own vocabulary bounds them (the model's is checked again when it is restored). */
function readTokens(bytes: Buffer, header: Header, invalid: (why: string) => Phi4Error): Int32Array {
  const tokens = new Int32Array(header.tokens);
  for (let i = 0; i < tokens.length; i++) tokens[i] = bytes.readInt32LE(i * 4);
  const bad = tokens.findIndex((t) => t < 0 || t >= header.vocabSize);
  if (bad >= 0) throw invalid(`token ${bad} (${tokens[bad]}) is outside the vocabulary (0..${header.vocabSize - 1})`);
  return tokens;
}

function parseHeader(bytes: Buffer, invalid: (why: string) => Phi4Error): Header {
  let header: Header;
  try {
    header = JSON.parse(bytes.toString("utf8")) as Header;
  } catch {
    throw invalid("corrupt header");
  }
  if (header === null || typeof header !== "object") throw invalid("corrupt header");
  const counts = [header.tokens, header.kvLength, header.kvBytes, header.layers, header.kvHeads, header.headSize, header.vocabSize];
  const shaped =
    counts.every((n) => Number.isSafeInteger(n) && n >= 0) &&
    typeof header.fingerprint === "string" &&
    (header.kvType === "float32" || header.kvType === "float16") &&
    typeof header.longRope === "boolean" &&
    header.format === FORMAT;
  if (!shaped || header.kvLength > header.tokens || header.tokens - header.kvLength > 1) throw invalid("inconsistent header");
  if (header.kvBytes !== header.kvLength * kvBytesPerToken(header)) throw invalid("KV size does not match its shape");
  return header;
}

/** `length` bytes at `position`; fewer (the file shrank while being read) is a truncated file. */
async function readExactly(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  await readInto(handle, buffer, position);
  return buffer;
}

/** Fills `buffer` from `position`. */
async function readInto(handle: FileHandle, buffer: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buffer.length) {
    const { bytesRead } = await handle.read(buffer, done, Math.min(buffer.length - done, 2 ** 30), position + done);
    if (bytesRead === 0) throw new Phi4Error("STATE_INVALID", "the state file ended early (truncated while being read)");
    done += bytesRead;
  }
}
