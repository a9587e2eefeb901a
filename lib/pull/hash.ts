/** sha256 of a file on disk, streamed (model weights are gigabytes). */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";

/** Feeds the file's bytes into `hash` (so a resumed download can go on hashing from there). */
export async function hashInto(hash: Hash, file: string, onBytes?: (bytes: number) => void): Promise<void> {
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    onBytes?.(chunk.length);
  }
}

export async function sha256File(file: string, onBytes?: (bytes: number) => void): Promise<string> {
  const hash = createHash("sha256");
  await hashInto(hash, file, onBytes);
  return hash.digest("hex");
}
