/**
 * ajv-formats on an ajv instance: `format` is validated (full mode: real calendar dates and times),
 * as the constraint's format automata assume (constraint/formats.ts). A format ajv-formats does not
 * know stays unchecked.
 */
import type { Ajv } from "ajv";
import formatsModule from "ajv-formats";

type FormatsPlugin = (ajv: Ajv, options?: { mode?: "fast" | "full" }) => Ajv;

// ajv-formats is CommonJS: Node's ESM loader hands over the plugin itself as the default import, while
// other loaders hand over its exports object, whose `default` is the plugin.
const plugin = ((formatsModule as unknown as { default?: FormatsPlugin }).default ?? formatsModule) as unknown as FormatsPlugin;

export function addFormats(ajv: Ajv): Ajv {
  return plugin(ajv, { mode: "full" });
}
