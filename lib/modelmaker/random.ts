// Seeded PRNG for weights: xoshiro128** seeded through splitmix32. Each tensor gets its own stream,
// derived from (seed, tensor name), so a tensor's bytes do not depend on the order tensors are written
// in, and a stream can be replayed (the tied lm_head re-reads the embedding table this way).

function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [next, (z ^ (z >>> 16)) >>> 0];
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream: string) {
    let s = (seed ^ fnv1a(stream)) | 0;
    let v: number;
    [s, v] = splitmix32(s);
    this.a = v;
    [s, v] = splitmix32(s);
    this.b = v;
    [s, v] = splitmix32(s);
    this.c = v;
    [, v] = splitmix32(s);
    this.d = v | 1; // the all-zero state is a fixed point
  }

  /** Fills `out` with uniform 32-bit words. The loop is inlined because it produces gigabytes. */
  fillU32(out: Uint32Array): void {
    let { a, b, c, d } = this;
    for (let i = 0; i < out.length; i++) {
      const r = Math.imul(b, 5);
      out[i] = Math.imul((r << 7) | (r >>> 25), 9);
      const t = b << 9;
      c ^= a;
      d ^= b;
      b ^= c;
      a ^= d;
      c ^= t;
      d = (d << 11) | (d >>> 21);
    }
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
  }

  /** Fills `out` with uniform floats in [lo, hi). */
  fillUniform(out: Float32Array, lo: number, hi: number): void {
    const words = new Uint32Array(out.length);
    this.fillU32(words);
    const step = (hi - lo) / 4294967296;
    for (let i = 0; i < out.length; i++) out[i] = lo + words[i] * step;
  }

  /** Random bytes: the words in host order, which is little-endian on every platform Node ships for. */
  bytes(length: number): Uint8Array {
    const words = new Uint32Array(Math.ceil(length / 4));
    this.fillU32(words);
    return new Uint8Array(words.buffer, 0, length);
  }
}
