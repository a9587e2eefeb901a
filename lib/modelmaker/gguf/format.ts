// The GGUF container (version 3), as llama.cpp's gguf reader expects it (ggml/docs/gguf.md):
//
//   "GGUF" magic, uint32 version 3, uint64 tensor count, uint64 metadata count,
//   metadata: key (string) + uint32 value type + value, where a string is a uint64 byte length and
//     UTF-8 bytes (no terminator) and an array is a uint32 element type, a uint64 count and the elements,
//   tensor infos: name (string), uint32 dimension count, uint64 per dimension (ne0 first: the row
//     length comes first), uint32 ggml type, uint64 offset from the start of the data section,
//   zero padding to `general.alignment` (32 by default), then the data: each tensor at its offset, each
//     offset a multiple of the alignment.
//
// Everything is little-endian. Value type codes are gguf_type (ggml's gguf.h); tensor type codes are
// ggml_type (ggml.h).

export const GGUF_ALIGNMENT = 32;

/** gguf_type codes of the value kinds this writer emits. */
const ValueType = { UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9 } as const;

/** ggml_type codes of the tensor types this writer emits, with their block shape. */
export const GgmlType = {
  F32: { code: 0, blockElements: 1, blockBytes: 4 },
  /** 32 elements: fp16 scale d, then 16 bytes; byte j holds element j (low nibble) and j + 16 (high); value d * (q - 8). */
  Q4_0: { code: 2, blockElements: 32, blockBytes: 18 },
} as const;
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];

export type GgufValue =
  | { kind: "u32"; value: number }
  | { kind: "f32"; value: number }
  | { kind: "bool"; value: boolean }
  | { kind: "string"; value: string }
  | { kind: "i32[]"; value: ArrayLike<number> }
  | { kind: "f32[]"; value: ArrayLike<number> }
  | { kind: "string[]"; value: readonly string[] };

export const gguf = {
  u32: (value: number): GgufValue => ({ kind: "u32", value }),
  f32: (value: number): GgufValue => ({ kind: "f32", value }),
  bool: (value: boolean): GgufValue => ({ kind: "bool", value }),
  string: (value: string): GgufValue => ({ kind: "string", value }),
  i32s: (value: ArrayLike<number>): GgufValue => ({ kind: "i32[]", value }),
  f32s: (value: ArrayLike<number>): GgufValue => ({ kind: "f32[]", value }),
  strings: (value: readonly string[]): GgufValue => ({ kind: "string[]", value }),
};

/** A tensor to write: its bytes come from `chunks()`, which must yield exactly `byteLength` bytes. */
export interface GgufTensor {
  name: string;
  /** ggml order: dims[0] is the row length (the innermost, contiguous dimension). */
  dims: number[];
  type: GgmlType;
  chunks(): Iterable<Uint8Array>;
}

/** Bytes of a tensor of this type and shape; the row length must be a whole number of blocks. */
export function tensorByteLength(type: GgmlType, dims: number[]): number {
  if (dims[0] % type.blockElements !== 0) throw new Error(`a row of ${dims[0]} elements is not a whole number of ${type.blockElements}-element blocks`);
  return (dims.reduce((a, b) => a * b, 1) / type.blockElements) * type.blockBytes;
}

export const alignUp = (n: number, alignment = GGUF_ALIGNMENT) => Math.ceil(n / alignment) * alignment;

/** Little-endian byte sink that grows as needed. */
class ByteSink {
  private buffer = Buffer.alloc(1 << 16);
  length = 0;

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.alloc(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
  u32(v: number): void {
    this.reserve(4);
    this.length = this.buffer.writeUInt32LE(v, this.length);
  }
  i32(v: number): void {
    this.reserve(4);
    this.length = this.buffer.writeInt32LE(v, this.length);
  }
  u64(v: number): void {
    this.reserve(8);
    this.length = this.buffer.writeBigUInt64LE(BigInt(v), this.length);
  }
  f32(v: number): void {
    this.reserve(4);
    this.length = this.buffer.writeFloatLE(v, this.length);
  }
  u8(v: number): void {
    this.reserve(1);
    this.length = this.buffer.writeUInt8(v, this.length);
  }
  string(s: string): void {
    const bytes = Buffer.from(s, "utf8");
    this.u64(bytes.length);
    this.reserve(bytes.length);
    this.length += bytes.copy(this.buffer, this.length);
  }
  zeros(count: number): void {
    this.reserve(count);
    this.buffer.fill(0, this.length, this.length + count);
    this.length += count;
  }
  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

function writeValue(sink: ByteSink, v: GgufValue): void {
  const array = (elementType: number, count: number, each: (i: number) => void) => {
    sink.u32(ValueType.ARRAY);
    sink.u32(elementType);
    sink.u64(count);
    for (let i = 0; i < count; i++) each(i);
  };
  switch (v.kind) {
    case "u32":
      if (!Number.isInteger(v.value) || v.value < 0 || v.value > 0xffffffff) throw new Error(`not a uint32: ${v.value}`);
      sink.u32(ValueType.UINT32);
      return sink.u32(v.value);
    case "f32":
      sink.u32(ValueType.FLOAT32);
      return sink.f32(v.value);
    case "bool":
      sink.u32(ValueType.BOOL);
      return sink.u8(v.value ? 1 : 0);
    case "string":
      sink.u32(ValueType.STRING);
      return sink.string(v.value);
    case "i32[]":
      return array(ValueType.INT32, v.value.length, (i) => sink.i32(v.value[i]));
    case "f32[]":
      return array(ValueType.FLOAT32, v.value.length, (i) => sink.f32(v.value[i]));
    case "string[]":
      return array(ValueType.STRING, v.value.length, (i) => sink.string(v.value[i]));
  }
}

export interface GgufLayout {
  /** Everything before the data section, padded to the alignment. */
  header: Buffer;
  /** Each tensor's offset in the data section and byte length, in the order given. */
  tensors: { offset: number; byteLength: number }[];
  /** Size of the data section, the last tensor padded to the alignment. */
  dataBytes: number;
}

/** Encodes the header of a GGUF file holding `metadata` and `tensors`, with every tensor's data offset. */
export function ggufLayout(metadata: ReadonlyArray<readonly [string, GgufValue]>, tensors: readonly GgufTensor[]): GgufLayout {
  const keys = new Set<string>();
  for (const [key] of metadata) {
    if (keys.has(key)) throw new Error(`duplicate GGUF metadata key ${key}`);
    keys.add(key);
  }
  const sink = new ByteSink();
  for (const c of "GGUF") sink.u8(c.charCodeAt(0)); // the magic: four raw bytes, not a GGUF string
  sink.u32(3);
  sink.u64(tensors.length);
  sink.u64(metadata.length);
  for (const [key, value] of metadata) {
    sink.string(key);
    writeValue(sink, value);
  }
  const placed: { offset: number; byteLength: number }[] = [];
  let offset = 0;
  for (const t of tensors) {
    const byteLength = tensorByteLength(t.type, t.dims);
    sink.string(t.name);
    sink.u32(t.dims.length);
    for (const d of t.dims) sink.u64(d);
    sink.u32(t.type.code);
    sink.u64(offset);
    placed.push({ offset, byteLength });
    offset = alignUp(offset + byteLength);
  }
  sink.zeros(alignUp(sink.length) - sink.length);
  return { header: Buffer.from(sink.bytes()), tensors: placed, dataBytes: offset };
}
