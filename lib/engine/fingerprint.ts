/**
 * A model's identity for KV states: a state is only valid on the exact graph and weights that made it.
 * Hashing gigabytes of weights at every load would be slow, so the fingerprint covers genai_config.json
 * and, for model.onnx and every external data file beside it, the size plus the first and last MiB.
 * Any re-export, re-quantization or different seed changes those bytes.
 */
import { createHash } from "node:crypto";
import { open, readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";

const EDGE = 1 << 20;

async function hashEdges(file: string, hash: ReturnType<typeof createHash>): Promise<void> {
  const { size } = await stat(file);
  hash.update(`${path.basename(file)}:${size}:`);
  const handle = await open(file, "r");
  try {
    const head = Buffer.alloc(Math.min(EDGE, size));
    await handle.read(head, 0, head.length, 0);
    hash.update(head);
    if (size > EDGE) {
      const tail = Buffer.alloc(Math.min(EDGE, size - EDGE));
      await handle.read(tail, 0, tail.length, size - tail.length);
      hash.update(tail);
    }
  } finally {
    await handle.close();
  }
}

export async function modelFingerprint(dir: string, modelPath: string): Promise<string> {
  const hash = createHash("sha256");
  hash.update(await readFile(path.join(dir, "genai_config.json")));
  const base = path.basename(modelPath);
  const companions = (await readdir(path.dirname(modelPath))).filter((name) => name !== base && name.startsWith(base)).sort();
  for (const file of [base, ...companions]) await hashEdges(path.join(path.dirname(modelPath), file), hash);
  return hash.digest("hex").slice(0, 32);
}
