/**
 * A sequence's saved state: its tokens and the KV cache of its evaluated positions, with everything
 * needed to refuse it on the wrong model. In memory it is a SequenceState; on disk a small header,
 * then the tokens and the KV bytes, with a SHA-256 over both.
 *
 * File layout: "PHI4KV" 0x00 0x01 | u32 LE header length | header JSON | tokens (int32 LE) | KV bytes
 */
import { createHash } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";

import { Phi4Error } from "./errors.js";

export interface KvLayout {
  /** Model fingerprint (see fingerprint.ts). */
  fingerprint: string;
  kvType: "float32" | "float16";
  layers: number;
  kvHeads: number;
  headSize: number;
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

const MAGIC = Buffer.from([0x50, 0x48, 0x49, 0x34, 0x4b, 0x56, 0x00, 0x01]); // "PHI4KV" v1
const FORMAT = 1;

interface Header extends KvLayout {
  format: number;
  tokens: number;
  kvLength: number;
  longRope: boolean;
  kvBytes: number;
  sha256: string;
  metadata?: unknown;
}

export function kvBytesPerToken(layout: KvLayout): number {
  return layout.layers * 2 * layout.kvHeads * layout.headSize * (layout.kvType === "float16" ? 2 : 4);
}

/** Throws STATE_MISMATCH unless `state` was made by a model with `layout`. */
export function checkStateFits(state: KvLayout, layout: KvLayout): void {
  const fields = ["fingerprint", "kvType", "layers", "kvHeads", "headSize"] as const;
  const differing = fields.filter((field) => state[field] !== layout[field]);
  if (differing.length > 0) {
    const detail = differing.map((field) => `${field} ${state[field]} (state) vs ${layout[field]} (model)`).join(", ");
    throw new Phi4Error("STATE_MISMATCH", `this state was saved from a different model: ${detail}`);
  }
}

function digest(tokens: Uint8Array, kv: Uint8Array): string {
  return createHash("sha256").update(tokens).update(kv).digest("hex");
}

function tokenBytes(tokens: Int32Array): Buffer {
  const bytes = Buffer.alloc(tokens.length * 4);
  tokens.forEach((token, i) => bytes.writeInt32LE(token, i * 4));
  return bytes;
}

/** Writes `state` to `file` atomically (a temporary file, then a rename). */
export async function writeStateFile(file: string, state: SequenceState): Promise<void> {
  const tokens = tokenBytes(state.tokens);
  const header: Header = {
    format: FORMAT,
    fingerprint: state.fingerprint,
    kvType: state.kvType,
    layers: state.layers,
    kvHeads: state.kvHeads,
    headSize: state.headSize,
    tokens: state.tokens.length,
    kvLength: state.kvLength,
    longRope: state.longRope,
    kvBytes: state.kv.byteLength,
    sha256: digest(tokens, state.kv),
    metadata: state.metadata,
  };
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, Buffer.concat([MAGIC, length, json, tokens, state.kv]));
  await rename(temporary, file);
}

/** Reads and checks a state file: a truncated, corrupt or foreign file is STATE_INVALID. */
export async function readStateFile(file: string): Promise<SequenceState> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (error) {
    throw new Phi4Error("STATE_INVALID", `cannot read the state file ${file}: ${(error as Error).message}`, { cause: error });
  }
  const invalid = (why: string) => new Phi4Error("STATE_INVALID", `${file} is not a usable phi4-onnx state file: ${why}`);
  if (data.length < MAGIC.length + 4 || !data.subarray(0, MAGIC.length).equals(MAGIC)) throw invalid("wrong magic bytes");
  const headerLength = data.readUInt32LE(MAGIC.length);
  const headerStart = MAGIC.length + 4;
  if (headerStart + headerLength > data.length) throw invalid("truncated header");
  let header: Header;
  try {
    header = JSON.parse(data.subarray(headerStart, headerStart + headerLength).toString("utf8"));
  } catch {
    throw invalid("corrupt header");
  }
  if (header.format !== FORMAT) throw invalid(`format ${header.format}, expected ${FORMAT}`);
  const integers = [header.tokens, header.kvLength, header.kvBytes, header.layers, header.kvHeads, header.headSize];
  if (!integers.every((n) => Number.isInteger(n) && n >= 0) || header.kvLength > header.tokens || header.tokens - header.kvLength > 1) {
    throw invalid("inconsistent header");
  }
  if (header.kvBytes !== header.kvLength * kvBytesPerToken(header)) throw invalid("KV size does not match its shape");
  const tokensStart = headerStart + headerLength;
  const kvStart = tokensStart + header.tokens * 4;
  if (kvStart + header.kvBytes !== data.length) {
    throw invalid(`expected ${kvStart + header.kvBytes} bytes, found ${data.length} (${kvStart + header.kvBytes > data.length ? "truncated" : "trailing data"})`);
  }
  const tokenData = data.subarray(tokensStart, kvStart);
  const kv = data.subarray(kvStart);
  if (digest(tokenData, kv) !== header.sha256) throw invalid("checksum mismatch (the file is corrupt)");
  const tokens = new Int32Array(header.tokens);
  for (let i = 0; i < tokens.length; i++) tokens[i] = tokenData.readInt32LE(i * 4);
  return {
    fingerprint: header.fingerprint,
    kvType: header.kvType,
    layers: header.layers,
    kvHeads: header.kvHeads,
    headSize: header.headSize,
    tokens,
    kvLength: header.kvLength,
    longRope: header.longRope,
    kv,
    metadata: header.metadata,
  };
}
