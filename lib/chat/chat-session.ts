/**
 * ChatSession: a multi-turn chat on one sequence. Each turn appends only the new turn's tokens to what
 * the sequence already holds (the KV of every earlier turn is reused), and a session can be saved to a
 * file and resumed in another process: agent memory that survives restarts.
 *
 *   const chat = await ChatSession.create(model, { systemPrompt: "You are terse." });
 *   const reply = await chat.prompt("Hello!");
 *   await chat.save("memory.phi4kv");
 *   const again = await ChatSession.load(model, "memory.phi4kv");
 */
import { Phi4Error } from "../engine/errors.js";
import type { Generation, GenerateOptions, GenerationResult } from "../engine/generation.js";
import type { Model } from "../engine/model.js";
import type { Sequence } from "../engine/sequence.js";
import type { ChatMessage } from "../tokenizer/index.js";
import type { PromptText } from "../tokenizer/prompt-text.js";

export interface ChatSessionOptions {
  systemPrompt?: string;
  /** Tool definitions rendered into the system message (see the tool-calling docs). */
  tools?: unknown[];
  /** KV capacity of the session's sequence. Default: the model's. */
  capacity?: number;
}

/** What a saved session keeps besides the KV state. */
interface SessionMetadata {
  kind: "phi4-chat-session";
  messages: ChatMessage[];
  tools?: unknown[];
}

const END_OF_TURN = "<|end|>";

export class ChatSession {
  private constructor(
    readonly sequence: Sequence,
    private readonly history: ChatMessage[],
    private readonly tools: unknown[] | undefined,
  ) {}

  static async create(model: Model, options: ChatSessionOptions = {}): Promise<ChatSession> {
    const sequence = await model.createSequence({ capacity: options.capacity });
    const history: ChatMessage[] = options.systemPrompt !== undefined ? [{ role: "system", content: options.systemPrompt }] : [];
    return new ChatSession(sequence, history, options.tools);
  }

  /** Resumes a session saved with save(): its messages and its KV cache, so the next turn starts at once. */
  static async load(model: Model, file: string, options: Pick<ChatSessionOptions, "capacity"> = {}): Promise<ChatSession> {
    const sequence = await model.createSequence({ capacity: options.capacity });
    try {
      const metadata = (await sequence.loadStateFile(file)) as SessionMetadata | undefined;
      if (metadata?.kind !== "phi4-chat-session" || !Array.isArray(metadata.messages)) {
        throw new Phi4Error("STATE_INVALID", `${file} holds a sequence state, not a chat session`);
      }
      return new ChatSession(sequence, metadata.messages, metadata.tools);
    } catch (error) {
      await sequence.dispose();
      throw error;
    }
  }

  /** The conversation so far. */
  get messages(): readonly ChatMessage[] {
    return this.history;
  }

  /** Sends a user turn and streams the reply; the reply joins the history when it completes. */
  promptStream(text: string, options: Omit<GenerateOptions, "append"> = {}): Generation {
    const tokens = this.turnTokens(text);
    const generation = this.sequence.generate(tokens, { ...options, append: false });
    this.history.push({ role: "user", content: text });
    generation.result.then(
      (result) => this.history.push({ role: "assistant", content: result.text }),
      () => this.history.pop(), // a failed turn leaves the history as it was
    );
    return generation;
  }

  /** Sends a user turn and returns the whole reply. */
  async prompt(text: string, options: Omit<GenerateOptions, "append"> = {}): Promise<GenerationResult> {
    return this.promptStream(text, options).result;
  }

  /** Writes the messages and the KV cache to `file`. */
  save(file: string): Promise<void> {
    const metadata: SessionMetadata = { kind: "phi4-chat-session", messages: this.history, tools: this.tools };
    return this.sequence.saveStateFile(file, metadata);
  }

  dispose(): Promise<void> {
    return this.sequence.dispose();
  }

  private render(messages: ChatMessage[], addGenerationPrompt: boolean): PromptText {
    return this.sequence.model.tokenizer.renderPrompt(messages, { tools: this.tools, addGenerationPrompt });
  }

  /**
   * The whole context for the next turn: the sequence's own tokens (the previous reply as generated,
   * closed with <|end|>) plus only the new turn. Re-encoding the whole conversation instead could
   * tokenize the earlier replies differently from how they were generated and throw their KV away.
   */
  private turnTokens(text: string): number[] {
    const tokenizer = this.sequence.model.tokenizer;
    const next = this.render([...this.history, { role: "user", content: text }], true);
    const previous = this.history.length > 0 ? this.render(this.history, false).text : "";
    const end = tokenizer.tokenToId(END_OF_TURN);
    const lastIsReply = this.history.at(-1)?.role === "assistant";
    if (!lastIsReply || end === undefined || !next.text.startsWith(previous) || !previous.endsWith(END_OF_TURN)) {
      return tokenizer.encode(next);
    }
    // The reply as generated, ending with exactly one <|end|> (it may have stopped on another eos or on max tokens).
    const reply = [...this.sequence.tokens];
    const eos = this.sequence.model.folder.eosTokenIds;
    if (reply.length > 0 && eos.includes(reply[reply.length - 1])) reply.pop();
    return [...reply, end, ...tokenizer.encode(next.slice(previous.length))];
  }
}
