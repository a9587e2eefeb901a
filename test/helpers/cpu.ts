/**
 * How a test names the CPU it ran on: the kernels may run capped by PHI4_CPU_ISA (vitest.config.ts
 * runs the kernel tests once more as an AVX2-only CPU), and a title should say so.
 */
const cap = process.env.PHI4_CPU_ISA;

export const THIS_CPU = cap ? `this CPU capped at ${cap} (PHI4_CPU_ISA)` : "this CPU";
