// Serializes a BuiltGraph to model.onnx. Inline mode packs every initializer into the protobuf (fine
// below protobuf's 2 GiB limit). External mode writes the protobuf with TensorProto.external_data
// references first (offsets are known from the sizes), then streams each initializer's chunks into
// model.onnx.data, so memory use stays at a few chunks whatever the model size.

import { open, writeFile } from "node:fs/promises";
import path from "node:path";
import { onnx, type BuiltGraph, type TensorProto, type TensorSpec } from "./graph-builder.js";

/** Tensors smaller than this stay inline even in external mode (onnx's own default threshold). */
const EXTERNAL_THRESHOLD = 1024;
/** External tensors start on page boundaries so onnxruntime can memory-map them. */
const ALIGNMENT = 4096;

export const OPSET_IMPORTS = [
  { domain: "", version: 21 },
  { domain: "com.microsoft", version: 1 },
];
export const IR_VERSION = 10;

export interface WriteOnnxOptions {
  graph: BuiltGraph;
  dir: string;
  fileName: string;
  externalData: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface WrittenOnnx {
  files: string[];
  bytes: number;
}

function concat(chunks: Iterable<Uint8Array>, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  if (at !== length) throw new Error(`tensor produced ${at} bytes, expected ${length}`);
  return out;
}

export async function writeOnnxModel(opts: WriteOnnxOptions): Promise<WrittenOnnx> {
  const { graph, dir, fileName, externalData, onProgress } = opts;
  const dataName = `${fileName}.data`;
  const total = graph.initializers.reduce((sum, t) => sum + t.byteLength, 0);
  let done = 0;
  const progress = (bytes: number) => {
    done += bytes;
    onProgress?.(done, total);
  };

  const streamed: { spec: TensorSpec; offset: number }[] = [];
  let dataLength = 0;
  const initializer: TensorProto[] = graph.initializers.map((spec) => {
    const header = { name: spec.name, dataType: spec.dataType, dims: spec.dims };
    if (!externalData || spec.byteLength < EXTERNAL_THRESHOLD) {
      const rawData = concat(spec.chunks(), spec.byteLength);
      progress(spec.byteLength);
      return { ...header, rawData };
    }
    const offset = Math.ceil(dataLength / ALIGNMENT) * ALIGNMENT;
    dataLength = offset + spec.byteLength;
    streamed.push({ spec, offset });
    return {
      ...header,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: "location", value: dataName },
        { key: "offset", value: String(offset) },
        { key: "length", value: String(spec.byteLength) },
      ],
    };
  });

  const model = onnx.ModelProto.encode({
    irVersion: IR_VERSION,
    opsetImport: OPSET_IMPORTS,
    producerName: "phi4-onnx modelmaker",
    graph: {
      name: graph.name,
      node: graph.nodes,
      input: graph.inputs,
      output: graph.outputs,
      initializer,
    },
  }).finish();
  await writeFile(path.join(dir, fileName), model);
  if (streamed.length === 0) return { files: [fileName], bytes: model.length };

  const file = await open(path.join(dir, dataName), "w");
  try {
    let position = 0;
    for (const { spec, offset } of streamed) {
      if (offset > position) {
        await file.write(new Uint8Array(offset - position), 0, offset - position, position);
        position = offset;
      }
      for (const chunk of spec.chunks()) {
        await file.write(chunk, 0, chunk.length, position);
        position += chunk.length;
        progress(chunk.length);
      }
      if (position !== offset + spec.byteLength) throw new Error(`tensor ${spec.name} has the wrong length`);
    }
  } finally {
    await file.close();
  }
  return { files: [fileName, dataName], bytes: model.length + dataLength };
}
