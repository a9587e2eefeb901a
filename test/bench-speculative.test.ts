/**
 * phi4 bench speculative on tiny-phi4 (Phi-4's vocabulary and chat template, random weights): each
 * scenario reports both speeds, and the forced scenarios accept drafts (their output repeats the prompt).
 */
import { describe, expect, inject, it } from "vitest";

import { benchSpeculative, speculativeReportMarkdown } from "../lib/bench/speculative.js";

const models = inject("models");

describe("bench speculative", () => {
  it("reports plain and speculative decode speed, acceptance and tokens per step for the rewrite, tool-call and free-text scenarios", async () => {
    const result = await benchSpeculative({ modelDir: models.tinyPhi4, fileTokens: 60, genTokens: 16 });
    expect(result.scenarios.map((s) => s.name)).toEqual(["rewrite", "tool-call", "free-text"]);
    for (const s of result.scenarios) {
      expect(s.plainTokensPerSec).toBeGreaterThan(0);
      expect(s.speculativeTokensPerSec).toBeGreaterThan(0);
      expect(s.speedup).toBeCloseTo(s.speculativeTokensPerSec / s.plainTokensPerSec, 9);
    }
    // The forced outputs copy their context: prompt lookup's drafts are mostly right.
    const [rewrite, tool] = result.scenarios;
    expect(rewrite.tokensPerStep).toBeGreaterThan(2);
    expect(tool.acceptanceRate).toBeGreaterThan(0.5);
    expect(speculativeReportMarkdown(result)).toContain("| rewrite |");
  });
});
