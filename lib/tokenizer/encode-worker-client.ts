/**
 * A worker thread that tokenizes for a Tokenizer (Tokenizer.encodeAsync). Tokenizing a megabyte of
 * text takes about a second of CPU; on the main thread that second would stall every other request
 * of a server, its health checks included.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";

import { Phi4Error, type Phi4ErrorCode } from "../engine/errors.js";
import { PromptText, type Range } from "./prompt-text.js";

/** Options of Tokenizer.encode and encodeAsync (declared here, where the worker client uses them too). */
export interface EncodeOptions {
  /** For string input: special-token text becomes special tokens (default true). */
  allowSpecial?: boolean;
  /** Throw CAPACITY_EXCEEDED instead of returning more tokens than this. */
  maxTokens?: number;
}

/** What the worker builds its own Tokenizer from. */
export type TokenizerSource = { dir: string } | { tokenizerJson: unknown; tokenizerConfig: unknown };

export interface EncodeRequest {
  id: number;
  text: string;
  /** Content ranges of a PromptText; null for a string (then allowSpecial applies). */
  content: Range[] | null;
  allowSpecial: boolean | undefined;
  maxTokens: number | undefined;
}

export type EncodeReply = { id: number; ids: Int32Array } | { id: number; error: { code?: string; message: string } };

// Beside this module once compiled; when the library runs from its TypeScript sources (tests), the
// compiled copy in dist/, if there is one. With neither, encodeAsync encodes on the calling thread.
const candidates = [new URL("./encode-worker.js", import.meta.url), new URL("../../dist/tokenizer/encode-worker.js", import.meta.url)];
const script = candidates.find((url) => url.protocol === "file:" && existsSync(fileURLToPath(url)));

export class EncodeWorker {
  static readonly available = script !== undefined;
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (ids: number[]) => void; reject: (error: Error) => void }>();
  private nextId = 0;
  private failure: Error | undefined;

  /** The thread died or was closed: a new EncodeWorker is needed. */
  get broken(): boolean {
    return this.failure !== undefined;
  }

  constructor(source: TokenizerSource) {
    if (script === undefined) throw new Phi4Error("INVALID_ARGUMENT", "the tokenizer worker script is not built (run npm run build:ts)");
    // No execArgv of the process: flags such as --input-type (node -e) would stop the worker starting.
    this.worker = new Worker(script, { workerData: source, execArgv: [] });
    // An idle worker must not keep the process alive (see encode for a busy one).
    this.worker.unref();
    this.worker.on("message", (reply: EncodeReply) => this.settle(reply));
    this.worker.on("error", (error) => this.fail(error));
    this.worker.on("exit", (code) => this.fail(new Error(`the tokenizer worker exited (code ${code})`)));
  }

  encode(input: string | PromptText, opts: EncodeOptions): Promise<number[]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const request: EncodeRequest = {
      id,
      text: typeof input === "string" ? input : input.text,
      content: typeof input === "string" ? null : [...input.content],
      allowSpecial: opts.allowSpecial,
      maxTokens: opts.maxTokens,
    };
    return new Promise<number[]>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    this.fail(new Phi4Error("DISPOSED", "the tokenizer was closed"));
    await this.worker.terminate();
  }

  private settle(reply: EncodeReply): void {
    const waiter = this.pending.get(reply.id);
    if (!waiter) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if ("ids" in reply) waiter.resolve(Array.from(reply.ids));
    else waiter.reject(reply.error.code ? new Phi4Error(reply.error.code as Phi4ErrorCode, reply.error.message) : new Error(reply.error.message));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}

/** The PromptText (or string) a request describes. */
export function requestInput(request: EncodeRequest): string | PromptText {
  return request.content === null ? request.text : PromptText.withContent(request.text, request.content);
}
