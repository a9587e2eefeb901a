import { defineConfig } from "vitest/config";
export default defineConfig({
  plugins: [{ name: "stub", enforce: "pre", resolveId(id) { if (id.endsWith("tokenizer-files.js")) return "/tmp/mmdev/stub.ts"; return null; } }],
  test: { testTimeout: 120000, hookTimeout: 120000 },
});
