/**
 * Reading the JSON configuration files (router config, MCP servers config), shared by both layers.
 *
 * `${VAR}` and `${VAR:-default}` in configuration strings, as Claude's .mcp.json allows: secrets
 * (API keys, tokens) stay in the environment instead of the file. Substitution runs on the parsed
 * JSON's string values, so a value can never break the JSON around it. A variable that is unset and
 * has no default is an error naming it and where it was used.
 */
import { readFile } from "node:fs/promises";

/** A configuration file that cannot be used: its message says what to fix, and where. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const PATTERN = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function expandEnv<T>(value: T, env: Record<string, string | undefined> = process.env, where = "$"): T {
  if (typeof value === "string") {
    return value.replace(PATTERN, (_match, name: string, fallback: string | undefined) => {
      const resolved = env[name] ?? fallback;
      if (resolved === undefined) throw new ConfigError(`${where}: environment variable ${name} is not set (write \${${name}:-default} for a default)`);
      return resolved;
    }) as T;
  }
  if (Array.isArray(value)) return value.map((item, i) => expandEnv(item, env, `${where}[${i}]`)) as T;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, expandEnv(item, env, `${where}.${key}`)])) as T;
  }
  return value;
}

/** A JSON file's parsed contents (substitution is the parser's step); errors name the file and what it is. */
export async function readJsonConfig(file: string, what: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new ConfigError(`cannot read the ${what} ${file}: ${(error as Error).message}`);
  }
}
