import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { encode as o200kEncode } from "gpt-tokenizer/encoding/o200k_base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTokenizerFiles, type TokenizerFiles } from "../lib/modelmaker/tokenizer-files.js";
import { PHI4_CHAT_TEMPLATE } from "../lib/modelmaker/tokenizer/phi4-format.js";
import { renderChat, StreamDecoder, Tokenizer } from "../lib/tokenizer/index.js";

const dirs: string[] = [];

async function writeFolder(files: TokenizerFiles): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "tokenizer-test-"));
  dirs.push(dir);
  await writeFile(path.join(dir, "tokenizer.json"), JSON.stringify(files.tokenizerJson));
  await writeFile(path.join(dir, "tokenizer_config.json"), JSON.stringify(files.tokenizerConfig));
  return dir;
}

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

// Texts where a BPE built from ranks could drift from tiktoken: code, scripts, emoji, whitespace,
// digit runs (split in threes), contractions in every case, punctuation runs.
const CORPUS = [
  "Hello, world!",
  "function add(a: number, b: number): number {\n\treturn a + b;\n}\n",
  "def f(x):\n    if x > 0:\n        return [i ** 2 for i in range(x)]\n    return None  # done\n",
  'const re = /^(?:[a-z0-9_-]+)\\.json$/i; console.log(`${a}${b}`, {"k": [1, 2.5e-3, null]});',
  '<div class="a">&nbsp;</div><!-- comment --> SELECT * FROM t WHERE id = 42;',
  "日本語のテキストと中文文本，还有한국어 텍스트。",
  "Café, naïve, façade, Ångström, Łódź, São Paulo, İstanbul, ß, ÆØÅ.",
  "مرحبا بالعالم، هذا نص عربي.",
  "नमस्ते दुनिया, यह हिंदी पाठ है।",
  "Привет, мир! Ελληνικά κείμενα. עברית.",
  "emoji 😀😃😄 👍🏽 🇫🇷🇯🇵 👨‍👩‍👧‍👦 🏳️‍🌈 🧑🏿‍💻 ❤️‍🔥",
  "   leading spaces and trailing   ",
  "tabs\t\t\tand\r\nwindows\r\n\r\nnewlines\n\n\n\nmany",
  " \n \n\t \u00a0\u2003\u3000 mixed whitespace ",
  "1 12 123 1234 12345 123456 1234567 12345678 123456789 1234567890 3.14159265358979 -0.001 1e10 0x1F",
  "I'm you're we've they'll she'd it's can't don't won't",
  "I'M YOU'RE WE'VE THEY'LL SHE'D IT'S CAN'T DON'T, mIxEd'Re oDd'Ll",
  "...!!!???---***///\\\\|||;;;:::,,,''' \"\"\" ```code``` ~~~ ===>>> <<<",
  "URL: https://example.com/path/to/page?query=1&other=two#frag //comment /* block */",
  "MixedCase camelCaseWords snake_case_words SCREAMING_CASE kebab-case PascalCase HTTPServer",
  "a\u0301 e\u0308 combining marks, ﬁ ligature, ＦＵＬＬＷＩＤＴＨ, ½ ² ⅷ",
  "Numbers in text: the 3rd of 12 items costs $1,234.56 (≈€1.100) — 50% off!",
  "",
  "x",
  " ",
];

describe("phi4 tokenizer", () => {
  let files: TokenizerFiles;
  let tok: Tokenizer;

  beforeAll(async () => {
    files = buildTokenizerFiles("phi4");
    tok = await Tokenizer.fromModelDir(await writeFolder(files));
  });

  it("has the Phi-4-mini shape", () => {
    expect(files.vocabSize).toBe(200064);
    expect(files.bosTokenId).toBe(199999);
    expect(files.eosTokenIds).toEqual([200020, 199999]);
    expect(files.padTokenId).toBe(199999);
    const model = (files.tokenizerJson as { model: { merges: string[]; vocab: object } }).model;
    expect(model.merges).toHaveLength(199742);
    expect(Object.keys(model.vocab)).toHaveLength(199998);
    expect(tok.vocabSize).toBe(200064);
  });

  it("encodes exactly like an independent o200k_base implementation", () => {
    for (const text of CORPUS) expect(tok.encode(text), JSON.stringify(text)).toEqual(o200kEncode(text));
    const all = CORPUS.join("\n");
    expect(tok.encode(all)).toEqual(o200kEncode(all));
  });

  it("matches o200k_base on random mixtures of tricky pieces", () => {
    const pieces = [
      "a",
      "Z",
      " ",
      "  ",
      "\n",
      "\t",
      "\r\n",
      "'s",
      "'T",
      "x'LL",
      "'",
      "1",
      "23",
      "😀",
      "👨‍👩‍👧",
      "中",
      "é",
      "ı",
      "ß",
      "!",
      "?",
      "/",
      "-",
      "_",
      "ǅ",
      "ﬁ",
      "ℌ",
      "\u0301",
      "٣",
      "𝔄",
      "\u200d",
      "\u00a0",
    ];
    let seed = 1;
    const next = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    for (let i = 0; i < 3000; i++) {
      const text = Array.from({ length: 1 + next(20) }, () => pieces[next(pieces.length)]).join("");
      expect(tok.encode(text), JSON.stringify(text)).toEqual(o200kEncode(text));
    }
  });

  it("keeps a byte-order mark as tiktoken's single token", () => {
    // gpt-tokenizer decodes its vocabulary with a BOM-stripping TextDecoder and so splits U+FEFF;
    // tiktoken's rank table (js-tiktoken) has EF BB BF as rank 5574.
    expect(tok.encode("\ufeffx")).toEqual([5574, 87]);
  });

  it("round-trips text through decode", () => {
    for (const text of CORPUS) expect(tok.decode(tok.encode(text))).toBe(text);
  });

  it("maps Phi-4 special tokens to their ids", () => {
    const expected: Record<string, number> = {
      "<|endoftext|>": 199999,
      "<|endofprompt|>": 200018,
      "<|assistant|>": 200019,
      "<|end|>": 200020,
      "<|user|>": 200021,
      "<|system|>": 200022,
      "<|tool|>": 200023,
      "<|/tool|>": 200024,
      "<|tool_call|>": 200025,
      "<|/tool_call|>": 200026,
      "<|tool_response|>": 200027,
      "<|tag|>": 200028,
    };
    for (const [token, id] of Object.entries(expected)) {
      expect(tok.tokenToId(token)).toBe(id);
      expect(tok.idToToken(id)).toBe(token);
      expect(tok.encode(token)).toEqual([id]);
    }
    expect(tok.encode("Hi<|end|>")).toEqual([...o200kEncode("Hi"), 200020]);
    expect(tok.encode("<|end|>", { allowSpecial: false })).toEqual(o200kEncode("<|end|>"));
    expect(tok.eosTokenIds).toEqual([199999]);
    expect(tok.specialTokenIds.has(200020)).toBe(true);
    expect(tok.specialTokenIds.has(200025)).toBe(false);
  });

  it("decodes with and without special tokens", () => {
    const ids = tok.encode("<|user|>Hi<|end|><|assistant|><|tool_call|>[]<|/tool_call|><|end|>");
    expect(tok.decode(ids)).toBe("<|user|>Hi<|end|><|assistant|><|tool_call|>[]<|/tool_call|><|end|>");
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe("Hi<|tool_call|>[]<|/tool_call|>");
    expect(tok.decode([])).toBe("");
    expect(tok.decode([200063])).toBe("<|reserved_200063|>");
  });

  it("streams text whose deltas add up to the full decode, never splitting a character", () => {
    for (const text of [CORPUS[5], CORPUS[10], "a😀b🧑🏿‍💻c中文🇯🇵d", "💩".repeat(20)]) {
      const ids = tok.encode(text);
      const decoder = new StreamDecoder(tok);
      const deltas = ids.map((id) => decoder.push(id));
      deltas.push(decoder.flush());
      for (const d of deltas) expect(d).not.toContain("\uFFFD");
      expect(deltas.join("")).toBe(tok.decode(ids));
      expect(deltas.join("")).toBe(text);
    }
  });

  it("streams invalid bytes as U+FFFD once later text shows they cannot complete", () => {
    const lead = tok.tokenToId("ð")!; // byte-level spelling of the lone byte 0xF0 (a 4-byte lead)
    const ids = [lead, ...tok.encode("ab"), ...tok.encode("<|end|>"), ...tok.encode("c")];
    const decoder = new StreamDecoder(tok, { skipSpecialTokens: true });
    const deltas = ids.map((id) => decoder.push(id));
    expect(deltas[0]).toBe("");
    expect(deltas.join("") + decoder.flush()).toBe("\uFFFDabc");
  });

  it("applies the folder's chat template", () => {
    expect(tok.applyChatTemplate([{ role: "user", content: "Hi" }])).toBe("<|user|>Hi<|end|><|assistant|>");
  });
});

describe("chat template", () => {
  const tools = [
    {
      name: "get_weather",
      description: "Weather for a city — ☀️",
      parameters: { city: { type: "str", description: "City name" } },
    },
  ];
  const toolsText =
    '[{"name": "get_weather", "description": "Weather for a city \\u2014 \\u2600\\ufe0f", ' +
    '"parameters": {"city": {"type": "str", "description": "City name"}}}]';

  it("renders system + tools + user as Phi-4-mini documents", () => {
    const out = renderChat(
      PHI4_CHAT_TEMPLATE,
      [
        { role: "system", content: "SYS" },
        { role: "user", content: "Hi" },
      ],
      { tools, eosToken: "<|endoftext|>" },
    );
    expect(out).toBe(`<|system|>SYS<|tool|>${toolsText}<|/tool|><|end|><|user|>Hi<|end|><|assistant|>`);
  });

  it("adds a system message to carry tools when there is none", () => {
    const out = renderChat(PHI4_CHAT_TEMPLATE, [{ role: "user", content: "Hi" }], { tools });
    expect(out).toBe(`<|system|><|tool|>${toolsText}<|/tool|><|end|><|user|>Hi<|end|><|assistant|>`);
  });

  it("renders multi-turn conversations, tool results and the no-generation-prompt ending", () => {
    const messages = [
      { role: "system" as const, content: "Be brief." },
      { role: "user" as const, content: "Hi" },
      { role: "assistant" as const, content: "Hello!" },
      { role: "tool" as const, content: '{"ok": true}' },
      { role: "user" as const, content: "Bye" },
    ];
    expect(renderChat(PHI4_CHAT_TEMPLATE, messages)).toBe(
      "<|system|>Be brief.<|end|><|user|>Hi<|end|><|assistant|>Hello!<|end|>" + '<|tool|>{"ok": true}<|end|><|user|>Bye<|end|><|assistant|>',
    );
    expect(renderChat(PHI4_CHAT_TEMPLATE, messages.slice(1, 3), { addGenerationPrompt: false, eosToken: "<|endoftext|>" })).toBe(
      "<|user|>Hi<|end|><|assistant|>Hello!<|end|><|endoftext|>",
    );
  });

  it("renders without a system message", () => {
    expect(renderChat(PHI4_CHAT_TEMPLATE, [{ role: "user", content: "Hi" }])).toBe("<|user|>Hi<|end|><|assistant|>");
  });
});

describe("tiny tokenizer", () => {
  it("builds quickly and deterministically, round-trips text and keeps Phi-4 tags whole", async () => {
    const started = performance.now();
    const files = buildTokenizerFiles("tiny");
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(JSON.stringify(buildTokenizerFiles("tiny"))).toBe(JSON.stringify(files));
    expect(files.vocabSize % 64).toBe(0);
    expect(files.vocabSize).toBeGreaterThan(512);
    expect(files.vocabSize).toBeLessThanOrEqual(1024);

    const tok = await Tokenizer.fromModelDir(await writeFolder(files));
    expect(tok.vocabSize).toBe(files.vocabSize);
    for (const text of CORPUS) expect(tok.decode(tok.encode(text))).toBe(text);
    const tags = [
      "<|endoftext|>",
      "<|end|>",
      "<|user|>",
      "<|assistant|>",
      "<|system|>",
      "<|tool|>",
      "<|/tool|>",
      "<|tool_call|>",
      "<|/tool_call|>",
      "<|tool_response|>",
    ];
    for (const tag of tags) expect(tok.encode(tag)).toEqual([tok.tokenToId(tag)]);
    expect(files.eosTokenIds).toEqual([tok.tokenToId("<|end|>"), tok.tokenToId("<|endoftext|>")]);
    // Learned merges make common words shorter than their bytes.
    expect(tok.encode("the function returns the weather").length).toBeLessThan(15);
    const prompt = tok.applyChatTemplate([{ role: "user", content: "Hi" }]);
    expect(tok.decode(tok.encode(prompt))).toBe(prompt);
  });
});

describe("loading errors", () => {
  it("names the missing or corrupt file", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "tokenizer-test-"));
    dirs.push(dir);
    await expect(Tokenizer.fromModelDir(dir)).rejects.toThrow(/tokenizer\.json|tokenizer_config\.json/);
    await writeFile(path.join(dir, "tokenizer.json"), "{ not json");
    await writeFile(path.join(dir, "tokenizer_config.json"), "{}");
    await expect(Tokenizer.fromModelDir(dir)).rejects.toThrow(/tokenizer\.json .*not valid JSON/);
    await writeFile(path.join(dir, "tokenizer.json"), JSON.stringify({ model: {} }));
    await expect(Tokenizer.fromModelDir(dir)).rejects.toThrow(/tokenizer\.json/);
  });
});
