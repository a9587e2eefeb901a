/**
 * Pulls files of a Hugging Face model repository into a local folder, keeping their repo paths
 * (as `huggingface-cli download --local-dir` does): list, filter to the --include folders, skip what
 * is already complete, download the rest one by one (resumable, verified, renamed into place).
 */
import { stat } from "node:fs/promises";
import path from "node:path";

import { Phi4Error } from "../engine/errors.js";
import { downloadFile } from "./download.js";
import { sha256File } from "./hash.js";
import { checkRepoId, fileUrl, listFiles, type Hub, type RemoteFile } from "./hub.js";

export { DEFAULT_ENDPOINT } from "./hub.js";

export interface PullOptions {
  repo: string;
  /** Repo folders to fetch (each with everything under it); empty: the whole repo. */
  include: string[];
  /** Local folder that mirrors the repo. */
  dir: string;
  endpoint: string;
  token?: string;
  /** Extra attempts per file after a network failure (default 3). */
  retries?: number;
  /** Wait before the first retry, doubling after (default 1000 ms). */
  retryDelayMs?: number;
  /** Bytes done and total over all files, and the file being worked on. */
  onProgress?: (done: number, total: number, file: string) => void;
}

export interface PulledFile extends RemoteFile {
  local: string;
  /** "complete": it was already there with the right size and sha256. */
  status: "downloaded" | "complete";
}

export interface PullResult {
  dir: string;
  files: PulledFile[];
  /** Folders among the pulled files that hold a genai_config.json. */
  modelDirs: string[];
}

export async function pullModel(options: PullOptions): Promise<PullResult> {
  checkRepoId(options.repo);
  const hub: Hub = { endpoint: options.endpoint.replace(/\/+$/, ""), repo: options.repo, token: options.token };
  const dir = path.resolve(options.dir);
  const include = options.include.map((folder) => folder.replace(/^\/+|\/+$/g, ""));
  const remote = await listAll(hub, include);
  // Every path is checked before any file is written: a listing with one unsafe path writes nothing.
  const locals = checkedLocalPaths(dir, remote);

  const total = remote.reduce((sum, f) => sum + f.size, 0);
  let finished = 0;
  const files: PulledFile[] = [];
  for (const [i, file] of remote.entries()) {
    const local = locals[i]!;
    const progress = (bytes: number) => options.onProgress?.(finished + bytes, total, file.path);
    progress(0);
    const status = (await isComplete(local, file, progress)) ? "complete" : "downloaded";
    if (status === "downloaded") {
      await downloadFile({
        url: fileUrl(hub, file.path),
        hub,
        dest: local,
        size: file.size,
        sha256: file.sha256,
        retries: options.retries ?? 3,
        retryDelayMs: options.retryDelayMs ?? 1000,
        onProgress: progress,
      });
    }
    finished += file.size;
    progress(0);
    files.push({ ...file, local, status });
  }
  const modelDirs = files.filter((f) => path.posix.basename(f.path) === "genai_config.json").map((f) => path.dirname(f.local));
  return { dir, files, modelDirs };
}

/** The listing of each included folder (or the whole repo), without duplicates. */
async function listAll(hub: Hub, include: string[]): Promise<RemoteFile[]> {
  const byPath = new Map<string, RemoteFile>();
  for (const folder of include.length > 0 ? include : [""]) {
    const listed = await listFiles(hub, folder);
    if (listed.length === 0) {
      throw new Phi4Error("DOWNLOAD_FAILED", `${hub.repo} has no files${folder ? ` under ${folder}` : ""} (check --include)`);
    }
    for (const file of listed) byPath.set(file.path, file);
  }
  return [...byPath.values()];
}

/**
 * Where each listed file goes. A listing must not place files outside the folder ("..", absolute
 * paths, backslashes, NUL), list one path twice, or use a path both as a file and as a folder.
 */
function checkedLocalPaths(dir: string, files: readonly RemoteFile[]): string[] {
  const unsafe = (repoPath: string, why: string) =>
    new Phi4Error("DOWNLOAD_FAILED", `the listing has an unsafe path "${repoPath}" (${why}); nothing was downloaded`);
  const locals = files.map((file) => {
    const segments = file.path.split("/");
    if (file.path.includes("\\") || file.path.includes("\0")) throw unsafe(file.path, "a backslash or NUL");
    if (segments.some((s) => s === "" || s === "." || s === "..")) throw unsafe(file.path, "an empty, . or .. segment");
    const local = path.resolve(dir, ...segments);
    if (!local.startsWith(dir + path.sep)) throw unsafe(file.path, "outside the folder");
    return local;
  });
  const seen = new Set<string>();
  for (const [i, local] of locals.entries()) {
    // Case-folded: on macOS and Windows "A.onnx" and "a.onnx" are one file.
    const key = local.toLowerCase();
    if (seen.has(key)) throw unsafe(files[i]!.path, "listed twice");
    seen.add(key);
  }
  for (const [i, local] of locals.entries()) {
    for (let parent = path.dirname(local); parent.length > dir.length; parent = path.dirname(parent)) {
      if (seen.has(parent.toLowerCase())) throw unsafe(files[i]!.path, "under a path listed as a file");
    }
  }
  return locals;
}

/** The file is already there with the listed size and, when the listing has one, sha256. */
async function isComplete(local: string, file: RemoteFile, progress: (bytes: number) => void): Promise<boolean> {
  const info = await stat(local).catch(() => undefined);
  if (!info?.isFile() || info.size !== file.size) return false;
  if (!file.sha256) return true;
  let hashed = 0;
  const ok = (await sha256File(local, (n) => progress((hashed += n)))) === file.sha256;
  if (!ok) progress(0);
  return ok;
}
