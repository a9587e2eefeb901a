/**
 * The model names this server answers to. Any name is accepted on /v1/messages (the request's model
 * is not passed on; see request-schema.ts), but clients that list or look up models first (Claude
 * Code's model picker, the SDKs' models.list) find the local model under its own id and under the
 * Claude aliases they are configured with by default.
 */
/** The undated model ids the official TypeScript SDK (1.14) knows, newest first. */
export const CLAUDE_ALIASES = [
  "claude-opus-5-5",
  "claude-sonnet-5-5",
  "claude-haiku-5-5",
  "claude-fable-5-2",
  "claude-mythos-5-2",
  "claude-fable-5-1",
  "claude-mythos-5-1",
  "claude-opus-5",
  "claude-sonnet-5",
  "claude-fable-5",
  "claude-mythos-5",
  "claude-opus-4-8",
  "claude-opus-4-7",
  "claude-opus-4-6",
  "claude-sonnet-4-6",
  "claude-opus-4-5",
  "claude-sonnet-4-5",
  "claude-haiku-4-5",
];

export interface ModelInfo {
  type: "model";
  id: string;
  display_name: string;
  created_at: string;
}

export function modelInfos(localId: string, createdAt: Date): ModelInfo[] {
  const created_at = createdAt.toISOString();
  return [localId, ...CLAUDE_ALIASES.filter((id) => id !== localId)].map((id) => ({
    type: "model",
    id,
    display_name: id === localId ? localId : `${id} (served by ${localId})`,
    created_at,
  }));
}

/** The Anthropic list shape; one page holds every model. */
export function modelList(models: ModelInfo[]) {
  return { data: models, has_more: false, first_id: models[0]?.id ?? null, last_id: models.at(-1)?.id ?? null };
}
