/**
 * Jump-forward on the server: on by default for tool turns, off with `phi4 serve --no-jump-forward`,
 * as /metrics' phi4_tool_call_tokens_total shows (tokens sampled by decode steps, tokens jumped).
 * The same flag is in the usage of every command that runs tool turns.
 */
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import { LocalProvider } from "../lib/providers/local.js";
import { startServer } from "../lib/server/index.js";
import { until } from "./helpers/until.js";

const models = inject("models");
const bin = "bin/phi4.js";

/** A forced call whose opening and property names the grammar forces. */
const request = {
  model: "claude-haiku-4-5",
  max_tokens: 40,
  temperature: 0,
  tools: [
    {
      name: "get_weather",
      description: "Weather for a city",
      input_schema: { type: "object", properties: { city: { type: "string", maxLength: 8 } }, required: ["city"], additionalProperties: false },
    },
  ],
  tool_choice: { type: "tool", name: "get_weather" },
  messages: [{ role: "user", content: "Weather in Paris?" }],
};

async function forcedCallThenMetrics(url: string): Promise<{ sampled: number; jumped: number }> {
  const response = await fetch(`${url}/v1/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(request) });
  const message = (await response.json()) as { content: { type: string; name?: string }[] };
  expect(message.content).toContainEqual(expect.objectContaining({ type: "tool_use", name: "get_weather" }));
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const count = (kind: string) => Number(new RegExp(`^phi4_tool_call_tokens_total\\{kind="${kind}"\\} (\\d+)$`, "m").exec(metrics)?.[1]);
  return { sampled: count("sampled"), jumped: count("jumped") };
}

let model: Model;
beforeAll(async () => {
  model = await loadModel(models.tinyPhi4, { threads: 1 });
});
afterAll(async () => {
  await model?.dispose();
});

describe("jump-forward on the server", () => {
  it("is on by default: a forced call's fixed text is jumped", async () => {
    const server = await startServer({ model, port: 0 });
    try {
      const { sampled, jumped } = await forcedCallThenMetrics(server.url);
      expect(sampled).toBeGreaterThan(0);
      expect(jumped).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
  });

  it("jumpForward: false (startServer's, LocalProvider's) samples every token", async () => {
    const provider = new LocalProvider(model, { jumpForward: false });
    for (const options of [{ jumpForward: false }, { provider }]) {
      const server = await startServer({ model, port: 0, ...options });
      try {
        const { sampled, jumped } = await forcedCallThenMetrics(server.url);
        expect(sampled).toBeGreaterThan(0);
        expect(jumped).toBe(0);
      } finally {
        await server.close();
      }
    }
    expect(provider.toolCallTokens.jumped).toBe(0);
  });

  it("phi4 serve --no-jump-forward turns it off", async () => {
    const child = spawn(process.execPath, [bin, "serve", "--model", models.tinyPhi4, "--port", "0", "--threads", "1", "--no-jump-forward"]);
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    const closed = new Promise((resolve) => child.once("close", resolve));
    try {
      await until(() => /listening on (http:\/\/\S+) /.test(stderr) || child.exitCode !== null, "phi4 serve to listen", 60_000);
      const url = /listening on (http:\/\/\S+) /.exec(stderr)?.[1];
      expect(url, stderr).toBeDefined();
      const { sampled, jumped } = await forcedCallThenMetrics(url!);
      expect(sampled).toBeGreaterThan(0);
      expect(jumped).toBe(0);
    } finally {
      child.kill("SIGTERM");
      await closed;
    }
  });

  it("serve, chat, agent and generate document --no-jump-forward", async () => {
    for (const command of ["serve", "chat", "agent", "generate"]) {
      const help = await promisify(execFile)(process.execPath, [bin, command, "--help"]).catch((e: { stdout: string; stderr: string }) => e);
      expect(`${help.stdout}${help.stderr}`, command).toContain("--no-jump-forward");
    }
  });
});
