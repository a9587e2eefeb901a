/**
 * Leak checks (sharp-style): creating and disposing sequences and models many times must not grow
 * the process. Each cycle allocates a KV cache and ORT tensors, so a leak of either shows quickly.
 *
 * RSS after a dispose is noisy: allocators keep freed pages for a while (glibc arenas, ORT's pools,
 * thread stacks), so a single reading after a cycle can sit 20-40 MiB above the floor on a busy
 * machine. A leak raises the floor itself, cycle after cycle, so each test compares the lowest
 * reading of its first window of cycles with the lowest of its last window.
 */
import { describe, expect, inject, it } from "vitest";

import { loadModel } from "../lib/index.js";

const models = inject("models");

const rssMiB = () => process.memoryUsage().rss / 2 ** 20;

/** Runs `warmUp` cycles, then `cycles` more, and returns how far the RSS floor rose between the
 *  first and the last `window` of them. */
async function floorGrowth(cycle: () => Promise<void>, warmUp: number, cycles: number, window: number) {
  for (let i = 0; i < warmUp; i++) await cycle(); // allocator pools settle
  const readings: number[] = [];
  for (let i = 0; i < cycles; i++) {
    await cycle();
    readings.push(rssMiB());
  }
  return Math.min(...readings.slice(-window)) - Math.min(...readings.slice(0, window));
}

describe("leaks", () => {
  it("sequences: 200 create / generate / dispose cycles keep RSS flat", async () => {
    const model = await loadModel(models.tiny);
    // A 200-token prompt writes (touches) most of each KV cache, so a leaked one stays resident.
    const prompt = Array.from({ length: 200 }, (_, i) => (i * 7) % 500);
    const growth = await floorGrowth(
      async () => {
        const sequence = await model.createSequence({ capacity: 256 });
        await sequence.generateText(prompt, { maxTokens: 4, stopTokens: [] });
        await sequence.dispose();
      },
      20,
      220,
      20,
    );
    await model.dispose();
    // Between the two windows lie 200 cycles; leaked sequences (fp16 KV cache, tensors) raise the
    // floor by about 0.26 MiB each here, about 50 MiB in all.
    expect(growth).toBeLessThan(15);
  });

  it("models: 60 load / dispose cycles keep RSS flat", async () => {
    const growth = await floorGrowth(
      async () => {
        const model = await loadModel(models.tiny);
        const sequence = await model.createSequence({ capacity: 64 });
        await sequence.generateText([1, 2], { maxTokens: 2, stopTokens: [] });
        await model.dispose();
      },
      5,
      70,
      10,
    );
    // Between the two windows lie 60 cycles. A model kept alive costs about 5 MiB here (session,
    // arenas, thread pool), so leaked models would raise the floor by about 300 MiB; 60 MiB still
    // catches a leak of a fifth of that per cycle.
    expect(growth).toBeLessThan(60);
  });
});
