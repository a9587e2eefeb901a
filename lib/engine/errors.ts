/**
 * The one error class of the library. Every failure a caller can act on carries a stable `code`;
 * errors raised in native code keep the JavaScript stack of the call that started the operation.
 */
export type Phi4ErrorCode =
  | "RUNTIME_LOAD_FAILED"
  | "ADDON_LOAD_FAILED"
  | "MODEL_NOT_FOUND"
  | "MODEL_INVALID"
  | "MODEL_LOAD_FAILED"
  | "PROVIDER_UNAVAILABLE"
  | "TOKEN_OUT_OF_RANGE"
  | "CAPACITY_EXCEEDED"
  | "KV_MEMORY_EXCEEDED"
  | "DISPOSED"
  | "BUSY"
  | "ABORTED"
  | "INVALID_ARGUMENT"
  | "OUT_OF_MEMORY"
  | "STATE_INVALID"
  | "STATE_MISMATCH"
  | "OVERLOADED"
  | "DOWNLOAD_FAILED"
  | "ORT_ERROR";

const CODES = new Set<string>([
  "RUNTIME_LOAD_FAILED",
  "ADDON_LOAD_FAILED",
  "MODEL_NOT_FOUND",
  "MODEL_INVALID",
  "MODEL_LOAD_FAILED",
  "PROVIDER_UNAVAILABLE",
  "TOKEN_OUT_OF_RANGE",
  "CAPACITY_EXCEEDED",
  "KV_MEMORY_EXCEEDED",
  "DISPOSED",
  "BUSY",
  "ABORTED",
  "INVALID_ARGUMENT",
  "OUT_OF_MEMORY",
  "STATE_INVALID",
  "STATE_MISMATCH",
  "OVERLOADED",
  "DOWNLOAD_FAILED",
  "ORT_ERROR",
]);

export class Phi4Error extends Error {
  override readonly name = "Phi4Error";
  constructor(
    readonly code: Phi4ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Turns whatever native code threw into a Phi4Error, keeping `callSite`'s stack (sharp-style). */
export function fromNative(error: unknown, callSite?: Error): Phi4Error {
  if (error instanceof Phi4Error) return error;
  const raw = error as { code?: unknown; message?: unknown };
  const code = typeof raw?.code === "string" && CODES.has(raw.code) ? (raw.code as Phi4ErrorCode) : "ORT_ERROR";
  const message = typeof raw?.message === "string" ? raw.message : String(error);
  const wrapped = new Phi4Error(code, message, { cause: error });
  if (callSite?.stack) wrapped.stack = `Phi4Error: ${message}\n${callSite.stack.split("\n").slice(1).join("\n")}`;
  return wrapped;
}

/** Awaits a native promise; a rejection becomes a Phi4Error with the caller's stack. */
export async function callNative<T>(start: () => Promise<T>): Promise<T> {
  const callSite = new Error();
  try {
    return await start();
  } catch (error) {
    throw fromNative(error, callSite);
  }
}

/** Runs a synchronous native call; a throw becomes a Phi4Error. */
export function callNativeSync<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw fromNative(error);
  }
}
