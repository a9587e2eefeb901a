/**
 * A long prefill's progress on the terminal ("prefill 4096/18649 tokens", one line rewritten in
 * place and cleared when the prefill ends), for the commands that run the local model. Shown only
 * when stderr is a terminal: piped output and logs get no carriage returns.
 */
import type { Model } from "../engine/model.js";

export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

/** Starts showing the model's prefill progress on `stream`; returns the function that stops it. */
export function showPrefillProgress(model: Model, stream: ProgressStream = process.stderr): () => void {
  if (!stream.isTTY) return () => undefined;
  let shown = false;
  const clear = () => {
    if (shown) stream.write("\r\x1b[K");
    shown = false;
  };
  const unsubscribe = model.onPrefillProgress(({ done, total }) => {
    if (done >= total) return clear();
    stream.write(`\r\x1b[Kprefill ${done}/${total} tokens`);
    shown = true;
  });
  return () => {
    unsubscribe();
    clear();
  };
}
