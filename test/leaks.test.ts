/**
 * Leak checks (sharp-style): creating and disposing sequences and models many times must not grow
 * the process. Each cycle allocates a KV cache and ORT tensors, so a leak of either shows quickly.
 */
import { describe, expect, inject, it } from "vitest";

import { loadModel } from "../lib/index.js";

const models = inject("models");

const rssMiB = () => process.memoryUsage().rss / 2 ** 20;

describe("leaks", () => {
  it("sequences: 100 create / generate / dispose cycles keep RSS flat", async () => {
    const model = await loadModel(models.tiny);
    // A 200-token prompt writes (touches) most of each 512 KiB KV cache, so a leaked one stays resident.
    const prompt = Array.from({ length: 200 }, (_, i) => (i * 7) % 500);
    const cycle = async () => {
      const sequence = await model.createSequence({ capacity: 256 });
      await sequence.generateText(prompt, { maxTokens: 4, stopTokens: [] });
      await sequence.dispose();
    };
    for (let i = 0; i < 20; i++) await cycle(); // warm-up: allocator pools settle
    const before = rssMiB();
    for (let i = 0; i < 100; i++) await cycle();
    const growth = rssMiB() - before;
    await model.dispose();
    // Leaked caches would add about 100 x 400 KiB = 40 MiB.
    expect(growth).toBeLessThan(15);
  });

  it("models: 15 load / dispose cycles keep RSS flat", async () => {
    const cycle = async () => {
      const model = await loadModel(models.tiny);
      const sequence = await model.createSequence({ capacity: 64 });
      await sequence.generateText([1, 2], { maxTokens: 2, stopTokens: [] });
      await model.dispose();
    };
    for (let i = 0; i < 3; i++) await cycle();
    const before = rssMiB();
    for (let i = 0; i < 15; i++) await cycle();
    // The tiny session's weights are ~1 MiB; 15 leaked sessions with their arenas would be far more.
    expect(rssMiB() - before).toBeLessThan(40);
  });
});
