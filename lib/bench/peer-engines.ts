/** The engines `phi4 bench peer` compares, by name. */
import { openLlamaCpp } from "./peer-engine-llama.js";
import { openPhi4 } from "./peer-engine-phi4.js";
import { openTransformers } from "./peer-engine-transformers.js";
import type { PeerEngine, PeerEngineConfig, PeerEngineName } from "./peer-engine.js";

export { PEER_ENGINES, type PeerEngine, type PeerEngineConfig, type PeerEngineName } from "./peer-engine.js";

const OPEN: Record<PeerEngineName, (config: PeerEngineConfig) => Promise<PeerEngine>> = {
  "phi4-onnx": openPhi4,
  "transformers.js": openTransformers,
  "llama.cpp": openLlamaCpp,
};

export function openEngine(name: PeerEngineName, config: PeerEngineConfig): Promise<PeerEngine> {
  return OPEN[name](config);
}
