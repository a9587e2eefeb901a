import { defineConfig } from "vitest/config";

/**
 * The tests whose results go through the addon's CPU kernels (int4 products, attention, fp16 KV) and
 * the guarantees built on them (bit-identical batching, speculation and jump-forward, the oracles).
 * They run a second time as an AVX2-only CPU (PHI4_CPU_ISA, docs/engine.md), so that a machine with
 * AVX-512 also proves the paths most CPUs take.
 */
const KERNEL_TESTS = [
  "test/int4-kernel.test.ts",
  "test/attention-kernel.test.ts",
  "test/attention-kernel-fp16.test.ts",
  "test/engine-oracle.test.ts",
  "test/gguf-llama.test.ts",
  "test/kv-fp16.test.ts",
  "test/kv-reuse.test.ts",
  "test/batching.test.ts",
  "test/speculative.test.ts",
  "test/tools-jump-forward.test.ts",
];

export default defineConfig({
  test: {
    // Each file in its own process: the addon and onnxruntime-node share one ONNX Runtime per process.
    pool: "forks",
    globalSetup: ["test/helpers/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    projects: [
      { extends: true, test: { name: "cpu", include: ["test/**/*.test.ts"] } },
      { extends: true, test: { name: "avx2", include: KERNEL_TESTS, env: { PHI4_CPU_ISA: "avx2" } } },
    ],
  },
});
