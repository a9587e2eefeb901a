/** Builds the providers and the router a RouterConfig describes. */
import type { Model } from "../engine/model.js";
import { AnthropicProvider } from "../providers/anthropic.js";
import { LocalProvider } from "../providers/local.js";
import { OpenAICompatibleProvider } from "../providers/openai-compatible.js";
import type { RequestSampling } from "../providers/sampling-defaults.js";
import type { Provider } from "../providers/types.js";
import type { ProviderConfig, RouterConfig } from "./config.js";
import { ConfigError } from "../util/config-file.js";
import type { TokenPrice } from "./metrics.js";
import { Router } from "./router.js";

/**
 * `model` serves the config's local providers (load it from their `dir`, or from a --model option);
 * `sampling` is their default for requests that send none (see LocalProviderOptions.sampling).
 */
export function createRouter(config: RouterConfig, resources: { model?: Model; sampling?: RequestSampling } = {}): Router {
  const entries = Object.entries(config.providers);
  const prices: Record<string, TokenPrice> = {};
  const attemptTimeoutMs: Record<string, number> = {};
  for (const [name, entry] of entries) {
    if (entry.price) prices[name] = entry.price;
    if (entry.timeoutMs !== undefined) attemptTimeoutMs[name] = entry.timeoutMs;
  }
  return new Router({
    providers: entries.map(([name, entry]) => createProvider(name, entry, resources.model, resources.sampling)),
    rules: config.rules,
    fallbackOn: config.fallbackOn,
    attemptTimeoutMs,
    prices,
    referencePrice: config.referencePrice,
  });
}

function createProvider(name: string, entry: ProviderConfig, model: Model | undefined, sampling: RequestSampling | undefined): Provider {
  switch (entry.type) {
    case "local":
      if (!model) throw new ConfigError(`provider ${name} is local: load its model (--model DIR or "dir" in the config) first`);
      return new LocalProvider(model, {
        name,
        capacity: entry.capacity,
        concurrency: entry.concurrency,
        maxQueue: entry.maxQueue,
        sampling,
        keepClientMetadata: entry.keepClientMetadata,
        jumpForward: entry.jumpForward,
      });
    case "anthropic":
      return new AnthropicProvider({
        name,
        model: entry.model,
        apiKey: entry.apiKey,
        authToken: entry.authToken,
        baseURL: entry.baseURL,
        timeoutMs: entry.timeoutMs,
        maxRetries: entry.maxRetries,
        headers: entry.headers,
      });
    case "openai":
      return new OpenAICompatibleProvider({
        name,
        baseURL: entry.baseURL,
        model: entry.model,
        apiKey: entry.apiKey,
        headers: entry.headers,
        timeoutMs: entry.timeoutMs,
        locality: entry.locality,
      });
  }
}
