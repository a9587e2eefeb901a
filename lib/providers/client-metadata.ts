/**
 * Client metadata in a request that is not an instruction to the model, left out of the local
 * model's prompt. Claude Code (and the Claude Agent SDK, which runs it) sends
 * `x-anthropic-billing-header: cc_version=2.1.197.<3 hex>; cc_entrypoint=cli;` as the first system
 * text block: billing metadata for Anthropic's API, whose hex digits change with each session's
 * first prompt. Rendered, it would make every session's prompt differ from its first tokens on, so no
 * session could reuse the prefill of the system prompt and tools that follow it (byte-identical
 * otherwise). A provider that forwards the request (Claude) still sends it unchanged.
 */
import type { MessageRequest } from "../messages/types.js";

const CLIENT_METADATA = /^\s*x-anthropic-billing-header:/i;

/** A system text block that only carries client metadata. */
export function isClientMetadata(text: string): boolean {
  return CLIENT_METADATA.test(text);
}

/** The request without its client metadata system blocks (the same object when it has none). */
export function withoutClientMetadata(request: MessageRequest): MessageRequest {
  const system = request.system;
  if (system === undefined || typeof system === "string" || !system.some((block) => isClientMetadata(block.text))) return request;
  return { ...request, system: system.filter((block) => !isClientMetadata(block.text)) };
}
