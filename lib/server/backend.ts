/**
 * The model and the provider that `phi4 serve` and `phi4 chat` run on: the local model alone, or,
 * with a router config, the router in front of it and the config's other providers. The model comes
 * from --model, else from the config's local provider's "dir"; it is needed either way (it counts
 * tokens, and it is the local provider).
 */
import { Phi4Error } from "../engine/errors.js";
import { loadModel, type Model } from "../engine/model.js";
import type { PrefixDiskOptions } from "../engine/prefix-disk.js";
import { LocalProvider } from "../providers/local.js";
import type { RequestSampling } from "../providers/sampling-defaults.js";
import type { Provider } from "../providers/types.js";
import { loadRouterConfig, type RouterConfig } from "../router/config.js";
import { ConfigError } from "../util/config-file.js";
import { createRouter } from "../router/from-config.js";

export interface BackendOptions {
  modelDir?: string;
  /** A router config file (docs/agents.md). */
  routerFile?: string;
  threads?: number;
  /** Tokens per request for the local provider(s); overrides the config's. */
  capacity?: number;
  /** Requests the local provider(s) generate at once; overrides the config's. */
  concurrency?: number;
  /** KV memory budget in bytes of each context of the model (the model's kvMemory). */
  kvMemory?: number;
  /** The local provider(s)' sampling for requests that send none (LocalProviderOptions.sampling). */
  sampling?: RequestSampling;
  /** The prefix cache's disk tier (LoadModelOptions.prefixCacheDisk). */
  prefixCacheDisk?: PrefixDiskOptions | false;
  /** Keep client metadata blocks in the local prompt (LocalProviderOptions.keepClientMetadata). */
  keepClientMetadata?: boolean;
  /** Speculative decoding (LoadModelOptions.speculative; default on). */
  speculative?: boolean;
  /** Jump-forward in tool turns (LocalProviderOptions.jumpForward); false overrides the config's. */
  jumpForward?: boolean;
}

export interface Backend {
  model: Model;
  provider: Provider;
  /** Disposes the model, and with it every engine context of the provider(s). */
  close(): Promise<void>;
}

export async function openBackend(options: BackendOptions, usage: string): Promise<Backend> {
  // A bad config is the user's to fix: an error with a code and a message, not a stack trace.
  const config =
    options.routerFile === undefined
      ? undefined
      : await loadRouterConfig(options.routerFile).catch((error: unknown) => {
          throw error instanceof ConfigError ? new Phi4Error("INVALID_ARGUMENT", error.message) : error;
        });
  const dir = options.modelDir ?? localDirs(config)[0];
  if (dir === undefined)
    throw new Phi4Error("INVALID_ARGUMENT", `--model is required${config ? " (the router config's local provider has no dir)" : ""}\n${usage}`);
  const model = await loadModel(dir, {
    threads: options.threads,
    kvMemory: options.kvMemory,
    prefixCacheDisk: options.prefixCacheDisk,
    speculative: options.speculative,
  });
  const { capacity, concurrency, sampling, keepClientMetadata, jumpForward } = options;
  const provider = config
    ? createRouter(withLocalSettings(config, { capacity, concurrency, keepClientMetadata, jumpForward }), { model, sampling })
    : new LocalProvider(model, { capacity, concurrency, sampling, keepClientMetadata, jumpForward });
  return { model, provider, close: () => model.dispose() };
}

const localDirs = (config: RouterConfig | undefined) =>
  Object.values(config?.providers ?? {}).flatMap((p) => (p.type === "local" && p.dir !== undefined ? [p.dir] : []));

/** The config with the command line's settings (capacity, concurrency, ...) given to its local providers. */
export function withLocalSettings(
  config: RouterConfig,
  settings: { capacity?: number; concurrency?: number; keepClientMetadata?: boolean; jumpForward?: boolean },
): RouterConfig {
  const providers = Object.fromEntries(
    Object.entries(config.providers).map(([name, entry]) => [
      name,
      entry.type === "local"
        ? {
            ...entry,
            capacity: settings.capacity ?? entry.capacity,
            concurrency: settings.concurrency ?? entry.concurrency,
            keepClientMetadata: settings.keepClientMetadata ?? entry.keepClientMetadata,
            jumpForward: settings.jumpForward ?? entry.jumpForward,
          }
        : entry,
    ]),
  );
  return { ...config, providers };
}
