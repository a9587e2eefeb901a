/**
 * phi4 serve: the Anthropic-compatible server (lib/server) on a model folder, optionally fronting the
 * router. Runs until SIGINT or SIGTERM, then shuts down gracefully; a second signal exits at once.
 */
import { parseArgs } from "node:util";

import { Phi4Error } from "../../engine/errors.js";
import { formatBytes } from "../../engine/kv-memory.js";
import { openBackend } from "../../server/backend.js";
import { jsonLogger, LOG_LEVELS, type LogLevel } from "../../server/request-log.js";
import { apiKeyCheck } from "../../server/auth.js";
import { checkPort, startServer } from "../../server/server.js";
import { checkSamplingDefaults, MESSAGES_API_SAMPLING } from "../../providers/sampling-defaults.js";
import { isLoopback } from "../../util/loopback.js";
import { JUMP_FORWARD_HELP, KV_MEMORY_HELP, optionalByteSize, optionalNumber } from "../args.js";
import { prefixCacheArgs, prefixCacheDisk, prefixCacheUsage } from "../prefix-cache-args.js";

export const serveUsage = `usage: phi4 serve --model DIR [--host 127.0.0.1] [--port 8080] [--api-key KEY] [--router FILE]
       [--max-concurrency N] [--capacity N] [--kv-memory SIZE] [--max-body-bytes N] [--max-count-tokens N] [--threads N] [--grace-ms N]
       [--temperature T] [--top-p P] [--top-k K] [--log-level silent|error|warn|info|debug] [--keep-client-metadata] [--no-speculative] [--no-jump-forward]
  Serves POST /v1/messages (JSON and SSE), /v1/messages/count_tokens, /v1/models, /health, /metrics.
  --api-key (or PHI4_API_KEY, which keeps it out of the process list): every request must send it.
  --max-concurrency: requests generating at once (default 4); --capacity: tokens per request.
${KV_MEMORY_HELP}
  --max-body-bytes: largest request body (default 32 MiB); --max-count-tokens: most tokens count_tokens counts.
  --temperature, --top-p, --top-k: sampling for requests that send none (default: the Messages API's,
    temperature 1.0; --temperature 0 makes them greedy). A request's own values always win.
  --log-level: an access line per request and error lines with their code, as JSON on stderr (default info).
  --keep-client-metadata: keep Claude Code's billing-header system block in the prompt (default: left out, so
    sessions share their prefix; docs/server.md).
  --no-speculative: turn prompt-lookup speculative decoding off (docs/speculative.md).
${JUMP_FORWARD_HELP}
${prefixCacheUsage}`;

export async function serveCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      "api-key": { type: "string" },
      router: { type: "string" },
      "max-concurrency": { type: "string" },
      capacity: { type: "string" },
      "kv-memory": { type: "string" },
      "max-body-bytes": { type: "string" },
      "max-count-tokens": { type: "string" },
      "log-level": { type: "string" },
      threads: { type: "string" },
      "grace-ms": { type: "string" },
      temperature: { type: "string" },
      "top-p": { type: "string" },
      "top-k": { type: "string" },
      "keep-client-metadata": { type: "boolean" },
      "no-speculative": { type: "boolean" },
      "no-jump-forward": { type: "boolean" },
      ...prefixCacheArgs,
    },
  });
  const logLevel = values["log-level"] ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel))
    throw new Phi4Error("INVALID_ARGUMENT", `--log-level must be one of ${LOG_LEVELS.join(", ")} (got ${logLevel})`);
  // Alone, the local model takes 4 requests at once by default; behind a router its config says, unless this does.
  const concurrency = optionalNumber(values, "max-concurrency", true) ?? (values.router === undefined ? 4 : undefined);
  const capacity = optionalNumber(values, "capacity", true);
  const kvMemory = optionalByteSize(values, "kv-memory");
  const apiKey = values["api-key"] ?? process.env.PHI4_API_KEY;
  const host = values.host ?? "127.0.0.1";
  const port = optionalNumber(values, "port", true) ?? 8080;
  // Checked before the model loads (which takes a while): a bad key or port fails at once.
  if (apiKey !== undefined) apiKeyCheck(apiKey);
  checkPort(port);
  const sampling = checkSamplingDefaults({
    ...MESSAGES_API_SAMPLING,
    ...definedOnly({
      temperature: optionalNumber(values, "temperature"),
      top_p: optionalNumber(values, "top-p"),
      top_k: optionalNumber(values, "top-k", true),
    }),
  });
  const backend = await openBackend(
    {
      modelDir: values.model,
      routerFile: values.router,
      threads: optionalNumber(values, "threads", true),
      capacity,
      concurrency,
      kvMemory,
      sampling,
      keepClientMetadata: values["keep-client-metadata"],
      jumpForward: values["no-jump-forward"] === true ? false : undefined,
      prefixCacheDisk: prefixCacheDisk(values),
      speculative: !values["no-speculative"],
    },
    serveUsage,
  );
  try {
    const server = await startServer({
      model: backend.model,
      provider: backend.provider,
      capacity,
      keepClientMetadata: values["keep-client-metadata"],
      apiKey,
      host,
      port,
      maxBodyBytes: optionalNumber(values, "max-body-bytes", true),
      maxCountTokens: optionalNumber(values, "max-count-tokens", true),
      logger: jsonLogger(logLevel as LogLevel),
    }).catch((error: unknown) => {
      if ((error as { code?: string }).code === "EADDRINUSE") throw new Phi4Error("INVALID_ARGUMENT", `${host}:${port} is already in use: pick another --port`);
      throw error;
    });
    const served = values.router
      ? `the router in ${values.router}`
      : `${backend.model.folder.dir}, ${concurrency} requests at once of up to ${backend.provider.contextTokens} tokens, ${formatBytes(backend.model.kvMemory)} of KV memory`;
    process.stderr.write(`phi4 serve: listening on ${server.url} (${served})\n  ANTHROPIC_BASE_URL=${server.url}\n`);
    if (apiKey === undefined && !isLoopback(host))
      process.stderr.write(`phi4 serve: warning: ${host} is reachable from other machines and no --api-key is set\n`);

    await new Promise((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    process.stderr.write(`phi4 serve: shutting down (${server.activeRequests} requests in flight; a second signal exits now)\n`);
    const now = () => process.exit(130);
    process.once("SIGINT", now);
    process.once("SIGTERM", now);
    await server.close({ graceMs: optionalNumber(values, "grace-ms", true) ?? 10_000 });
  } finally {
    await backend.close();
  }
}

/** The entries that have a value: a flag left out keeps the default. */
function definedOnly<T extends object>(entries: T): Partial<T> {
  return Object.fromEntries(Object.entries(entries).filter(([, value]) => value !== undefined)) as Partial<T>;
}
