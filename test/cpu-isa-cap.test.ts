/**
 * PHI4_CPU_ISA (docs/engine.md): a process told to run as a smaller CPU uses no more than that, in
 * both kernels, and a value the addon does not know is an error rather than a cap that caps nothing.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";

import { afterEach, expect, inject, it } from "vitest";

import { INT4_KERNEL_VARIANTS } from "../lib/engine/native-types.js";
import { loadModel } from "../lib/index.js";

const models = inject("models");
const run = promisify(execFile);
const savedCap = process.env.PHI4_CPU_ISA;

afterEach(() => {
  if (savedCap === undefined) delete process.env.PHI4_CPU_ISA;
  else process.env.PHI4_CPU_ISA = savedCap;
});

/** The variants a fresh process capped at `cap` (none: undefined) reports: int4 best, attention, int4 supported list. */
async function reportedUnder(cap: string | undefined) {
  const script = `
    import { loadBinding } from "./dist/engine/binding.js";
    const b = loadBinding();
    console.log(JSON.stringify({ int4: b.int4KernelVariant, attention: b.attentionKernelVariant,
      supported: b.int4KernelVariants().filter((v) => v.supported).map((v) => v.name) }));`;
  const env = { ...process.env };
  if (cap === undefined) delete env.PHI4_CPU_ISA;
  else env.PHI4_CPU_ISA = cap;
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { env });
  return JSON.parse(stdout) as { int4: string; attention: string; supported: string[] };
}

it.each(["avxvnni", "avx2", "portable"])("PHI4_CPU_ISA=%s runs no variant faster than that, in both kernels", async (cap) => {
  // This process may run capped itself (vitest.config.ts): what the CPU has comes from one that is not.
  const here = (await reportedUnder(undefined)).supported;
  const capped = await reportedUnder(cap);
  const allowed = INT4_KERNEL_VARIANTS.slice(INT4_KERNEL_VARIANTS.indexOf(cap as never));
  expect(capped.supported).toEqual(here.filter((v) => (allowed as readonly string[]).includes(v)));
  expect(capped.int4).toBe(capped.supported[0]);
  if (cap === "portable") expect(capped.attention).toBe("portable");
  else expect(capped.attention).not.toMatch(/512/);
});

it("a PHI4_CPU_ISA the addon does not know fails the load, naming the values it takes", async () => {
  process.env.PHI4_CPU_ISA = "avx1024";
  await expect(loadModel(models.tiny)).rejects.toMatchObject({
    code: "INVALID_ARGUMENT",
    message: /PHI4_CPU_ISA must be one of avx512vnni, avxvnni, avx2, portable \(got "avx1024"\)/,
  });
});
