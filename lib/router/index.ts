export { Router, RouterError, type AttemptError, type RouterOptions } from "./router.js";
export type { AttemptFailure, MetricsSnapshot, ProviderMetrics, RouteDecision, RouteRule } from "../providers/routing.js";
export { DEFAULT_RULES, estimateTokens, planRoute, type LocalLoad, type ProviderTraits, type RoutePlan, type RoutingRules } from "./rules.js";
export { RouterMetrics, type TokenPrice } from "./metrics.js";
export { checkAnswer } from "./validate.js";
export { ConfigError } from "../util/config-file.js";
export { loadRouterConfig, parseRouterConfig, routerConfigSchema, type ProviderConfig, type RouterConfig } from "./config.js";
export { createRouter } from "./from-config.js";
