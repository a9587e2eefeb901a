#!/usr/bin/env node
// Fills .cache/ort-headers/include/ with the ONNX Runtime C API headers (onnxruntime_c_api.h and
// friends) taken from Debian's `libonnxruntime-dev` package of the `trixie` suite (ORT 1.21, C API 21).
//
// The addon only needs the headers at build time: the ORT library itself is dlopen'ed at run time.
// Rules: the machine's apt configuration is read, never changed; the mirror is the machine's own first
// Debian main-archive `deb` source (no host is named in this repository). Trust chain: InRelease is
// checked with gpgv against the installed Debian archive keyrings (when gpgv and the keyrings exist),
// Packages.gz is checked against InRelease's SHA256, the .deb against Packages' SHA256.
//
// Usage: node scripts/fetch-ort-headers.mjs [--force] [--quiet]
// Env:   ORT_HEADERS_SUITE (default trixie), ORT_HEADERS_MIRROR (a Debian mirror URI, overrides apt)
import { createHash } from "node:crypto";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CACHE = path.join(ROOT, ".cache", "ort-headers");
const INCLUDE = path.join(CACHE, "include");
const SUITE = process.env.ORT_HEADERS_SUITE || "trixie";
const PACKAGE = "libonnxruntime-dev";
const args = new Set(process.argv.slice(2));
const FORCE = args.has("--force");
const QUIET = args.has("--quiet");

const HINT =
  "Alternatives: install the headers yourself and point the build at them with ORT_INCLUDE_DIR=/path/to/dir-with-onnxruntime_c_api.h " +
  "(or ORT_HOME=/path/to/onnxruntime, using ORT_HOME/include), or `apt install libonnxruntime-dev` (Debian 13+).";

class FetchError extends Error {}

function log(msg) {
  if (!QUIET) console.log(`[fetch-ort-headers] ${msg}`);
}

// ---------------------------------------------------------------- apt sources

const DEBIAN_CODENAMES = new Set([
  "buster",
  "bullseye",
  "bookworm",
  "trixie",
  "forky",
  "duke",
  "sid",
  "oldoldstable",
  "oldstable",
  "stable",
  "testing",
  "unstable",
  "experimental",
]);

/** Parse one-line-style sources (sources.list, *.list). */
function parseListFile(text, file) {
  const out = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (!line) continue;
    const m = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const opts = m[2] || "";
    out.push({
      file,
      type: m[1],
      uri: m[3],
      suite: m[4],
      components: m[5].split(/\s+/).filter(Boolean),
      signedBy: /signed-by=(\S+)/.exec(opts)?.[1] ?? "",
      enabled: true,
    });
  }
  return out;
}

/** Parse deb822-style sources (*.sources). */
function parseSourcesFile(text, file) {
  const out = [];
  const stanzas = text.split(/\n\s*\n/);
  for (const stanza of stanzas) {
    const fields = {};
    let last = null;
    for (const raw of stanza.split("\n")) {
      if (raw.startsWith("#")) continue;
      if (/^\s/.test(raw) && last) {
        fields[last] += "\n" + raw.trim();
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(raw);
      if (m) {
        last = m[1].toLowerCase();
        fields[last] = m[2].trim();
      }
    }
    if (!fields.types || !fields.uris || !fields.suites) continue;
    const enabled = !/^(no|false|0)$/i.test(fields.enabled ?? "yes");
    for (const type of fields.types.split(/\s+/)) {
      for (const uri of fields.uris.split(/\s+/)) {
        for (const suite of fields.suites.split(/\s+/)) {
          out.push({
            file,
            type,
            uri,
            suite,
            components: (fields.components ?? "").split(/\s+/).filter(Boolean),
            signedBy: fields["signed-by"] ?? "",
            enabled,
          });
        }
      }
    }
  }
  return out;
}

function readAptSources() {
  const entries = [];
  const main = "/etc/apt/sources.list";
  if (fs.existsSync(main)) entries.push(...parseListFile(fs.readFileSync(main, "utf8"), main));
  const dir = "/etc/apt/sources.list.d";
  let names = [];
  try {
    names = fs.readdirSync(dir).sort();
  } catch {
    /* no directory */
  }
  for (const name of names) {
    const file = path.join(dir, name);
    let text;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      continue;
    }
    if (name.endsWith(".list")) entries.push(...parseListFile(text, file));
    else if (name.endsWith(".sources")) entries.push(...parseSourcesFile(text, file));
  }
  return entries;
}

/** The first enabled `deb` entry of Debian's main archive (not security, not third-party). */
function findDebianMirror() {
  if (process.env.ORT_HEADERS_MIRROR) return { uri: process.env.ORT_HEADERS_MIRROR, file: "ORT_HEADERS_MIRROR" };
  const entries = readAptSources();
  const ok = entries.find((e) => {
    if (!e.enabled || e.type !== "deb") return false;
    if (!/^https?:\/\//.test(e.uri)) return false;
    if (/security/i.test(e.uri) || /security/i.test(e.suite)) return false;
    const base = e.suite.replace(/\/$/, "").split("-")[0];
    if (!DEBIAN_CODENAMES.has(base)) return false;
    if (!e.components.includes("main")) return false;
    // A Signed-By that names a non-Debian keyring marks a third-party archive.
    if (e.signedBy && !/debian-archive/.test(e.signedBy)) return false;
    return true;
  });
  if (!ok) {
    throw new FetchError(
      `no apt source found: no Debian main-archive 'deb' entry in /etc/apt/sources.list or /etc/apt/sources.list.d/. ` +
        `Set ORT_INCLUDE_DIR or ORT_HOME to existing ONNX Runtime headers (or ORT_HEADERS_MIRROR to a Debian mirror URI).`,
    );
  }
  return ok;
}

function debianArch() {
  try {
    const a = execFileSync("dpkg", ["--print-architecture"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    if (a) return a;
  } catch {
    /* not a dpkg system */
  }
  const map = { x64: "amd64", arm64: "arm64", ia32: "i386", arm: "armhf", ppc64: "ppc64el", s390x: "s390x", riscv64: "riscv64", loong64: "loong64" };
  // The headers are architecture-independent; any architecture's package carries them.
  return map[process.arch] ?? "amd64";
}

// ---------------------------------------------------------------- downloads

async function download(url) {
  let res;
  try {
    res = await fetch(url, { redirect: "follow" });
  } catch (e) {
    throw new FetchError(`download failed: ${url}: ${e?.cause?.message ?? e?.message ?? e}`);
  }
  if (!res.ok) throw new FetchError(`download failed: ${url}: HTTP ${res.status} ${res.statusText}`);
  return Buffer.from(await res.arrayBuffer());
}

const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");

function joinUrl(base, rel) {
  return base.replace(/\/+$/, "") + "/" + rel.replace(/^\/+/, "");
}

/** Verify InRelease's signature with gpgv; returns the signed text. */
function verifyInRelease(buf) {
  const keyDir = "/usr/share/keyrings";
  let keyrings = [];
  try {
    keyrings = fs
      .readdirSync(keyDir)
      .filter((n) => /^debian-archive-.*\.gpg$/.test(n) && !n.includes("removed"))
      .map((n) => path.join(keyDir, n));
  } catch {
    /* none */
  }
  const gpgv = spawnSync("gpgv", ["--version"], { stdio: "ignore" });
  if (gpgv.error || keyrings.length === 0) {
    log("warning: gpgv or the Debian archive keyrings are not installed; InRelease signature not checked (hashes still are)");
  } else {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ort-hdr-"));
    try {
      const f = path.join(tmp, "InRelease");
      fs.writeFileSync(f, buf);
      const r = spawnSync("gpgv", [...keyrings.flatMap((k) => ["--keyring", k]), f], { encoding: "utf8" });
      if (r.status !== 0) {
        throw new FetchError(`InRelease signature check failed for suite ${SUITE}:\n${(r.stderr || "").trim()}`);
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  const text = buf.toString("utf8");
  const m = /-----BEGIN PGP SIGNED MESSAGE-----\n(?:[^\n]+\n)*\n([\s\S]*?)\n-----BEGIN PGP SIGNATURE-----/.exec(text);
  return m ? m[1] : text;
}

/** SHA256 entries of a Release file: rel path -> { sha, size }. */
function releaseSha256(text) {
  const out = new Map();
  const m = /^SHA256:\n((?:[ \t].*\n?)*)/m.exec(text);
  if (!m) return out;
  for (const line of m[1].split("\n")) {
    const p = line.trim().split(/\s+/);
    if (p.length === 3) out.set(p[2], { sha: p[0], size: Number(p[1]) });
  }
  return out;
}

function findStanza(packagesText, name) {
  for (const stanza of packagesText.split(/\n\n/)) {
    if (!stanza.startsWith(`Package: ${name}\n`)) continue;
    const field = (k) => new RegExp(`^${k}: (.*)$`, "m").exec(stanza)?.[1]?.trim();
    return { filename: field("Filename"), sha256: field("SHA256"), version: field("Version"), size: Number(field("Size")) };
  }
  return null;
}

// ---------------------------------------------------------------- .deb (ar archive)

function arMembers(buf) {
  if (buf.subarray(0, 8).toString("latin1") !== "!<arch>\n") throw new FetchError("downloaded .deb is not an ar archive");
  const members = [];
  let off = 8;
  while (off + 60 <= buf.length) {
    const hdr = buf.subarray(off, off + 60).toString("latin1");
    if (hdr.slice(58, 60) !== "`\n") throw new FetchError("corrupt ar header in .deb");
    const name = hdr.slice(0, 16).trim().replace(/\/$/, "");
    const size = parseInt(hdr.slice(48, 58).trim(), 10);
    const start = off + 60;
    members.push({ name, data: buf.subarray(start, start + size) });
    off = start + size + (size % 2);
  }
  return members;
}

function findFile(dir, name) {
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isFile() && ent.name === name) return p;
    if (ent.isDirectory()) {
      const r = findFile(p, name);
      if (r) return r;
    }
  }
  return null;
}

function apiVersionOf(header) {
  const m = /#define\s+ORT_API_VERSION\s+(\d+)/.exec(fs.readFileSync(header, "utf8"));
  return m ? Number(m[1]) : NaN;
}

// ---------------------------------------------------------------- main

async function main() {
  const cached = path.join(INCLUDE, "onnxruntime_c_api.h");
  if (!FORCE && fs.existsSync(cached)) return; // quiet when cached

  const mirror = findDebianMirror();
  const arch = debianArch();
  const dist = joinUrl(mirror.uri, `dists/${SUITE}`);
  log(`fetching ${PACKAGE} (${SUITE}, ${arch}) headers from ${mirror.uri} (apt source ${mirror.file})`);

  const release = verifyInRelease(await download(joinUrl(dist, "InRelease")));
  const hashes = releaseSha256(release);

  const rel = `main/binary-${arch}/Packages.gz`;
  const pkgGz = await download(joinUrl(dist, rel));
  const want = hashes.get(rel);
  if (!want) throw new FetchError(`${rel} is not listed in ${SUITE}'s InRelease`);
  if (sha256(pkgGz) !== want.sha) throw new FetchError(`SHA256 mismatch for ${rel}`);
  const packages = zlib.gunzipSync(pkgGz).toString("utf8");

  const st = findStanza(packages, PACKAGE);
  if (!st?.filename || !st.sha256) throw new FetchError(`package ${PACKAGE} not found in ${SUITE}/${rel}`);
  log(`${PACKAGE} ${st.version}: ${st.filename}`);
  const deb = await download(joinUrl(mirror.uri, st.filename));
  if (sha256(deb) !== st.sha256) throw new FetchError(`SHA256 mismatch for ${st.filename}`);

  const data = arMembers(deb).find((m) => m.name.startsWith("data.tar"));
  if (!data) throw new FetchError(`no data.tar member in ${st.filename}`);

  fs.mkdirSync(CACHE, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(CACHE, ".tmp-"));
  try {
    const tarball = path.join(tmp, data.name);
    fs.writeFileSync(tarball, data.data);
    const out = path.join(tmp, "x");
    fs.mkdirSync(out);
    // GNU tar detects the compression (xz, zstd, gzip) from the data; xz-utils must be installed for .xz.
    const r = spawnSync("tar", ["-xf", tarball, "-C", out, "--wildcards", "./usr/include/*"], { encoding: "utf8" });
    if (r.error || r.status !== 0) {
      throw new FetchError(
        `extracting ${data.name} failed (${r.error?.message ?? (r.stderr || "").trim()}); ` + `GNU tar and xz-utils are needed (apt install tar xz-utils)`,
      );
    }
    const header = findFile(out, "onnxruntime_c_api.h");
    if (!header) throw new FetchError(`${st.filename} has no onnxruntime_c_api.h`);
    const version = apiVersionOf(header);
    if (!(version >= 21)) throw new FetchError(`${st.filename} carries ORT_API_VERSION ${version}, need >= 21`);
    // Flatten: the directory holding onnxruntime_c_api.h becomes include/.
    const staged = path.join(tmp, "include");
    fs.renameSync(path.dirname(header), staged);
    fs.writeFileSync(
      path.join(CACHE, "SOURCE"),
      `${PACKAGE} ${st.version} (${SUITE}, ${arch})\n${st.filename}\nsha256 ${st.sha256}\nORT_API_VERSION ${version}\n`,
    );
    fs.rmSync(INCLUDE, { recursive: true, force: true });
    fs.renameSync(staged, INCLUDE);
    log(`headers (ORT_API_VERSION ${version}) in ${path.relative(process.cwd(), INCLUDE) || INCLUDE}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  const msg = e instanceof FetchError ? e.message : (e?.stack ?? String(e));
  console.error(`[fetch-ort-headers] error: ${msg}\n${HINT}`);
  process.exit(1);
});
