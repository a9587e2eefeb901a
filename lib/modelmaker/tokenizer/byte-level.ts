// GPT-2 byte-to-unicode table used by byte-level BPE vocabularies: every byte maps to a printable
// character, so a token's bytes can be stored as a JSON string key (space becomes "Ġ", "\n" becomes "Ċ").

const BYTE_TO_CHAR: string[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table = new Array<string>(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCharCode(printable(b) ? b : 256 + shifted++);
  }
  return table;
})();

/** Byte-level vocabulary string for a byte sequence given as a latin1 "binary" string (one char per byte). */
export function binaryToByteLevel(binary: string): string {
  let out = "";
  for (let i = 0; i < binary.length; i++) out += BYTE_TO_CHAR[binary.charCodeAt(i)];
  return out;
}

/** Byte-level vocabulary string for UTF-8 text. */
export function textToByteLevel(text: string): string {
  return binaryToByteLevel(Buffer.from(text, "utf8").toString("latin1"));
}
