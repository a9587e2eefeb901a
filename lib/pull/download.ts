/**
 * Downloads one file into place. Bytes go to `<dest>.part`; a later attempt (or a later run) resumes
 * from the .part's size with an HTTP Range request; only a file with the listed size (and sha256, when
 * the listing has one) is renamed to `dest`, so `dest` never holds a partial or corrupt file.
 */
import { createHash, type Hash } from "node:crypto";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import { Phi4Error } from "../engine/errors.js";
import { hashInto } from "./hash.js";
import { causeOf, httpFailure, type Hub } from "./hub.js";
import { hubFetch } from "./hub-fetch.js";

export interface DownloadRequest {
  url: string;
  /** The hub the file is on (its token goes to the hub's origin only, see hub-fetch.ts). */
  hub: Hub;
  dest: string;
  size: number;
  sha256?: string;
  /** Extra attempts after a network failure, an HTTP 429/5xx or a short body; each resumes from the .part. */
  retries: number;
  /** Wait before the first retry; doubles for each one after. */
  retryDelayMs: number;
  /** Bytes of this file on disk so far, resumed prefix included (back to 0 if a server ignores Range). */
  onProgress?: (bytes: number) => void;
}

/** A failure that another attempt, resuming from the .part, may get past. */
class Transient extends Error {}

export async function downloadFile(request: DownloadRequest): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await attemptDownload(request);
    } catch (error) {
      if (error instanceof Phi4Error) throw error;
      // Local file errors (no space, no permission) are not worth retrying either.
      if (!(error instanceof Transient)) throw new Phi4Error("DOWNLOAD_FAILED", `${request.dest}: ${(error as Error).message}`, { cause: error });
      if (attempt >= request.retries) {
        const tries = attempt + 1;
        throw new Phi4Error(
          "DOWNLOAD_FAILED",
          `${error.message} (${tries} attempt${tries > 1 ? "s" : ""}); the partial file ${request.dest}.part is kept and the next pull resumes it`,
          { cause: error },
        );
      }
      await sleep(request.retryDelayMs * 2 ** attempt);
    }
  }
}

async function attemptDownload(r: DownloadRequest): Promise<void> {
  const part = `${r.dest}.part`;
  await mkdir(path.dirname(part), { recursive: true });
  let have = (await stat(part).catch(() => undefined))?.size ?? 0;
  if (have > r.size) {
    await rm(part); // longer than the file, so not a prefix of it
    have = 0;
  }
  const hash = r.sha256 ? createHash("sha256") : undefined;
  // A complete .part (the run stopped before its rename) needs no request; an empty file needs one
  // so that the .part gets created.
  if (have < r.size || have === 0) {
    const response = await get(r, have);
    let offset = 0;
    if (response.status === 206) {
      const start = /^bytes (\d+)-/.exec(response.headers.get("content-range") ?? "")?.[1];
      if (Number(start) !== have) {
        await response.body?.cancel();
        await rm(part, { force: true });
        throw new Transient(`${r.url}: the server sent a different range than asked for (${start} instead of ${have}); starting over`);
      }
      if (hash && have > 0) await hashInto(hash, part);
      offset = have;
    } // else 200: the whole file, even when a range was asked for (servers may ignore Range)
    r.onProgress?.(offset);
    offset = await appendBody(r, response, part, offset, hash);
    if (offset < r.size) throw new Transient(`${r.url}: the connection closed after ${offset} of ${r.size} bytes`);
  } else if (hash) {
    await hashInto(hash, part);
  }
  await verify(r, part, hash);
  await rename(part, r.dest);
}

/** GET from `from` on; what a later attempt may fix is Transient, the rest a DOWNLOAD_FAILED error. */
async function get(r: DownloadRequest, from: number): Promise<Response> {
  let response: Response;
  try {
    response = await hubFetch(r.hub, r.url, from > 0 ? { range: `bytes=${from}-` } : {});
  } catch (error) {
    if (error instanceof Phi4Error) throw error;
    throw new Transient(`${r.url}: ${(error as Error).message}${causeOf(error)}`, { cause: error });
  }
  if (response.status === 200 || response.status === 206) return response;
  await response.body?.cancel();
  const message = httpFailure(response.status, `downloading ${r.url}`);
  if (response.status === 429 || response.status >= 500) throw new Transient(message);
  throw new Phi4Error("DOWNLOAD_FAILED", message);
}

/** Writes the body to the .part from `offset` (0: truncate), hashing as it goes; returns the new size. */
async function appendBody(r: DownloadRequest, response: Response, part: string, offset: number, hash: Hash | undefined): Promise<number> {
  const file = await open(part, offset === 0 ? "w" : "a");
  let size = offset;
  try {
    for await (const chunk of bodyChunks(response, r.url)) {
      size += chunk.length;
      if (size > r.size) break;
      hash?.update(chunk);
      // One write awaited per chunk: whatever arrived is on disk if the connection then drops.
      await file.write(chunk);
      r.onProgress?.(size);
    }
  } finally {
    await file.close();
  }
  if (size > r.size) {
    await rm(part, { force: true });
    throw new Phi4Error("DOWNLOAD_FAILED", `${r.url}: the server sent more than the ${r.size} bytes the listing gives; the download was removed`);
  }
  return size;
}

/** The response body's chunks; a connection lost mid-body is Transient (the .part keeps what arrived). */
async function* bodyChunks(response: Response, url: string): AsyncGenerator<Uint8Array> {
  if (!response.body) return;
  try {
    for await (const chunk of response.body) yield chunk as Uint8Array;
  } catch (error) {
    throw new Transient(`${url}: the connection was lost (${(error as Error).message}${causeOf(error)})`, { cause: error });
  }
}

async function verify(r: DownloadRequest, part: string, hash: Hash | undefined): Promise<void> {
  const size = (await stat(part)).size;
  const digest = hash?.digest("hex");
  const problem =
    size !== r.size ? `has ${size} bytes, the listing says ${r.size}` : digest !== r.sha256 ? `has sha256 ${digest}, the listing says ${r.sha256}` : undefined;
  if (problem) {
    await rm(part, { force: true });
    throw new Phi4Error("DOWNLOAD_FAILED", `${r.dest} ${problem}; the download was removed`);
  }
}
