/**
 * phi4 pull against a loopback server that speaks the Hugging Face Hub API (tree listing, resolve
 * with a CDN-style redirect, Range) and serves the generated tiny model in a repo layout.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";

import { pullModel } from "../lib/pull/index.js";

const run = promisify(execFile);
const models = inject("models");
const bin = path.resolve("bin/phi4.js");

const REPO = "test/phi4-tiny-onnx";
const FOLDER = "cpu_and_mobile/cpu-tiny";
const CORRUPT_REPO = "test/corrupt";
const LFS = new Set(["model.onnx", "tokenizer.json"]);

interface ServedFile {
  data: Buffer;
  /** The sha256 the listing claims (wrong on purpose in the corrupt repo). */
  listedSha256?: string;
}

/** A Hugging Face Hub stand-in; its switches make it misbehave the way real networks and servers do. */
class FakeHub {
  readonly repos = new Map<string, Map<string, ServedFile>>();
  readonly requests: { path: string; range?: string; authorization?: string }[] = [];
  /** Files whose next download sends half the bytes, then drops the connection. */
  readonly dropOnce = new Set<string>();
  /** Answer Range requests with 200 and the whole file. */
  ignoreRange = false;
  /** When set, every request needs `Authorization: Bearer <it>`. */
  requireToken: string | undefined;
  /** Where resolve redirects to (another origin, like the hub's CDN); default this server. */
  cdnBase: string | undefined;
  /** Replaces a listing page's `next` link (given the page's URL and the link it would have had). */
  pageLink: ((page: URL, next: string | undefined) => string | undefined) | undefined;
  url = "";
  private readonly server = http.createServer((req, res) => this.handle(req, res));

  async start(): Promise<void> {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, "close");
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url!, this.url);
    this.requests.push({ path: url.pathname, range: req.headers.range, authorization: req.headers.authorization });
    if (this.requireToken && req.headers.authorization !== `Bearer ${this.requireToken}`) return void res.writeHead(401).end();
    const parts = url.pathname.split("/").slice(1).map(decodeURIComponent);
    if (parts[0] === "api" && parts[1] === "models" && parts[4] === "tree" && parts[5] === "main") {
      return this.tree(res, url, `${parts[2]}/${parts[3]}`, parts.slice(6).join("/"));
    }
    // /{repo}/resolve/main/{path} redirects to /cdn/{repo}/{path}, as the hub does for LFS files.
    if (parts[2] === "resolve" && parts[3] === "main") {
      return void res
        .writeHead(302, { location: `${this.cdnBase ?? ""}/cdn/${parts.slice(0, 2).join("/")}/${parts.slice(4).map(encodeURIComponent).join("/")}` })
        .end();
    }
    if (parts[0] === "cdn") return this.file(req, res, `${parts[1]}/${parts[2]}`, parts.slice(3).join("/"));
    res.writeHead(404).end();
  }

  /** The tree API: entries under `folder`, four per page, with a Link header to the next page. */
  private tree(res: http.ServerResponse, url: URL, repo: string, folder: string): void {
    const files = this.repos.get(repo);
    const inside = [...(files?.keys() ?? [])].filter((p) => !folder || p.startsWith(`${folder}/`));
    if (inside.length === 0) return void res.writeHead(404).end(JSON.stringify({ error: "Entry not found" }));
    const dirs = new Set(
      inside.flatMap((p) =>
        p
          .split("/")
          .slice(0, -1)
          .map((_, i, segs) => segs.slice(0, i + 1).join("/")),
      ),
    );
    const entries = [
      ...[...dirs].filter((d) => d.startsWith(folder) && d !== folder).map((d) => ({ type: "directory", oid: "0".repeat(40), size: 0, path: d })),
      ...inside.map((p) => {
        const { data, listedSha256 } = files!.get(p)!;
        const gitOid = createHash("sha1").update(`blob ${data.length}\0`).update(data).digest("hex");
        return {
          type: "file",
          oid: gitOid,
          size: data.length,
          path: p,
          ...(listedSha256 ? { lfs: { oid: listedSha256, size: data.length, pointerSize: 134 } } : {}),
        };
      }),
    ].sort((a, b) => a.path.localeCompare(b.path));
    const cursor = Number(url.searchParams.get("cursor") ?? 0);
    const headers: Record<string, string> = { "content-type": "application/json" };
    const next = cursor + 4 < entries.length ? `${this.url}${url.pathname}?recursive=true&cursor=${cursor + 4}` : undefined;
    const link = this.pageLink ? this.pageLink(url, next) : next;
    if (link) headers.link = `<${link}>; rel="next"`;
    res.writeHead(200, headers).end(JSON.stringify(entries.slice(cursor, cursor + 4)));
  }

  private file(req: http.IncomingMessage, res: http.ServerResponse, repo: string, filePath: string): void {
    const data = this.repos.get(repo)?.get(filePath)?.data;
    if (!data) return void res.writeHead(404).end();
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const start = range && !this.ignoreRange ? Number(range[1]) : 0;
    if (start >= data.length && data.length > 0) return void res.writeHead(416).end();
    const body = data.subarray(start);
    res.writeHead(start > 0 ? 206 : 200, {
      "content-length": body.length,
      ...(start > 0 ? { "content-range": `bytes ${start}-${data.length - 1}/${data.length}` } : {}),
    });
    if (this.dropOnce.delete(filePath)) {
      // Half the bytes, flushed, then the connection dies mid-body.
      res.write(body.subarray(0, body.length >> 1), () => setTimeout(() => res.destroy(), 50));
      return;
    }
    res.end(body);
  }
}

const hub = new FakeHub();
let work: string;
let tinyFiles: string[];

async function phi4(args: string[], env: Record<string, string> = {}) {
  const clean = { ...process.env };
  delete clean.HF_TOKEN;
  delete clean.HF_ENDPOINT;
  return run(process.execPath, [bin, ...args], { env: { ...clean, ...env }, maxBuffer: 16 << 20 });
}

async function phi4Fails(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
  try {
    await phi4(args, env);
  } catch (error) {
    return error as { code: number; stderr: string };
  }
  throw new Error(`phi4 ${args.join(" ")} succeeded but should have failed`);
}

const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

beforeAll(async () => {
  tinyFiles = (await readdir(models.tiny)).sort();
  const repo = new Map<string, ServedFile>([["README.md", { data: Buffer.from("# tiny\n") }]]);
  for (const name of tinyFiles) {
    const data = await readFile(path.join(models.tiny, name));
    repo.set(`${FOLDER}/${name}`, { data, listedSha256: LFS.has(name) ? sha256(data) : undefined });
  }
  repo.set("gpu/gpu-tiny/model.onnx", { data: Buffer.alloc(1000, 7), listedSha256: sha256(Buffer.alloc(1000, 7)) });
  hub.repos.set(REPO, repo);
  const good = Buffer.alloc(4096, 1);
  hub.repos.set(CORRUPT_REPO, new Map([["model.onnx", { data: Buffer.alloc(4096, 2), listedSha256: sha256(good) }]]));
  await hub.start();
  work = await mkdtemp(path.join(os.tmpdir(), "phi4-pull-"));
});

afterAll(async () => {
  await hub.stop();
  await rm(work, { recursive: true, force: true });
});

beforeEach(() => {
  hub.requests.length = 0;
  hub.dropOnce.clear();
  hub.ignoreRange = false;
  hub.requireToken = undefined;
  hub.pageLink = undefined;
  hub.cdnBase = undefined;
});

async function expectIdentical(dir: string): Promise<void> {
  expect((await readdir(dir)).sort()).toEqual(tinyFiles);
  for (const name of tinyFiles) {
    expect((await readFile(path.join(dir, name))).equals(await readFile(path.join(models.tiny, name))), name).toBe(true);
  }
}

describe("phi4 pull", () => {
  it("pulls an included folder with HF_TOKEN, the files are identical, re-pulling skips them, and the folder generates", async () => {
    const dir = path.join(work, "first");
    hub.requireToken = "hf_secret";
    const { stdout } = await phi4(["pull", REPO, "--include", FOLDER, "--dir", dir, "--endpoint", hub.url], { HF_TOKEN: "hf_secret" });
    const pulled = path.join(dir, ...FOLDER.split("/"));
    await expectIdentical(pulled);
    expect(await readdir(dir)).toEqual(["cpu_and_mobile"]); // neither README.md nor gpu/
    expect(stdout).toContain(`${tinyFiles.length} downloaded, 0 already complete`);
    expect(stdout).toMatch(/model folder .*cpu-tiny: phi3, 2 layers/);
    expect(stdout).toContain(`run it: phi4 generate --model ${pulled} --chat "Hello"`);
    expect(hub.requests.every((r) => r.authorization === "Bearer hf_secret")).toBe(true);
    expect(hub.requests.filter((r) => r.path.includes("/tree/")).length).toBeGreaterThan(1); // followed the Link pages

    hub.requests.length = 0;
    hub.requireToken = undefined;
    const again = await phi4(["pull", REPO, "--include", FOLDER, "--dir", dir], { HF_ENDPOINT: hub.url });
    expect(again.stdout).toContain(`0 downloaded, ${tinyFiles.length} already complete`);
    expect(hub.requests.filter((r) => !r.path.includes("/tree/"))).toEqual([]);

    const args = ["generate", "--tokens", "5,6,7,8", "--max-tokens", "6", "--greedy", "--json"];
    const fromPull = JSON.parse((await phi4([...args, "--model", pulled])).stdout);
    const original = JSON.parse((await phi4([...args, "--model", models.tiny])).stdout);
    expect(fromPull.tokens.length).toBeGreaterThan(0);
    expect(fromPull.tokens).toEqual(original.tokens);
  });

  it("a dropped connection leaves a .part that the next pull resumes with a Range request", async () => {
    const dir = path.join(work, "resume");
    const model = path.join(dir, ...FOLDER.split("/"), "model.onnx");
    hub.dropOnce.add(`${FOLDER}/model.onnx`);
    const failed = await phi4Fails(["pull", REPO, "--include", FOLDER, "--dir", dir, "--endpoint", hub.url, "--retries", "0"]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/DOWNLOAD_FAILED: .*model\.onnx.*next pull resumes it/);
    expect(await exists(model)).toBe(false);
    const partSize = (await stat(`${model}.part`)).size;
    const fullSize = (await stat(path.join(models.tiny, "model.onnx"))).size;
    expect(partSize).toBeGreaterThan(0);
    expect(partSize).toBeLessThan(fullSize);

    hub.requests.length = 0;
    await phi4(["pull", REPO, "--include", FOLDER, "--dir", dir, "--endpoint", hub.url]);
    expect(hub.requests.find((r) => r.path.endsWith("/model.onnx") && r.path.startsWith("/cdn/"))?.range).toBe(`bytes=${partSize}-`);
    expect(await exists(`${model}.part`)).toBe(false);
    await expectIdentical(path.dirname(model));
  });

  it("retries within one run, and starts over when the server answers a Range request with the whole file", async () => {
    const dir = path.join(work, "retry");
    hub.dropOnce.add(`${FOLDER}/model.onnx`);
    hub.ignoreRange = true;
    await phi4(["pull", REPO, "--include", FOLDER, "--dir", dir, "--endpoint", hub.url, "--retries", "1"]);
    const gets = hub.requests.filter((r) => r.path === `/cdn/${REPO}/${FOLDER}/model.onnx`);
    expect(gets.map((r) => r.range === undefined)).toEqual([true, false]);
    await expectIdentical(path.join(dir, ...FOLDER.split("/")));
  });

  it("a file whose sha256 does not match the listing is an error and leaves no file behind", async () => {
    const dir = path.join(work, "corrupt");
    const failed = await phi4Fails(["pull", CORRUPT_REPO, "--dir", dir, "--endpoint", hub.url]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/DOWNLOAD_FAILED: .*model\.onnx has sha256 [0-9a-f]{64}, the listing says [0-9a-f]{64}; the download was removed/);
    expect(await exists(path.join(dir, "model.onnx"))).toBe(false);
    expect(await exists(path.join(dir, "model.onnx.part"))).toBe(false);
  });

  it("clear errors: unknown repo or folder, missing token, bad repository id", async () => {
    const dir = path.join(work, "errors");
    const unknown = await phi4Fails(["pull", "test/nope", "--dir", dir, "--endpoint", hub.url]);
    expect(unknown.stderr).toMatch(/DOWNLOAD_FAILED: listing test\/nope .*HTTP 404 \(check the repository id and --include\)/);
    const folder = await phi4Fails(["pull", REPO, "--include", "no/such/folder", "--dir", dir, "--endpoint", hub.url]);
    expect(folder.stderr).toContain("HTTP 404");
    hub.requireToken = "hf_secret";
    const denied = await phi4Fails(["pull", REPO, "--dir", dir, "--endpoint", hub.url]);
    expect(denied.stderr).toMatch(/DOWNLOAD_FAILED: .*HTTP 401 .*set HF_TOKEN/);
    const bad = await phi4Fails(["pull", "../etc", "--dir", dir, "--endpoint", hub.url]);
    expect(bad.stderr).toContain("INVALID_ARGUMENT");
    expect(await exists(dir)).toBe(false);
  });

  describe("hostile hubs", () => {
    const failure = (promise: Promise<unknown>) =>
      promise.then(
        () => "resolved",
        (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`,
      );

    it("a next-page link to the page itself, or back to an earlier page, stops with an error", { timeout: 20_000 }, async () => {
      const dir = path.join(work, "loop");
      hub.pageLink = (page) => page.href;
      expect(await failure(pullModel({ repo: REPO, include: [FOLDER], dir, endpoint: hub.url }))).toMatch(
        /^DOWNLOAD_FAILED: .*loop back to a page already read/,
      );
      expect(hub.requests.length).toBe(1); // before: 14,752 requests in 10 s
      hub.requests.length = 0;
      hub.pageLink = (page, next) => next ?? `${hub.url}${page.pathname}?recursive=true`; // the last page links to the first
      expect(await failure(pullModel({ repo: REPO, include: [FOLDER], dir, endpoint: hub.url }))).toMatch(/loop back/);
      expect(hub.requests.every((r) => r.path.includes("/tree/"))).toBe(true);
      expect(await exists(dir)).toBe(false);
    });

    it("HF_TOKEN goes to the endpoint's origin only: not to a next page or a download redirect on another host", async () => {
      // Another host: an empty listing page, and a CDN that sends downloads back to the hub.
      const other = http.createServer((req, res) => {
        seen.push({ path: req.url ?? "", authorization: req.headers.authorization });
        if (req.url?.startsWith("/cdn/")) return void res.writeHead(302, { location: `${hub.url}${req.url}` }).end();
        res.writeHead(200, { "content-type": "application/json" }).end("[]");
      });
      const seen: { path: string; authorization?: string }[] = [];
      other.listen(0, "127.0.0.1");
      await once(other, "listening");
      const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
      try {
        hub.pageLink = (page, next) => next ?? `${otherUrl}/more`;
        hub.cdnBase = otherUrl;
        const result = await pullModel({ repo: REPO, include: [FOLDER], dir: path.join(work, "token"), endpoint: hub.url, token: "hf_secret" });
        expect(result.files.length).toBe(tinyFiles.length);
        await expectIdentical(path.join(work, "token", ...FOLDER.split("/")));
        expect(seen[0]).toEqual({ path: "/more", authorization: undefined });
        expect(seen.filter((r) => r.path.startsWith("/cdn/")).length).toBe(tinyFiles.length);
        expect(seen.every((r) => r.authorization === undefined)).toBe(true);
        expect(hub.requests.every((r) => r.authorization === "Bearer hf_secret")).toBe(true);
      } finally {
        other.close();
      }
    });

    it("an unsafe path anywhere in the listing is refused before any file is written", async () => {
      const data = Buffer.from("x");
      const repo = new Map<string, ServedFile>([
        ["a/first.txt", { data }],
        ["a/second.txt", { data }],
        ["zz/../../escape.txt", { data }],
      ]);
      hub.repos.set("test/unsafe", repo);
      const dir = path.join(work, "unsafe");
      expect(await failure(pullModel({ repo: "test/unsafe", include: [], dir, endpoint: hub.url }))).toMatch(
        /^DOWNLOAD_FAILED: the listing has an unsafe path "zz\/..\/..\/escape.txt" .*nothing was downloaded/,
      );
      expect(await exists(dir)).toBe(false);
      expect(hub.requests.filter((r) => !r.path.includes("/tree/"))).toEqual([]);
      for (const bad of ["a/first.txt/inner", "/abs.txt", "a\\b.txt", "a//b.txt"]) {
        repo.clear();
        repo.set("a/first.txt", { data });
        repo.set(bad, { data });
        expect(await failure(pullModel({ repo: "test/unsafe", include: [], dir, endpoint: hub.url })), bad).toMatch(/unsafe path/);
        expect(await exists(dir), bad).toBe(false);
      }
    });
  });
});
