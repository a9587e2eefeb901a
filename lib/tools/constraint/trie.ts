/**
 * The token vocabulary as a byte trie in flat typed arrays (compressed sparse rows): walking it from
 * an automaton state visits each shared token prefix once, and a byte the automaton rejects prunes
 * every token below it.
 */
export class ByteTrie {
  private constructor(
    /** Per node: index of its first edge, and how many edges it has. */
    readonly firstEdge: Int32Array,
    readonly edgeCount: Int32Array,
    /** Per edge: the byte and the node it leads to. */
    readonly edgeByte: Uint8Array,
    readonly edgeChild: Int32Array,
    /** Per node: a token whose bytes end here, or -1. */
    readonly token: Int32Array,
    /** Per token: the next token with the same bytes, or -1 (vocabularies rarely have such twins). */
    readonly sameBytes: Int32Array,
  ) {}

  static readonly ROOT = 0;

  /** `tokens[id]` = the token's bytes, or undefined for ids that are not in the trie. */
  static build(tokens: readonly (Uint8Array | undefined)[]): ByteTrie {
    // Pass 1 inserts into an open-addressing hash of (node, byte) -> child (a Map of a million
    // entries is several times slower); pass 2 lays the edges out per node.
    let totalBytes = 0;
    for (const bytes of tokens) totalBytes += bytes?.length ?? 0;
    const bits = Math.max(4, Math.ceil(Math.log2(totalBytes * 1.5 + 1)));
    const slots = 1 << bits;
    const keys = new Int32Array(slots).fill(-1);
    const values = new Int32Array(slots);
    const tokenAt = new Int32Array(totalBytes + 1).fill(-1);
    const sameBytes = new Int32Array(tokens.length).fill(-1);
    let nodes = 1;
    for (let id = 0; id < tokens.length; id++) {
      const bytes = tokens[id];
      if (!bytes) continue;
      let node = 0;
      for (let i = 0; i < bytes.length; i++) {
        const key = node * 256 + bytes[i];
        let h = Math.imul(key, 0x9e3779b1) >>> (32 - bits);
        while (keys[h] !== -1 && keys[h] !== key) h = (h + 1) & (slots - 1);
        if (keys[h] === -1) {
          keys[h] = key;
          values[h] = nodes++;
        }
        node = values[h];
      }
      if (tokenAt[node] !== -1) sameBytes[id] = tokenAt[node];
      tokenAt[node] = id;
    }
    const edgeCount = new Int32Array(nodes);
    for (let h = 0; h < slots; h++) if (keys[h] !== -1) edgeCount[keys[h] >> 8]++;
    const firstEdge = new Int32Array(nodes);
    for (let n = 1; n < nodes; n++) firstEdge[n] = firstEdge[n - 1] + edgeCount[n - 1];
    const filled = new Int32Array(nodes);
    const edgeByte = new Uint8Array(nodes - 1);
    const edgeChild = new Int32Array(nodes - 1);
    for (let h = 0; h < slots; h++) {
      if (keys[h] === -1) continue;
      const parent = keys[h] >> 8;
      const e = firstEdge[parent] + filled[parent]++;
      edgeByte[e] = keys[h] & 255;
      edgeChild[e] = values[h];
    }
    return new ByteTrie(firstEdge, edgeCount, edgeByte, edgeChild, tokenAt.slice(0, nodes), sameBytes);
  }
}
