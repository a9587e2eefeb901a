/**
 * The router's JSON configuration: providers (in order of preference), rules, fallback and prices,
 * validated with zod after `${VAR}` substitution. See docs/agents.md for the format.
 */
import { z } from "zod";

import { ConfigError, expandEnv, readJsonConfig } from "../util/config-file.js";

const price = z.strictObject({ inputPerMTok: z.number().nonnegative(), outputPerMTok: z.number().nonnegative() });
const common = {
  /** The router's per-attempt timeout (and the client's own, for remote providers). */
  timeoutMs: z.number().int().positive().optional(),
  price: price.optional(),
};

const localProvider = z.strictObject({
  type: z.literal("local"),
  /** Model folder; the CLI's --model takes precedence. */
  dir: z.string().optional(),
  capacity: z.number().int().positive().optional(),
  concurrency: z.number().int().positive().optional(),
  maxQueue: z.number().int().nonnegative().optional(),
  /** Keep client metadata (Claude Code's billing header) in the local prompt. */
  keepClientMetadata: z.boolean().optional(),
  /** Jump-forward in tool turns (default true). */
  jumpForward: z.boolean().optional(),
  ...common,
});

const anthropicProvider = z.strictObject({
  type: z.literal("anthropic"),
  model: z.string(),
  apiKey: z.string().optional(),
  authToken: z.string().optional(),
  baseURL: z.url().optional(),
  maxRetries: z.number().int().nonnegative().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  ...common,
});

const openaiProvider = z.strictObject({
  type: z.literal("openai"),
  baseURL: z.url(),
  model: z.string(),
  apiKey: z.string().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  locality: z.enum(["local", "remote"]).optional(),
  ...common,
});

const level = z.enum(["low", "medium", "high"]);

export const routerConfigSchema = z.strictObject({
  providers: z
    .record(
      z.string().regex(/^[A-Za-z0-9_-]+$/, "provider names are letters, digits, _ and -"),
      z.discriminatedUnion("type", [localProvider, anthropicProvider, openaiProvider]),
    )
    .refine((p) => Object.keys(p).length > 0, "name at least one provider"),
  rules: z
    .strictObject({
      defaultPrivacy: z.enum(["normal", "high"]).optional(),
      multiStepToolRounds: z.number().int().positive().optional(),
      remoteComplexity: z.array(level).optional(),
      maxLocalQueueDepth: z.number().int().positive().optional(),
      maxLocalLatencyMs: z.number().positive().optional(),
      localOutputReserve: z.number().int().nonnegative().optional(),
      charsPerToken: z.number().positive().optional(),
    })
    .optional(),
  fallbackOn: z.strictObject({ error: z.boolean().optional(), timeout: z.boolean().optional(), invalid_output: z.boolean().optional() }).optional(),
  referencePrice: price.optional(),
});

export type RouterConfig = z.infer<typeof routerConfigSchema>;
export type ProviderConfig = RouterConfig["providers"][string];

/** Validates a parsed config object after substituting environment variables. */
export function parseRouterConfig(json: unknown, env?: Record<string, string | undefined>): RouterConfig {
  const result = routerConfigSchema.safeParse(expandEnv(json, env));
  if (!result.success) throw new ConfigError(`invalid router config:\n${z.prettifyError(result.error)}`);
  return result.data;
}

export async function loadRouterConfig(file: string, env?: Record<string, string | undefined>): Promise<RouterConfig> {
  return parseRouterConfig(await readJsonConfig(file, "router config"), env);
}
