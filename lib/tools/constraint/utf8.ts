/** UTF-8 structure, for automata that check it byte by byte. */

/** The UTF-8 sequence a lead byte starts: its length and the range of its second byte (RFC 3629). */
export function utf8Sequence(lead: number): { length: number; lo: number; hi: number } | null {
  if (lead < 0x80) return { length: 1, lo: 0, hi: 0 };
  if (lead >= 0xc2 && lead <= 0xdf) return { length: 2, lo: 0x80, hi: 0xbf };
  if (lead === 0xe0) return { length: 3, lo: 0xa0, hi: 0xbf };
  if (lead === 0xed) return { length: 3, lo: 0x80, hi: 0x9f };
  if (lead >= 0xe1 && lead <= 0xef) return { length: 3, lo: 0x80, hi: 0xbf };
  if (lead === 0xf0) return { length: 4, lo: 0x90, hi: 0xbf };
  if (lead >= 0xf1 && lead <= 0xf3) return { length: 4, lo: 0x80, hi: 0xbf };
  if (lead === 0xf4) return { length: 4, lo: 0x80, hi: 0x8f };
  return null;
}
