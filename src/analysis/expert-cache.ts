/**
 * Expert caching what-ifs (analyses.md "Expert caching and prefetch"): a GPU keeps C experts of a MoE layer and
 * loads the others from host memory when a step needs them. For one layer this computes the hit rate of LRU,
 * LFU and Belady at every cache size C at once.
 *
 * Why one pass gives every size: all three policies evict by a priority that does not depend on C (LRU: last
 * step used; LFU: steps needed, then last step; Belady: sooner next use), and an expert needed at the step is
 * never evicted. Such a policy is a stack algorithm (Mattson et al., 1970): the cache of size C always holds the
 * first C entries of one list of experts, the "stack", so a needed expert at stack position p is a hit exactly
 * for the sizes C > p. Each step puts the needed experts on top and re-sorts only the part of the stack above the
 * deepest of them (`restack`). Every size needs min(E, most experts one step needs) slots or more, since the
 * experts of a step must all fit. A naive simulation per size (test/expert-cache.test.ts) checks this.
 */

export const cachePolicies = ['lru', 'lfu', 'belady'] as const;
export type CachePolicy = (typeof cachePolicies)[number];

/** Sets of experts, one per step, packed: step s holds experts[offsets[s] .. offsets[s+1]-1], each once. */
export interface StepSets {
  offsets: Int32Array;
  experts: Int32Array;
}

/** The decoding order of analyses.md: the tokens that run together at each step, packed like StepSets. */
export interface AccessOrder {
  offsets: Int32Array;
  tokens: Int32Array;
}

/**
 * Prompts decoded `batch` at a time: with batch 1, prompt after prompt, one token a step; otherwise prompts
 * 0..batch-1 start together, each advances one token a step, and a prompt that ends is replaced by the next
 * prompt at the next step. The prompt tokens stand in for decoded tokens (teacher forcing).
 */
export function accessOrder(promptOffsets: ArrayLike<number>, batch: number): AccessOrder {
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`accessOrder: batch ${batch} must be a positive integer`);
  const prompts = promptOffsets.length - 1;
  const totalTokens = promptOffsets[prompts] - promptOffsets[0];
  const tokens = new Int32Array(totalTokens);
  const offsets: number[] = [0];
  // Each slot decodes one prompt: its next token, and the end of its prompt.
  const next: number[] = [];
  const end: number[] = [];
  let nextPrompt = 0;
  const refill = (slot: number) => {
    // Empty prompts have no token to decode and are passed over.
    while (nextPrompt < prompts && promptOffsets[nextPrompt + 1] === promptOffsets[nextPrompt]) nextPrompt++;
    if (nextPrompt === prompts) return false;
    next[slot] = promptOffsets[nextPrompt];
    end[slot] = promptOffsets[nextPrompt + 1];
    nextPrompt++;
    return true;
  };
  let active: number[] = [];
  for (let slot = 0; slot < batch && refill(slot); slot++) active.push(slot);
  let written = 0;
  while (active.length > 0) {
    for (const slot of active) tokens[written++] = next[slot]++;
    offsets.push(written);
    // A slot whose prompt ended takes the next prompt, which starts at the next step.
    active = active.filter((slot) => next[slot] < end[slot] || refill(slot));
  }
  return { offsets: Int32Array.from(offsets), tokens };
}

/**
 * The experts each step needs at one layer: the union of its tokens' experts. `ids` is the layer's [T, K]
 * experts of every token (entries below 0, such as a speculative gate's -1, are skipped).
 */
export function stepSets(order: AccessOrder, experts: number, ids: Int32Array, k: number): StepSets {
  const steps = order.offsets.length - 1;
  const offsets = new Int32Array(steps + 1);
  const out = new Int32Array(order.tokens.length * k);
  let written = 0;
  // seen[e] === s + 1 when expert e is already in step s's set.
  const seen = new Int32Array(experts);
  for (let s = 0; s < steps; s++) {
    for (let i = order.offsets[s]; i < order.offsets[s + 1]; i++) {
      const token = order.tokens[i];
      for (let j = token * k; j < (token + 1) * k; j++) {
        const e = ids[j];
        if (e < 0 || seen[e] === s + 1) continue;
        seen[e] = s + 1;
        out[written++] = e;
      }
    }
    offsets[s + 1] = written;
  }
  return { offsets, experts: out.subarray(0, written) };
}

/** The largest set of one step: the smallest cache that can serve every step. */
export function largestStep(sets: StepSets): number {
  let largest = 0;
  for (let s = 0; s + 1 < sets.offsets.length; s++) largest = Math.max(largest, sets.offsets[s + 1] - sets.offsets[s]);
  return largest;
}

export interface CacheCurve {
  /** Experts needed, summed over steps (one access = one expert needed at one step). */
  accesses: number;
  /** hits[C] = accesses served from a cache of C experts, for C = 0..E; meaningful from minSize on. */
  hits: Float64Array;
  /** The smallest valid size: every step's experts (and predictions) must fit at once. */
  minSize: number;
}

/**
 * Hits of one layer's cache at every size, under `policy`. With `prefetch`, each step first inserts that step's
 * predicted experts (evicting by the policy, never a predicted expert), then serves the demand, which alone is
 * counted. A prefetched expert counts as used at that step for LRU's recency and LFU's tie-break; LFU's count
 * grows only for steps that need the expert; Belady ranks every expert by its next step of demand.
 */
export function cacheCurve(demand: StepSets, experts: number, policy: CachePolicy, prefetch?: StepSets): CacheCurve {
  const steps = demand.offsets.length - 1;
  if (prefetch && prefetch.offsets.length !== steps + 1) throw new Error('cacheCurve: prefetch sets must have one set per step');
  const E = experts;
  // Plain LRU keeps its stack in priority order, which allows a cheaper restack (see Stack).
  const stack = new Stack(E, policy === 'lru' && !prefetch);
  const atDepth = new Float64Array(E + 1);
  // Priorities: a larger value is kept longer. Every value carries the expert index as a last tie-break, so the
  // lower index is evicted first among otherwise equal experts.
  const priority = stack.priority;
  const lastUse = new Float64Array(E);
  const count = new Float64Array(E);
  const nextDemand = policy === 'belady' ? firstAndNextUses(demand, E) : undefined;
  // LFU orders by count, then last use: count · (steps + 1) + last use + 1 stays exact while below 2^53 / E.
  if (policy === 'lfu' && (steps + 1) * (steps + 1) * E > Number.MAX_SAFE_INTEGER) throw new Error(`cacheCurve: ${steps} steps are too many for LFU's priority`);
  const rank = (e: number) => {
    if (policy === 'lru') priority[e] = (lastUse[e] + 1) * E + e;
    else if (policy === 'lfu') priority[e] = (count[e] * (steps + 1) + lastUse[e] + 1) * E + e;
    // Sooner next use ranks higher; `steps` stands for never.
    else priority[e] = (steps - nextDemand!.next[e]) * E + e;
  };
  let accesses = 0;
  let minSize = 0;
  for (let s = 0; s < steps; s++) {
    if (prefetch && prefetch.offsets[s + 1] > prefetch.offsets[s]) {
      const [from, to] = [prefetch.offsets[s], prefetch.offsets[s + 1]];
      minSize = Math.max(minSize, to - from);
      stack.restack(prefetch.experts, from, to);
      for (let i = from; i < to; i++) {
        const e = prefetch.experts[i];
        if (policy !== 'belady') lastUse[e] = s;
        rank(e);
      }
    }
    const [from, to] = [demand.offsets[s], demand.offsets[s + 1]];
    minSize = Math.max(minSize, to - from);
    for (let i = from; i < to; i++) {
      const depth = stack.position[demand.experts[i]];
      atDepth[depth < 0 ? E : depth]++;
    }
    accesses += to - from;
    stack.restack(demand.experts, from, to);
    for (let i = from; i < to; i++) {
      const e = demand.experts[i];
      lastUse[e] = s;
      count[e]++;
      if (nextDemand) nextDemand.next[e] = nextDemand.after[i];
      rank(e);
    }
  }
  // A hit at size C is an access found at depth below C.
  const hits = new Float64Array(E + 1);
  for (let c = 1; c <= E; c++) hits[c] = hits[c - 1] + atDepth[c - 1];
  return { accesses, hits, minSize: Math.min(E, Math.max(1, minSize)) };
}

/** Hit rate at size C, or null below the smallest valid size (or with no access). */
export function hitRate(curve: CacheCurve, size: number): number | null {
  if (size < curve.minSize || size >= curve.hits.length || curve.accesses === 0) return null;
  return curve.hits[size] / curve.accesses;
}

/** The smallest C in [from, E] whose hit rate reaches `target`, or null. */
export function sizeNeeded(curve: CacheCurve, target: number, from: number): number | null {
  for (let c = Math.max(from, curve.minSize); c < curve.hits.length; c++) {
    const rate = hitRate(curve, c);
    if (rate !== null && rate >= target) return c;
  }
  return null;
}

/**
 * For Belady: `after[i]` is the next step needing the expert of access i (steps when never), and `next[e]`
 * starts as each expert's first step. Precomputed backwards in one pass, so no eviction scans the future.
 */
function firstAndNextUses(demand: StepSets, experts: number): { next: Float64Array; after: Int32Array } {
  const steps = demand.offsets.length - 1;
  const next = new Float64Array(experts).fill(steps);
  const after = new Int32Array(demand.experts.length);
  for (let s = steps - 1; s >= 0; s--) {
    for (let i = demand.offsets[s]; i < demand.offsets[s + 1]; i++) {
      const e = demand.experts[i];
      after[i] = next[e];
      next[e] = s;
    }
  }
  return { next, after };
}

/**
 * The LRU/LFU/Belady stack: entries[0..length) are experts, best kept first; position[e] is e's index or -1
 * before its first use. `priority[e]` orders experts outside the step being served.
 */
class Stack {
  readonly entries: Int32Array;
  readonly position: Int32Array;
  readonly priority: Float64Array;
  private length = 0;
  private readonly pool: Int32Array;
  private readonly inStep: Int32Array;
  private stamp = 0;

  /**
   * `inPriorityOrder`: the stack is always sorted by priority and each set outranks everything else, as for LRU
   * without prefetch (a set is the most recent, ties by the higher index). Then a restack just moves the set to
   * the top in index order, keeping the order of the rest, with no comparisons.
   */
  constructor(
    experts: number,
    private readonly inPriorityOrder: boolean,
  ) {
    this.entries = new Int32Array(experts);
    this.position = new Int32Array(experts).fill(-1);
    this.priority = new Float64Array(experts);
    // Each position of one restack adds at most one expert to the pool.
    this.pool = new Int32Array(2 * experts);
    this.inStep = new Int32Array(experts);
  }

  /**
   * Serves one step's set: its experts take the top positions, and for each size C the cache keeps the best
   * (by priority) of what it held outside the set. Walking down the old stack, `pool` holds the experts that
   * lost their place to the set, best first; each position takes the better of the pool's best and the expert
   * already there. Below the deepest expert of the set nothing moves, unless the set holds experts never seen
   * (they lengthen the stack).
   */
  restack(set: Int32Array, from: number, to: number): void {
    const { entries, position, priority, pool, inStep } = this;
    const d = to - from;
    const stamp = ++this.stamp;
    let deepest = -1;
    let unseen = 0;
    for (let i = from; i < to; i++) {
      const e = set[i];
      inStep[e] = stamp;
      if (position[e] < 0) unseen++;
      else if (position[e] > deepest) deepest = position[e];
    }
    const oldLength = this.length;
    if (this.inPriorityOrder) return this.moveToTop(set, from, to, deepest, unseen);
    // The pool is pool[head .. tail), sorted by descending priority (insertion by hand: this loop is the hot one).
    let head = 0;
    let tail = 0;
    for (let i = 0; i < d && i < oldLength; i++) {
      const e = entries[i];
      if (inStep[e] === stamp) continue;
      let j = tail++;
      for (; j > head && priority[pool[j - 1]] < priority[e]; j--) pool[j] = pool[j - 1];
      pool[j] = e;
    }
    for (let i = 0; i < d; i++) {
      entries[i] = set[from + i];
      position[set[from + i]] = i;
    }
    this.length = oldLength + unseen;
    const end = unseen > 0 ? this.length : Math.max(d, deepest + 1);
    for (let c = d; c < end; c++) {
      if (c < oldLength) {
        const here = entries[c];
        if (inStep[here] !== stamp) {
          // Better than every expert waiting: it keeps its place.
          if (head === tail || priority[here] > priority[pool[head]]) continue;
          let j = tail++;
          for (; j > head && priority[pool[j - 1]] < priority[here]; j--) pool[j] = pool[j - 1];
          pool[j] = here;
        }
      }
      const e = pool[head++];
      entries[c] = e;
      position[e] = c;
    }
  }

  /** The restack of a stack in priority order: the rest moves down past the set, which goes on top. */
  private moveToTop(set: Int32Array, from: number, to: number, deepest: number, unseen: number): void {
    const { entries, position, inStep, stamp } = this;
    const d = to - from;
    const oldLength = this.length;
    this.length = oldLength + unseen;
    let write = (unseen > 0 ? this.length : deepest + 1) - 1;
    for (let read = unseen > 0 ? oldLength - 1 : deepest; read >= 0; read--) {
      const e = entries[read];
      if (inStep[e] === stamp) continue;
      entries[write] = e;
      position[e] = write--;
    }
    // The set on top, higher index first: the order LRU breaks its ties in.
    for (let i = 0; i < d; i++) {
      const e = set[from + i];
      let j = i;
      for (; j > 0 && entries[j - 1] < e; j--) {
        entries[j] = entries[j - 1];
        position[entries[j]] = j;
      }
      entries[j] = e;
      position[e] = j;
    }
  }
}
