/**
 * The merge-learning core shared by the BPE trainers (bpe-trainer.ts, metaspace-bpe-trainer.ts): each trainer
 * turns its corpus into words of initial token ids, and this repeatedly merges the most frequent adjacent pair
 * (ties: the pair of smaller ids, as the Rust trainer does) until the vocabulary is full or no pair occurs twice.
 * Pair counts are updated incrementally, only in the words that hold the merged pair, with a lazily corrected
 * max-heap of pairs. A trainer keeps two symbols from ever merging by putting them in different words.
 */

/** A pair seen only once teaches nothing about the corpus; merging it would only memorise a word. */
const minPairCount = 2;
/** Pairs are keyed as left * pairKeyBase + right, so ids must stay below it. */
export const pairKeyBase = 2 ** 20;

/** A distinct training word, as the token ids it currently splits into, and how often it occurs. */
export interface Word {
  /** Token ids, starting as one per character. */
  symbols: number[];
  count: number;
}

/** Counts each distinct piece once, spelled as the ids of its characters (every character must be in `symbolIds`). */
export function countWords(pieces: Iterable<string>, symbolIds: ReadonlyMap<string, number>): Word[] {
  const counts = new Map<string, number>();
  for (const piece of pieces) counts.set(piece, (counts.get(piece) ?? 0) + 1);
  return [...counts].map(([piece, count]) => ({ symbols: Array.from(piece, (char) => symbolIds.get(char)!), count }));
}

/**
 * Learns merges until `tokens` (extended in place with the merged strings) reaches vocabSize.
 * Returns the merges as [left id, right id] in the order learned.
 */
export function learnMerges(words: Word[], tokens: string[], vocabSize: number): Array<[number, number]> {
  const pairCounts = new Map<number, number>();
  /** Words that held the pair when it was counted (entries may be stale: checked before use). */
  const pairWords = new Map<number, Set<number>>();
  const heap = new PairHeap();
  words.forEach((word, w) => {
    for (let i = 0; i + 1 < word.symbols.length; i++) {
      const key = word.symbols[i] * pairKeyBase + word.symbols[i + 1];
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + word.count);
      holdersOf(pairWords, key).add(w);
    }
  });
  for (const [key, count] of pairCounts) heap.push(count, key);

  const idOf = new Map(tokens.map((token, id) => [token, id]));
  const merges: Array<[number, number]> = [];
  while (tokens.length < vocabSize) {
    const best = heap.pop();
    if (!best) break;
    const current = pairCounts.get(best.key) ?? 0;
    if (current !== best.count) {
      if (current > 0) heap.push(current, best.key); // a stale entry: re-queue the pair at its true count
      continue;
    }
    if (current < minPairCount) break;

    const left = Math.floor(best.key / pairKeyBase);
    const right = best.key % pairKeyBase;
    const merged = tokens[left] + tokens[right];
    // Two different merges can spell the same string ("ab"+"c", "a"+"bc"); the token is then shared.
    let id = idOf.get(merged);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(merged);
      idOf.set(merged, id);
    }
    merges.push([left, right]);

    const delta = new Map<number, number>();
    for (const w of pairWords.get(best.key) ?? []) {
      const word = words[w];
      const replaced = mergeSymbols(word.symbols, left, right, id);
      if (!replaced) continue;
      addPairCounts(word.symbols, -word.count, delta);
      word.symbols = replaced;
      addPairCounts(word.symbols, word.count, delta);
      for (let i = 0; i + 1 < replaced.length; i++) holdersOf(pairWords, replaced[i] * pairKeyBase + replaced[i + 1]).add(w);
    }
    for (const [key, change] of delta) {
      if (change === 0) continue;
      const count = (pairCounts.get(key) ?? 0) + change;
      if (count > 0) pairCounts.set(key, count);
      else pairCounts.delete(key);
      if (change > 0) heap.push(count, key);
    }
    pairCounts.delete(best.key);
    pairWords.delete(best.key);
  }
  return merges;
}

/** The word with every non-overlapping (left, right), scanned left to right, replaced by `id`; undefined if none. */
function mergeSymbols(symbols: number[], left: number, right: number, id: number): number[] | undefined {
  const out: number[] = [];
  let found = false;
  for (let i = 0; i < symbols.length; i++) {
    if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
      out.push(id);
      i++;
      found = true;
    } else {
      out.push(symbols[i]);
    }
  }
  return found ? out : undefined;
}

function addPairCounts(symbols: number[], count: number, delta: Map<number, number>): void {
  for (let i = 0; i + 1 < symbols.length; i++) {
    const key = symbols[i] * pairKeyBase + symbols[i + 1];
    delta.set(key, (delta.get(key) ?? 0) + count);
  }
}

function holdersOf(pairWords: Map<number, Set<number>>, key: number): Set<number> {
  let holders = pairWords.get(key);
  if (!holders) pairWords.set(key, (holders = new Set()));
  return holders;
}

/** Max-heap of (count, pair key); among equal counts the smaller key (smaller left id, then right id) comes first. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { count: number; key: number } | undefined {
    if (this.counts.length === 0) return undefined;
    const top = { count: this.counts[0], key: this.keys[0] };
    const lastCount = this.counts.pop()!;
    const lastKey = this.keys.pop()!;
    if (this.counts.length > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < this.counts.length && this.before(l, best)) best = l;
        if (r < this.counts.length && this.before(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }

  private before(a: number, b: number): boolean {
    return this.counts[a] > this.counts[b] || (this.counts[a] === this.counts[b] && this.keys[a] < this.keys[b]);
  }

  private swap(a: number, b: number): void {
    [this.counts[a], this.counts[b]] = [this.counts[b], this.counts[a]];
    [this.keys[a], this.keys[b]] = [this.keys[b], this.keys[a]];
  }
}
