/** The tokenizer worker thread's entry (see encode-worker-client.ts): loads the tokenizer, then encodes requests. */
import { parentPort, workerData } from "node:worker_threads";

import { Phi4Error } from "../engine/errors.js";
import { requestInput, type EncodeReply, type EncodeRequest, type TokenizerSource } from "./encode-worker-client.js";
import { Tokenizer } from "./tokenizer.js";

const source = workerData as TokenizerSource;
const tokenizer = "dir" in source ? await Tokenizer.fromModelDir(source.dir) : Tokenizer.fromObjects(source.tokenizerJson, source.tokenizerConfig);

parentPort!.on("message", (request: EncodeRequest) => {
  let reply: EncodeReply;
  try {
    const ids = Int32Array.from(tokenizer.encode(requestInput(request), { allowSpecial: request.allowSpecial, maxTokens: request.maxTokens }));
    parentPort!.postMessage({ id: request.id, ids } satisfies EncodeReply, [ids.buffer]);
    return;
  } catch (error) {
    reply = { id: request.id, error: { code: error instanceof Phi4Error ? error.code : undefined, message: (error as Error)?.message ?? String(error) } };
  }
  parentPort!.postMessage(reply);
});
