/** The Anthropic-compatible server, as a library: run it in-process, in tests or inside an app. */
export { createServer, startServer, Phi4Server, type ListenOptions, type ServerOptions } from "./server.js";
export { ApiError, type ApiErrorType } from "./errors.js";
export { CLAUDE_ALIASES } from "./model-names.js";
export { jsonLogger, LOG_LEVELS, type Logger, type LogLevel } from "./request-log.js";
export type { ServerMetrics } from "./server-metrics.js";
