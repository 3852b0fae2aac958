/**
 * Expert caching what-ifs (analyses.md "Expert caching and prefetch"): a GPU keeps C experts of a MoE layer and
 * loads the others from host memory when a step needs them. For one layer this computes the hit rate of LRU,
 * LFU and Belady at every cache size C at once.
 *
 * Why one pass gives every size: all three policies evict by a priority that does not depend on C (LRU: last
 * step used; LFU: steps needed, then last step; Belady: sooner next use), and an expert needed at the step is
 * never evicted. Such a policy is a stack algorithm (Mattson et al., 1970): the cache of size C always holds the
 * first C entries of one list of experts, the "stack", so a needed expert at stack position p is a hit exactly
 * for the sizes C > p. Each step puts the needed experts on top and reorders only the part of the stack above the
 * deepest of them: plain LRU on a recency stack (recency-stack.ts), which moves entries without comparing
 * priorities; LFU, Belady and LRU with prefetch on a priority stack (priority-stack.ts). Every size needs
 * min(E, most experts one step needs) slots or more, since the experts of a step must all fit. A naive
 * simulation per size (test/expert-cache.test.ts) checks this.
 */

import { PriorityStack } from './priority-stack.js';
import { RecencyStack } from './recency-stack.js';

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
 * experts of every token (entries below 0, such as a speculative gate's -1, are skipped). The sets are made in
 * shared memory, so the worker threads that simulate the cache (cache-threads.ts) read them without a copy.
 */
export function stepSets(order: AccessOrder, experts: number, ids: Int32Array, k: number): StepSets {
  const steps = order.offsets.length - 1;
  const offsets = sharedInt32(steps + 1);
  const out = sharedInt32(order.tokens.length * k);
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

function sharedInt32(length: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(length * Int32Array.BYTES_PER_ELEMENT));
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
  // atDepth[p]: accesses that found their expert at stack position p; atDepth[E]: first uses.
  const atDepth = policy === 'lru' && !prefetch ? recencyDepths(demand, experts) : priorityDepths(demand, experts, policy, prefetch);
  let minSize = largestStep(demand);
  if (prefetch) minSize = Math.max(minSize, largestStep(prefetch));
  // A hit at size C is an access found at depth below C.
  const hits = new Float64Array(experts + 1);
  for (let c = 1; c <= experts; c++) hits[c] = hits[c - 1] + atDepth[c - 1];
  return { accesses: demand.offsets[steps] - demand.offsets[0], hits, minSize: Math.min(experts, Math.max(1, minSize)) };
}

/** Plain LRU: the recency stack, where serving a step compares no priorities. */
function recencyDepths(demand: StepSets, experts: number): Float64Array {
  const { offsets, experts: needed } = demand;
  const atDepth = new Float64Array(experts + 1);
  const stack = new RecencyStack(experts);
  for (let s = 0; s + 1 < offsets.length; s++) {
    countDepths(atDepth, stack.position, needed, offsets[s], offsets[s + 1]);
    stack.serve(needed, offsets[s], offsets[s + 1]);
  }
  return atDepth;
}

/**
 * LFU, Belady, and LRU with prefetch: the priority stack. Priorities: a larger value is kept longer, and every
 * value carries the expert index as a last tie-break, so the lower index is evicted first among otherwise equal
 * experts.
 */
function priorityDepths(demand: StepSets, experts: number, policy: CachePolicy, prefetch: StepSets | undefined): Float64Array {
  const { offsets, experts: needed } = demand;
  const steps = offsets.length - 1;
  const E = experts;
  // LFU orders by count, then last use: count · (steps + 1) + last use + 1 stays exact while below 2^53 / E.
  if (policy === 'lfu' && (steps + 1) * (steps + 1) * E > Number.MAX_SAFE_INTEGER) throw new Error(`cacheCurve: ${steps} steps are too many for LFU's priority`);
  const atDepth = new Float64Array(E + 1);
  const stack = new PriorityStack(E);
  const lastUse = new Float64Array(E);
  const count = new Float64Array(E);
  const nextDemand = policy === 'belady' ? firstAndNextUses(demand, E) : undefined;
  const priority = (e: number): number => {
    if (policy === 'lru') return (lastUse[e] + 1) * E + e;
    if (policy === 'lfu') return (count[e] * (steps + 1) + lastUse[e] + 1) * E + e;
    // Sooner next use ranks higher; `steps` stands for never.
    return (steps - nextDemand!.next[e]) * E + e;
  };
  for (let s = 0; s < steps; s++) {
    if (prefetch && prefetch.offsets[s + 1] > prefetch.offsets[s]) {
      const from = prefetch.offsets[s];
      const to = prefetch.offsets[s + 1];
      stack.serve(prefetch.experts, from, to);
      for (let i = from; i < to; i++) {
        const e = prefetch.experts[i];
        if (policy !== 'belady') lastUse[e] = s;
        stack.rank(e, priority(e));
      }
    }
    const from = offsets[s];
    const to = offsets[s + 1];
    countDepths(atDepth, stack.position, needed, from, to);
    stack.serve(needed, from, to);
    for (let i = from; i < to; i++) {
      const e = needed[i];
      lastUse[e] = s;
      count[e]++;
      if (nextDemand) nextDemand.next[e] = nextDemand.after[i];
      stack.rank(e, priority(e));
    }
  }
  return atDepth;
}

/** Counts where each expert of needed[from .. to) stands on the stack before the step; -1 (never seen) counts last. */
function countDepths(atDepth: Float64Array, position: Int32Array, needed: Int32Array, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const depth = position[needed[i]];
    atDepth[depth < 0 ? atDepth.length - 1 : depth]++;
  }
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
