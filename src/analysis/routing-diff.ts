/**
 * Routing diff of two traces of the same prompts through two checkpoints (analyses.md, "Comparing two
 * checkpoints"). Per MoE layer, over the T tokens:
 *   overlap        = mean_t |S_a(t) ∩ S_b(t)| / K            (OLMoE's router saturation)
 *   top-1 agreement = share of tokens whose first choice is the same expert
 *   load shift     = Jensen-Shannon divergence (bits, 0..1) of the two load distributions, and per expert
 *                    load_b - load_a
 * and per token the overlap averaged over layers, whose lowest values are the tokens whose routing changed most
 * (tokens routed the same way in every layer are never listed).
 * The traces are read in blocks of tokens, so memory is one block plus a float per token.
 */
import { InputError } from '../errors.js';
import { characterCount, cutAtCharacters } from '../loaders/utf8.js';
import type { Trace } from '../trace.js';
import { ExpertLoadCounter } from './load-stats.js';
import { streamRouting } from './routing-stream.js';

export interface LayerRoutingChange {
  layer: number;
  overlap: number;
  top1Agreement: number;
  /** Bits; 0 for the same load distribution, 1 for disjoint ones. */
  loadJsDivergence: number;
  /** Tokens routed to each expert (load_i), by expert index. */
  loadA: number[];
  loadB: number[];
}

export interface TokenRoutingChange {
  /** Global token index in the traces. */
  token: number;
  tokenId: number;
  prompt: number;
  /** How reports name that prompt: "line N" of the prompts file where the trace records it (Trace.promptName). */
  promptName: string;
  /** Position within its prompt. */
  position: number;
  /** Overlap averaged over the layers. */
  overlap: number;
  /** Share of layers where the top-1 expert is the same. */
  top1Agreement: number;
  /**
   * The token's bytes and about `contextChars` characters of its prompt on either side, as UTF-8 bytes (a token
   * may hold part of a character); absent when the traces carry no text.
   */
  text?: { before: Uint8Array; token: Uint8Array; after: Uint8Array };
}

export interface RoutingDiff {
  tokens: number;
  k: number;
  nExperts: number;
  layers: LayerRoutingChange[];
  /** Tokens routed differently in at least one layer, lowest mean overlap first (ties: lower top-1 agreement, then earlier token). */
  mostChanged: TokenRoutingChange[];
}

/** What RoutingComparison knows without the traces: tokens by global index only. */
export type ComparisonResult = Omit<RoutingDiff, 'mostChanged'> & { mostChanged: Array<Pick<TokenRoutingChange, 'token' | 'overlap' | 'top1Agreement'>> };

export const routingDiffDefaults = {
  /** How many of the most changed tokens to keep. */
  mostChanged: 25,
  /** Tokens read from each trace per block. */
  blockTokens: 4096,
  /** Characters of prompt text shown on either side of a changed token. */
  contextChars: 40,
};

/** Jensen-Shannon divergence in bits of two distributions given as non-negative weights (normalised here). */
export function jsDivergenceBits(p: ArrayLike<number>, q: ArrayLike<number>): number {
  if (p.length !== q.length) throw new RangeError(`cannot compare distributions over ${p.length} and ${q.length} outcomes`);
  const totalP = sum(p);
  const totalQ = sum(q);
  if (!(totalP > 0 && totalQ > 0)) throw new RangeError('cannot compare an empty distribution');
  // JS = H(m) - (H(p) + H(q)) / 2 written term by term: sum_i p_i/2 log2(p_i/m_i) + q_i/2 log2(q_i/m_i).
  let divergence = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i] / totalP;
    const qi = q[i] / totalQ;
    const mi = (pi + qi) / 2;
    if (pi > 0) divergence += (pi / 2) * Math.log2(pi / mi);
    if (qi > 0) divergence += (qi / 2) * Math.log2(qi / mi);
  }
  // Rounding can leave a value a hair outside [0, 1].
  return Math.max(0, Math.min(1, divergence));
}

/**
 * Accumulates the comparison block by block. `add` takes the two traces' topk_ids for the same tokens,
 * [(n), L, K] each, in descending order of selection score (so entry 0 is the top-1 expert).
 */
export class RoutingComparison {
  private readonly overlapSum: Float64Array;
  private readonly top1Count: Float64Array;
  private readonly loadA: ExpertLoadCounter;
  private readonly loadB: ExpertLoadCounter;
  /** Per token: |S_a ∩ S_b| summed over layers (integers, so "unchanged" is exact), and layers with the same top-1. */
  private tokenShared: Uint32Array;
  private tokenTop1: Uint16Array;
  private tokens = 0;
  /** Expert e is in the current S_a when mark[e] equals the current stamp. */
  private readonly mark: Uint32Array;
  private stamp = 0;

  constructor(
    readonly layers: number[],
    readonly k: number,
    readonly nExperts: number,
  ) {
    const L = layers.length;
    this.overlapSum = new Float64Array(L);
    this.top1Count = new Float64Array(L);
    this.loadA = new ExpertLoadCounter(L, k, nExperts);
    this.loadB = new ExpertLoadCounter(L, k, nExperts);
    this.tokenShared = new Uint32Array(1024);
    this.tokenTop1 = new Uint16Array(1024);
    this.mark = new Uint32Array(nExperts);
  }

  add(idsA: Int32Array, idsB: Int32Array): void {
    const { k: K } = this;
    const L = this.layers.length;
    if (idsA.length !== idsB.length || idsA.length % (L * K) !== 0) {
      throw new RangeError(`topk_ids blocks of ${idsA.length} and ${idsB.length} values do not both hold whole tokens of ${L} layers x ${K}`);
    }
    const n = idsA.length / (L * K);
    this.reserve(this.tokens + n);
    this.loadA.add({ start: this.tokens, tokens: n, ids: idsA });
    this.loadB.add({ start: this.tokens, tokens: n, ids: idsB });
    for (let t = 0; t < n; t++) {
      let tokenShared = 0;
      let tokenTop1 = 0;
      for (let l = 0; l < L; l++) {
        const base = (t * L + l) * K;
        // |S_a ∩ S_b| by marking S_a; a matched expert is unmarked so a repeated id in S_b counts once.
        if (++this.stamp === 0xffffffff) {
          this.mark.fill(0);
          this.stamp = 1;
        }
        for (let j = 0; j < K; j++) this.mark[idsA[base + j]] = this.stamp;
        let shared = 0;
        for (let j = 0; j < K; j++) {
          if (this.mark[idsB[base + j]] === this.stamp) {
            shared++;
            this.mark[idsB[base + j]] = 0;
          }
        }
        const sameTop1 = idsA[base] === idsB[base] ? 1 : 0;
        this.overlapSum[l] += shared / K;
        this.top1Count[l] += sameTop1;
        tokenShared += shared;
        tokenTop1 += sameTop1;
      }
      this.tokenShared[this.tokens + t] = tokenShared;
      this.tokenTop1[this.tokens + t] = tokenTop1;
    }
    this.tokens += n;
  }

  /** Per-layer results, and of the tokens whose routing changed, the `count` with the lowest mean overlap (global token indices). */
  result(count: number = routingDiffDefaults.mostChanged): ComparisonResult {
    const { k, nExperts: E, tokens: T } = this;
    const L = this.layers.length;
    if (T === 0) throw new RangeError('no tokens to compare');
    const layers = this.layers.map((layer, l) => {
      const loadA = this.loadA.layer(l);
      const loadB = this.loadB.layer(l);
      return { layer, overlap: this.overlapSum[l] / T, top1Agreement: this.top1Count[l] / T, loadJsDivergence: jsDivergenceBits(loadA, loadB), loadA, loadB };
    });
    const changed = (t: number) => this.tokenShared[t] < L * k || this.tokenTop1[t] < L;
    const byChange = (x: number, y: number) => this.tokenShared[x] - this.tokenShared[y] || this.tokenTop1[x] - this.tokenTop1[y] || x - y;
    const mostChanged = lowest(T, count, byChange, changed).map((token) => ({ token, overlap: this.tokenShared[token] / (L * k), top1Agreement: this.tokenTop1[token] / L }));
    return { tokens: T, k, nExperts: E, layers, mostChanged };
  }

  private reserve(tokens: number): void {
    if (tokens <= this.tokenShared.length) return;
    const size = Math.max(tokens, 2 * this.tokenShared.length);
    const shared = new Uint32Array(size);
    shared.set(this.tokenShared);
    this.tokenShared = shared;
    const top1 = new Uint16Array(size);
    top1.set(this.tokenTop1);
    this.tokenTop1 = top1;
  }
}

/**
 * Compares two traces of the same prompts. They must record the same layers, K, E and token ids: anything
 * else means they were not made from the same prompts with the same tokenizer.
 */
export function compareTraces(a: Trace, b: Trace, options: { mostChanged?: number; blockTokens?: number; contextChars?: number } = {}): RoutingDiff {
  const { mostChanged = routingDiffDefaults.mostChanged, blockTokens = routingDiffDefaults.blockTokens, contextChars = routingDiffDefaults.contextChars } = options;
  checkComparable(a, b);
  const comparison = new RoutingComparison(a.layers, a.k, a.nExperts);
  // One pass over A; each block of A meets the same tokens of B.
  streamRouting(a, [{ add: ({ start, tokens, ids }) => comparison.add(ids, b.readTopkIds(start, start + tokens)) }], { blockTokens });
  const result = comparison.result(mostChanged);
  const located = result.mostChanged.map((change): TokenRoutingChange => {
    const prompt = promptOf(a.promptOffsets, change.token);
    const text = a.hasText ? tokenContext(a, change.token, prompt, contextChars) : undefined;
    return { ...change, tokenId: a.tokenIds[change.token], prompt, promptName: a.promptName(prompt), position: change.token - a.promptOffsets[prompt], text };
  });
  return { ...result, mostChanged: located };
}

function checkComparable(a: Trace, b: Trace): void {
  const differ = (what: string, valueA: unknown, valueB: unknown) =>
    new InputError(`traces ${a.file} and ${b.file} cannot be compared: ${what} ${JSON.stringify(valueA)} vs ${JSON.stringify(valueB)}`, 'diff-traces');
  if (a.k !== b.k) throw differ('num_experts_per_tok', a.k, b.k);
  if (a.nExperts !== b.nExperts) throw differ('n_routed_experts', a.nExperts, b.nExperts);
  if (a.layers.join() !== b.layers.join()) throw differ('layers', a.layers, b.layers);
  if (a.nTokens !== b.nTokens) throw differ('token count', a.nTokens, b.nTokens);
  if (a.nTokens === 0) throw new InputError(`traces ${a.file} and ${b.file} hold no tokens to compare`, 'diff-traces');
  const t = a.tokenIds.findIndex((id, i) => id !== b.tokenIds[i]);
  if (t >= 0) throw differ(`token ${t} id`, a.tokenIds[t], b.tokenIds[t]);
}

/**
 * The token's bytes with its prompt's bytes around it: whole tokens until `chars` characters are reached, then
 * cut at the outer ends to whole characters (a token there may start or end inside a character). Next to the
 * token the bytes are kept as they are, so a character the token completes shows as the bytes it is made of.
 */
function tokenContext(trace: Trace, token: number, prompt: number, chars: number): { before: Uint8Array; token: Uint8Array; after: Uint8Array } {
  const [first, end] = [trace.promptOffsets[prompt], trace.promptOffsets[prompt + 1]];
  const before: Uint8Array[] = [];
  for (let t = token - 1, n = 0; t >= first && n < chars; t--) {
    before.unshift(trace.tokenBytes(t));
    n += characterCount(before[0]);
  }
  const after: Uint8Array[] = [];
  for (let t = token + 1, n = 0; t < end && n < chars; t++) {
    after.push(trace.tokenBytes(t));
    n += characterCount(after[after.length - 1]);
  }
  return { before: cutAtCharacters(Buffer.concat(before), { start: true }), token: trace.tokenBytes(token), after: cutAtCharacters(Buffer.concat(after), { end: true }) };
}

/** Index of the prompt that owns `token`: the last p with offsets[p] <= token (binary search). */
function promptOf(offsets: number[], token: number): number {
  let low = 0;
  let high = offsets.length - 2;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (offsets[mid] <= token) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** The `count` smallest of the `include`d among 0..n-1 under `compare`, in order, kept in a bounded sorted list (count is small). */
function lowest(n: number, count: number, compare: (x: number, y: number) => number, include: (i: number) => boolean): number[] {
  const kept: number[] = [];
  if (count <= 0) return kept;
  for (let i = 0; i < n; i++) {
    if (!include(i)) continue;
    if (kept.length === count && compare(i, kept[count - 1]) >= 0) continue;
    let at = kept.length;
    while (at > 0 && compare(i, kept[at - 1]) < 0) at--;
    kept.splice(at, 0, i);
    if (kept.length > count) kept.pop();
  }
  return kept;
}

function sum(values: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i];
  return total;
}
