/**
 * The ONNX Runtime library this process uses: onnxruntime-node's bundled CPU build by default, or
 * another build (CUDA, DirectML, WebGPU) from the ORT_LIB environment variable or `libraryPath`.
 * ORT keeps global state, so a process loads one library; asking for a second is an error.
 */
import { defaultOrtLibraryPath, loadBinding } from "./binding.js";
import { callNativeSync, Phi4Error } from "./errors.js";
import { INT4_KERNEL_VARIANTS, type Int4KernelVariantName, type NativeBinding, type NativeRuntime } from "./native-types.js";

let loaded: { path: string; runtime: NativeRuntime } | undefined;

export interface RuntimeInfo {
  /** ONNX Runtime version of the loaded library, e.g. "1.30.0". */
  version: string;
  /** C API version the addon was compiled against. */
  apiVersion: number;
  libraryPath: string;
  /** Execution providers the library offers, as ORT names them. */
  providers: string[];
}

export function getRuntime(libraryPath?: string): NativeRuntime {
  checkCpuIsaCap();
  const wanted = libraryPath ?? process.env.ORT_LIB ?? defaultOrtLibraryPath();
  if (loaded) {
    if (loaded.path !== wanted) {
      throw new Phi4Error(
        "RUNTIME_LOAD_FAILED",
        `ONNX Runtime is already loaded from ${loaded.path}; one process can use only one library (asked for ${wanted})`,
      );
    }
    return loaded.runtime;
  }
  const binding = loadBinding() as unknown as NativeBinding;
  const runtime = callNativeSync(() => new binding.Runtime(wanted));
  loaded = { path: wanted, runtime };
  return runtime;
}

/**
 * PHI4_CPU_ISA caps the instruction sets of the addon's kernels (int4 and attention) at one of the
 * int4 kernel variants' names, to run here what a CPU with less would (docs/engine.md). The addon
 * reads it once, when it loads; a value it does not know would silently cap nothing, so it is an
 * error here.
 */
function checkCpuIsaCap(): void {
  const cap = process.env.PHI4_CPU_ISA;
  if (cap && !(INT4_KERNEL_VARIANTS as readonly string[]).includes(cap)) {
    throw new Phi4Error("INVALID_ARGUMENT", `PHI4_CPU_ISA must be one of ${INT4_KERNEL_VARIANTS.join(", ")} (got ${JSON.stringify(cap)})`);
  }
}

/** This CPU can run the addon's int4 kernel (x86-64 with AVX2 and FMA at least); see LoadModelOptions.int4Kernel. */
export function int4KernelSupported(): boolean {
  return (loadBinding() as unknown as NativeBinding).int4KernelSupported === true;
}

/** The int4 kernel variant models use on this CPU (the fastest it runs), e.g. "avx512vnni". */
export function int4KernelVariant(): Int4KernelVariantName {
  return (loadBinding() as unknown as NativeBinding).int4KernelVariant;
}

/** Throws unless `name` is an int4 kernel variant this CPU runs (LoadModelOptions.int4Kernel). */
export function checkInt4KernelVariant(name: string): void {
  const variants = (loadBinding() as unknown as NativeBinding).int4KernelVariants();
  const variant = variants.find((v) => v.name === name);
  if (!variant?.supported) {
    const runs = variants.filter((v) => v.supported).map((v) => v.name);
    throw new Phi4Error(
      "INVALID_ARGUMENT",
      `${variant ? "this CPU cannot run" : "there is no"} int4 kernel variant ${JSON.stringify(name)}: int4Kernel takes true, false or one of ${runs.join(", ")}` +
        (process.env.PHI4_CPU_ISA ? ` (PHI4_CPU_ISA=${process.env.PHI4_CPU_ISA} caps what this process runs)` : ""),
    );
  }
}

export function runtimeInfo(libraryPath?: string): RuntimeInfo {
  const runtime = getRuntime(libraryPath);
  return {
    version: runtime.version,
    apiVersion: runtime.apiVersion,
    libraryPath: loaded!.path,
    providers: callNativeSync(() => runtime.availableProviders()),
  };
}
