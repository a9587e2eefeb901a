// Streams a GGUF file to disk: the header, then each tensor's chunks at its aligned offset. Tensors are
// generated as they are written, so a 3.8B-parameter file never needs more than a chunk or two (and
// one matrix's scales) in memory.

import { open } from "node:fs/promises";

import { ggufLayout, type GgufTensor, type GgufValue } from "./format.js";

export async function writeGguf(
  file: string,
  metadata: ReadonlyArray<readonly [string, GgufValue]>,
  tensors: readonly GgufTensor[],
  onProgress?: (done: number, total: number) => void,
): Promise<number> {
  const layout = ggufLayout(metadata, tensors);
  const total = layout.header.length + layout.dataBytes;
  const handle = await open(file, "w");
  try {
    await handle.write(layout.header, 0, layout.header.length, 0);
    let done = layout.header.length;
    for (const [i, tensor] of tensors.entries()) {
      const { offset, byteLength } = layout.tensors[i];
      let position = layout.header.length + offset;
      let written = 0;
      for (const chunk of tensor.chunks()) {
        if (written + chunk.length > byteLength) throw new Error(`${tensor.name}: more than its ${byteLength} bytes`);
        await handle.write(chunk, 0, chunk.length, position);
        position += chunk.length;
        written += chunk.length;
        done += chunk.length;
        onProgress?.(done, total);
      }
      if (written !== byteLength) throw new Error(`${tensor.name}: ${written} of its ${byteLength} bytes`);
    }
    // The data section ends on the alignment, as llama.cpp's own writer leaves it.
    await handle.truncate(total);
    onProgress?.(total, total);
    return total;
  } finally {
    await handle.close();
  }
}
