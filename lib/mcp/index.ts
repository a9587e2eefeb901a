export { McpBridge, type McpBridgeOptions } from "./bridge.js";
export { McpServerConnection } from "./connection.js";
export { loadMcpConfig, parseMcpConfig, type McpConfig, type McpServerConfig } from "./config.js";
export { exposedToolName } from "./names.js";
export { toolOutputFromMcp } from "./results.js";
