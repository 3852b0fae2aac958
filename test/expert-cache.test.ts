/**
 * The expert cache simulation (analysis/expert-cache.ts) against textbook page-reference strings, hand-worked
 * batches and prefetches, and a naive simulation that runs each size on its own and scans for its victim.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accessOrder, cacheCurve, cachePolicies, hitRate, largestStep, sizeNeeded, stepSets, type CachePolicy, type StepSets } from '../src/analysis/expert-cache.js';
import { seededRandom } from './helpers/safetensors-bytes.js';

/** Packs plain lists of experts, one list per step. */
function pack(steps: number[][]): StepSets {
  const offsets = [0];
  for (const step of steps) offsets.push(offsets[offsets.length - 1] + step.length);
  return { offsets: Int32Array.from(offsets), experts: Int32Array.from(steps.flat()) };
}

/**
 * The definitions of analyses.md run literally for one size: a resident set, and for each miss a scan for the
 * victim outside the step's set (LRU: oldest last use; LFU: fewest steps needed, then oldest; Belady: furthest
 * next use, found by scanning ahead), ties to the lower index. Returns the hits.
 */
function naiveHits(steps: number[][], size: number, policy: CachePolicy, prefetch?: number[][]): number {
  const resident = new Set<number>();
  const lastUse = new Map<number, number>();
  const count = new Map<number, number>();
  const nextUse = (e: number, from: number) => {
    for (let s = from; s < steps.length; s++) if (steps[s].includes(e)) return s;
    return Infinity;
  };
  // The key of the expert to evict first is the smallest.
  const key = (e: number, s: number): number[] => {
    if (policy === 'lru') return [lastUse.get(e)!, e];
    if (policy === 'lfu') return [count.get(e) ?? 0, lastUse.get(e)!, e];
    return [-nextUse(e, s), e];
  };
  const less = (a: number[], b: number[]) => {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
    return false;
  };
  const insert = (e: number, protectedSet: number[], s: number) => {
    if (resident.has(e)) return;
    if (resident.size >= size) {
      const candidates = [...resident].filter((r) => !protectedSet.includes(r));
      const victim = candidates.reduce((best, r) => (less(key(r, s), key(best, s)) ? r : best));
      resident.delete(victim);
    }
    resident.add(e);
  };
  let hits = 0;
  steps.forEach((needed, s) => {
    const predicted = prefetch?.[s] ?? [];
    for (const e of predicted) insert(e, predicted, s);
    for (const e of predicted) lastUse.set(e, s);
    for (const e of needed) if (resident.has(e)) hits++;
    for (const e of needed) insert(e, needed, s);
    for (const e of needed) {
      lastUse.set(e, s);
      count.set(e, (count.get(e) ?? 0) + 1);
    }
  });
  return hits;
}

/** A random routing of `steps` steps, `k` distinct experts of `experts` each, with a skewed popularity. */
function randomSteps(random: () => number, steps: number, experts: number, k: number): number[][] {
  return Array.from({ length: steps }, () => {
    const chosen = new Set<number>();
    while (chosen.size < k) chosen.add(Math.floor(experts * random() * random()));
    return [...chosen];
  });
}

// Silberschatz et al., Operating System Concepts: 20 references to 8 pages, 3 frames.
const textbook = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1];

describe('expert cache simulation', () => {
  it('the textbook reference string with 3 frames: LRU 12 faults, Belady (OPT) 9; LFU 11 as worked by hand', () => {
    // LFU by hand (count kept after eviction, ties to the least recent): misses at steps 0, 1, 2, 3, 5, 7, 8, 9,
    // 13, 17 and 19 (evicting 7, 1, 2, 3, 4, 3, 1 and 7 in turn).
    const curve = (policy: CachePolicy) => cacheCurve(pack(textbook.map((page) => [page])), 8, policy);
    const faults = (policy: CachePolicy) => textbook.length - curve(policy).hits[3];
    assert.deepEqual([faults('lru'), faults('lfu'), faults('belady')], [12, 11, 9]);
    assert.equal(curve('lru').accesses, 20);
    assert.equal(hitRate(curve('belady'), 3), 11 / 20);
    // Every size against the naive simulation; 8 frames hold every page, so only the 6 first uses miss.
    for (const policy of cachePolicies) {
      for (let size = 1; size <= 8; size++) assert.equal(curve(policy).hits[size], naiveHits(textbook.map((p) => [p]), size, policy), `${policy} size ${size}`);
      assert.equal(curve(policy).hits[8], 20 - 6);
    }
  });

  it('batch 2: prompts start together, an ended prompt is replaced at the next step, and a step needs the union', () => {
    // Prompts of 3, 1 and 2 tokens (token ids 0..5).
    const order = accessOrder([0, 3, 4, 6], 2);
    assert.deepEqual(Array.from(order.offsets), [0, 2, 4, 6]);
    assert.deepEqual(Array.from(order.tokens), [0, 3, 1, 4, 2, 5]);
    // With batch 1 the order is the tokens in turn; an empty prompt is passed over.
    assert.deepEqual(Array.from(accessOrder([0, 2, 2, 3], 1).tokens), [0, 1, 2]);
    assert.deepEqual(Array.from(accessOrder([0, 2, 2, 3], 2).offsets), [0, 2, 3]);

    // One expert a token: prompt A routes 0, 1, 0; B routes 1; C routes 2, 1.
    const expertOfToken = [0, 1, 0, 1, 2, 1];
    const sets = stepSets(order, 4, Int32Array.from(expertOfToken), 1);
    // Steps: {0, 1} (A0, B0), {1, 2} (A1, C0), {0, 1} (A2, C1).
    assert.deepEqual([...sets.offsets], [0, 2, 4, 6]);
    assert.deepEqual([...sets.experts], [0, 1, 1, 2, 0, 1]);
    assert.equal(largestStep(sets), 2);
    // Two slots, LRU: step 1 keeps 1 and loads 2 over 0; step 2 reloads 0 over 2 and finds 1: 2 hits of 6.
    // Three slots hold all: 1 at step 1, 0 and 1 at step 2.
    const lru = cacheCurve(sets, 4, 'lru');
    assert.deepEqual([lru.minSize, lru.accesses, lru.hits[2], lru.hits[3]], [2, 6, 2, 3]);
    assert.equal(hitRate(lru, 1), null, 'a cache smaller than a step is no valid size');
    // Two tokens needing the same expert in one step count once.
    const shared = stepSets(accessOrder([0, 1, 2], 2), 4, Int32Array.of(3, 3), 1);
    assert.deepEqual([...shared.experts], [3]);
    // A speculative gate's -1 (no previous layer) needs nothing.
    const speculative = stepSets(accessOrder([0, 2], 1), 4, Int32Array.of(-1, -1, 2, 3), 2);
    assert.deepEqual([[...speculative.offsets], [...speculative.experts]], [[0, 0, 2], [2, 3]]);
  });

  it('prefetch: a right prediction turns every access into a hit, even with one slot; a wrong one evicts', () => {
    const demand = pack([[0], [1], [0], [1]]);
    const right = cacheCurve(demand, 2, 'lru', pack([[0], [1], [0], [1]]));
    assert.deepEqual([right.hits[1], right.accesses], [4, 4]);
    // Predicting the other expert with one slot: the prediction takes the slot, then the demand evicts it, so
    // every access misses.
    const wrong = cacheCurve(demand, 2, 'lru', pack([[1], [0], [1], [0]]));
    assert.equal(wrong.hits[1], 0);
    // With two slots both experts stay: without prediction the two first uses miss; with the wrong one, expert 1
    // is loaded at step 0 before it is needed, so only expert 0's first use misses.
    assert.equal(cacheCurve(demand, 2, 'lru').hits[2], 2);
    assert.equal(wrong.hits[2], 3);
    // Predictions larger than a step raise the smallest valid size.
    assert.equal(cacheCurve(demand, 4, 'belady', pack([[0, 2, 3], [], [], []])).minSize, 3);
  });

  it('matches the naive simulation at every size, batched or not, with and without prefetch (seeded)', () => {
    const random = seededRandom(2024);
    for (let trial = 0; trial < 30; trial++) {
      const experts = 4 + Math.floor(random() * 9);
      const k = 1 + Math.floor(random() * 3);
      const steps = randomSteps(random, 40 + Math.floor(random() * 40), experts, k);
      const prefetch = trial % 2 === 0 ? randomSteps(random, steps.length, experts, k) : undefined;
      for (const policy of cachePolicies) {
        const curve = cacheCurve(pack(steps), experts, policy, prefetch && pack(prefetch));
        for (let size = curve.minSize; size <= experts; size++) {
          assert.equal(curve.hits[size], naiveHits(steps, size, policy, prefetch), `trial ${trial} ${policy} size ${size}${prefetch ? ' with prefetch' : ''}`);
        }
      }
    }
  });

  it('equals the naive simulation on random prompts decoded 1 and 3 at a time, at E = 64 and top-6 too (seeded)', () => {
    // The shapes of the bench (64 experts, 6 a token) and small ones, so that the stacks fill, shift by whole
    // segments, grow with first uses mid-trace, and steps of a batch differ in size.
    const random = seededRandom(15);
    for (const [experts, k] of [
      [64, 6],
      [16, 2],
      [9, 3],
    ]) {
      for (const batch of [1, 3]) {
        for (let trial = 0; trial < 3; trial++) {
          const tokens = 200 + Math.floor(random() * 200);
          const routing = randomSteps(random, tokens, experts, k);
          const promptOffsets = [0];
          while (promptOffsets[promptOffsets.length - 1] < tokens) promptOffsets.push(Math.min(tokens, promptOffsets[promptOffsets.length - 1] + Math.floor(random() * 40)));
          const order = accessOrder(promptOffsets, batch);
          const sets = stepSets(order, experts, Int32Array.from(routing.flat()), k);
          const steps = Array.from({ length: sets.offsets.length - 1 }, (_, s) => [...sets.experts.subarray(sets.offsets[s], sets.offsets[s + 1])]);
          const predicted = trial === 2 ? stepSets(order, experts, Int32Array.from(randomSteps(random, tokens, experts, 1).flat()), 1) : undefined;
          const prefetch = predicted && Array.from({ length: steps.length }, (_, s) => [...predicted.experts.subarray(predicted.offsets[s], predicted.offsets[s + 1])]);
          for (const policy of cachePolicies) {
            const curve = cacheCurve(sets, experts, policy, predicted);
            for (const size of new Set([curve.minSize, curve.minSize + 1, Math.ceil((curve.minSize + experts) / 2), experts - 1, experts])) {
              if (size > experts) continue;
              const where = `E ${experts} k ${k} batch ${batch} trial ${trial} ${policy} size ${size}${prefetch ? ' with prefetch' : ''}`;
              assert.equal(curve.hits[size], naiveHits(steps, size, policy, prefetch), where);
            }
          }
        }
      }
    }
  });

  it('Belady is never below LRU or LFU, and every curve rises with the size (seeded random routings)', () => {
    const random = seededRandom(7);
    for (let trial = 0; trial < 40; trial++) {
      const experts = 8 + Math.floor(random() * 57);
      const k = 1 + Math.floor(random() * 6);
      const batch = 1 + Math.floor(random() * 3);
      const tokens = 300;
      const routing = randomSteps(random, tokens, experts, k);
      const promptOffsets = [0];
      while (promptOffsets[promptOffsets.length - 1] < tokens) promptOffsets.push(Math.min(tokens, promptOffsets[promptOffsets.length - 1] + 1 + Math.floor(random() * 30)));
      const sets = stepSets(accessOrder(promptOffsets, batch), experts, Int32Array.from(routing.flat()), k);
      const [lru, lfu, belady] = cachePolicies.map((policy) => cacheCurve(sets, experts, policy));
      for (let size = belady.minSize; size <= experts; size++) {
        assert.ok(belady.hits[size] >= lru.hits[size] && belady.hits[size] >= lfu.hits[size], `trial ${trial} size ${size}: belady ${belady.hits[size]}, lru ${lru.hits[size]}, lfu ${lfu.hits[size]}`);
        for (const curve of [lru, lfu, belady]) assert.ok(curve.hits[size] >= curve.hits[size - 1]);
      }
    }
  });

  it('the size needed for a hit rate is the smallest reaching it', () => {
    const curve = cacheCurve(pack(textbook.map((page) => [page])), 8, 'lru');
    const rates = Array.from({ length: 9 }, (_, c) => hitRate(curve, c));
    const needed = sizeNeeded(curve, 0.6, 1);
    assert.ok(needed !== null && rates[needed]! >= 0.6 && rates[needed - 1]! < 0.6, `${needed}: ${rates}`);
    assert.equal(sizeNeeded(curve, 0.99, 1), null, 'first uses always miss');
  });
});
