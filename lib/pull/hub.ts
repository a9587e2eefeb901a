/**
 * The two Hugging Face Hub HTTP calls phi4 pull needs, against any endpoint that speaks the same API
 * (huggingface.co, a mirror, or a test server):
 *   - the tree listing, `GET {endpoint}/api/models/{repo}/tree/main/{folder}?recursive=true`, a JSON
 *     array of `{ type: "file" | "directory", path, size, lfs?: { oid, size } }` (paths from the repo
 *     root; LFS files carry their sha256 as `lfs.oid`), paginated with a `Link: <url>; rel="next"` header;
 *   - the file itself, `GET {endpoint}/{repo}/resolve/main/{path}` (the hub redirects LFS files to its CDN).
 * The tree API is used rather than `GET /api/models/{repo}` (`siblings`) because only the tree gives
 * sizes and sha256 without extra requests, and it lists just the folder asked for.
 */
import { z } from "zod";

import { Phi4Error } from "../engine/errors.js";
import { hubFetch, type Hub } from "./hub-fetch.js";

export type { Hub } from "./hub-fetch.js";

export const DEFAULT_ENDPOINT = "https://huggingface.co";
const REVISION = "main";

export interface RemoteFile {
  /** Path from the repo root, "/"-separated. */
  path: string;
  size: number;
  /** Lowercase hex, when the listing gives one (LFS files); other files get a size check only. */
  sha256?: string;
}

const treeSchema = z.array(
  z
    .object({
      type: z.string(),
      path: z.string(),
      size: z.number().int().nonnegative().optional(),
      lfs: z.object({ oid: z.string(), size: z.number().int().nonnegative() }).passthrough().optional(),
    })
    .passthrough(),
);

const REPO_ID = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;

export function checkRepoId(repo: string): void {
  if (!REPO_ID.test(repo) || repo.includes("..")) {
    throw new Phi4Error("INVALID_ARGUMENT", `"${repo}" is not a Hugging Face repository id (expected owner/name, e.g. microsoft/Phi-4-mini-instruct-onnx)`);
  }
}

function encodePath(filePath: string): string {
  return filePath.split("/").map(encodeURIComponent).join("/");
}

export function fileUrl(hub: Hub, filePath: string): string {
  return `${hub.endpoint}/${hub.repo}/resolve/${REVISION}/${encodePath(filePath)}`;
}

/** Explains an HTTP failure status, with the fix where there is one. */
export function httpFailure(status: number, what: string): string {
  if (status === 401 || status === 403) return `${what}: HTTP ${status} (private or gated repository? set HF_TOKEN to a token that can read it)`;
  if (status === 404) return `${what}: HTTP 404 (check the repository id and --include)`;
  return `${what}: HTTP ${status}`;
}

/** The `rel="next"` URL of a Link header, if any. */
function nextPage(link: string | null): string | undefined {
  return link?.match(/<([^>]+)>\s*;\s*rel="?next"?/)?.[1];
}

/** Listing pages followed at most (the hub gives about a thousand entries a page). */
export const MAX_LIST_PAGES = 1000;
/** Files a listing may have at most. */
export const MAX_LIST_FILES = 100_000;

/**
 * Every file under `folder` (the whole repo when it is empty), recursively. A server whose `next`
 * links come back to a page already read, or never end, is an error rather than an endless loop.
 */
export async function listFiles(hub: Hub, folder: string): Promise<RemoteFile[]> {
  const suffix = folder ? `/${encodePath(folder)}` : "";
  let url: string | undefined = `${hub.endpoint}/api/models/${hub.repo}/tree/${REVISION}${suffix}?recursive=true`;
  const files: RemoteFile[] = [];
  const seen = new Set<string>();
  while (url) {
    const what = `listing ${hub.repo}${folder ? `/${folder}` : ""} (${url})`;
    if (seen.has(url)) throw new Phi4Error("DOWNLOAD_FAILED", `${what}: the listing's next-page links loop back to a page already read`);
    if (seen.size >= MAX_LIST_PAGES) throw new Phi4Error("DOWNLOAD_FAILED", `${what}: more than ${MAX_LIST_PAGES} listing pages`);
    seen.add(url);
    let response: Response;
    try {
      response = await hubFetch(hub, url);
    } catch (error) {
      if (error instanceof Phi4Error) throw error;
      throw new Phi4Error("DOWNLOAD_FAILED", `${what}: ${(error as Error).message}${causeOf(error)}`, { cause: error });
    }
    if (!response.ok) throw new Phi4Error("DOWNLOAD_FAILED", httpFailure(response.status, what));
    const parsed = treeSchema.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) throw new Phi4Error("DOWNLOAD_FAILED", `${what}: not a tree listing (a JSON array of { type, path, size })`);
    for (const entry of parsed.data) {
      if (entry.type !== "file") continue;
      const size = entry.lfs?.size ?? entry.size;
      if (size === undefined) throw new Phi4Error("DOWNLOAD_FAILED", `${what}: no size for ${entry.path}`);
      const sha = entry.lfs?.oid.toLowerCase();
      if (files.length >= MAX_LIST_FILES) throw new Phi4Error("DOWNLOAD_FAILED", `${what}: more than ${MAX_LIST_FILES} files`);
      files.push({
        path: entry.path,
        size,
        ...(sha && /^[0-9a-f]{64}$/.test(sha) ? { sha256: sha } : {}),
      });
    }
    const next = nextPage(response.headers.get("link"));
    url = next && new URL(next, url).href;
  }
  return files;
}

/** fetch() reports network failures as "fetch failed" with the real reason in `cause`. */
export function causeOf(error: unknown): string {
  const cause = (error as { cause?: { message?: unknown } }).cause;
  return typeof cause?.message === "string" ? ` (${cause.message})` : "";
}
