import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chanceOverlap, kappa, overlap } from '../src/analysis/overlap.js';
import { sameTokenOverlap } from '../src/analysis/same-token-overlap.js';
import { layersPerPass, TokenExpertCounter, tokenRows } from '../src/analysis/token-expert-counts.js';
import { seededRandom } from './helpers/safetensors-bytes.js';

/** Same-token overlap of one layer through the counting path (TokenExpertCounter + sameTokenOverlap). */
function countedOverlap(tokenIds: number[], sets: number[][], experts: number, special?: number[]) {
  const ids = Int32Array.from(tokenIds);
  const flags = special && Uint8Array.from(special);
  const rows = tokenRows(ids, flags);
  const counter = new TokenExpertCounter(rows, ids, flags, 1, sets[0].length, experts, [0]);
  counter.add({ start: 0, tokens: sets.length, ids: Int32Array.from(sets.flat()) });
  return sameTokenOverlap(counter.counts[0], rows, experts, sets[0].length);
}

describe('overlap', () => {
  test('overlap, chance and kappa by hand', () => {
    assert.equal(overlap([1, 2, 3], [3, 4, 1]), 2 / 3);
    assert.equal(overlap([1, 2], [3, 4]), 0);
    assert.equal(chanceOverlap(2, 8), 0.25);
    // (0.5 - 0.25) / (1 - 0.25)
    assert.equal(kappa(0.5, 2, 8), 1 / 3);
    assert.equal(kappa(0.25, 2, 8), 0);
    assert.equal(kappa(1, 2, 8), 1);
  });
});

describe('same-token overlap', () => {
  test('by hand: weighted by pairs, ids seen once and special tokens left out', () => {
    // K = 2, E = 8. id 5 three times: {0,1}, {0,2}, {0,1}: pairs share 1, 2, 1 experts (4 over 3 pairs).
    // id 7 twice: {2,3}, {1,0}: shares 0 (1 pair). id 9 once: no pair. Token 6 is id 5 but special (BOS).
    // overlap = (4 + 0) / K / (3 + 1) pairs = 0.5; kappa = (0.5 - 2/8) / (1 - 2/8) = 1/3.
    const result = countedOverlap([5, 5, 5, 7, 7, 9, 5], [[0, 1], [0, 2], [0, 1], [2, 3], [1, 0], [4, 5], [0, 1]], 8, [0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(result, { overlap: 0.5, kappa: 1 / 3, pairs: 4, ids: 2 });
  });

  test('undefined when no id occurs twice', () => {
    assert.equal(countedOverlap([1, 2, 3], [[0, 1], [0, 1], [0, 1]], 4), undefined);
  });

  test('equals explicit enumeration of all pairs on random routing', () => {
    const random = seededRandom(3);
    for (let trial = 0; trial < 20; trial++) {
      const E = 4 + Math.floor(random() * 12);
      const K = 1 + Math.floor(random() * Math.min(4, E - 1));
      const T = 30 + Math.floor(random() * 100);
      const tokenIds = Array.from({ length: T }, () => Math.floor(random() ** 2 * 12));
      const special = Array.from({ length: T }, () => (random() < 0.1 ? 1 : 0));
      const sets = tokenIds.map((id) => {
        const set: number[] = [];
        while (set.length < K) {
          // Biased towards the id's own experts, so overlap is well above chance.
          const e = random() < 0.5 ? (id * 3 + set.length) % E : Math.floor(random() * E);
          if (!set.includes(e)) set.push(e);
        }
        return set;
      });
      // Reference: every pair of non-special occurrences of the same id.
      let pairs = 0;
      let sum = 0;
      for (let a = 0; a < T; a++) {
        for (let b = a + 1; b < T; b++) {
          if (tokenIds[a] !== tokenIds[b] || special[a] || special[b]) continue;
          pairs += 1;
          sum += overlap(sets[a], sets[b]);
        }
      }
      const result = countedOverlap(tokenIds, sets, E, special);
      if (pairs === 0) {
        assert.equal(result, undefined);
        continue;
      }
      assert.ok(Math.abs(result!.overlap - sum / pairs) < 1e-12, `trial ${trial}: ${result!.overlap} vs ${sum / pairs}`);
      assert.equal(result!.pairs, pairs);
    }
  });
});

describe('TokenExpertCounter', () => {
  test('tokenRows: rows only for ids seen twice outside special tokens, with their first occurrence', () => {
    const rows = tokenRows(Int32Array.of(4, 2, 4, 9, 2, 2, 9), Uint8Array.of(0, 0, 0, 1, 0, 0, 0));
    // id 9 occurs twice, but once as a special token: one occurrence left, no row.
    assert.deepEqual(Array.from(rows.ids), [2, 4]);
    assert.deepEqual(Array.from(rows.occurrences), [3, 2]);
    assert.deepEqual(Array.from(rows.firstToken), [1, 0]);
    assert.equal(rows.rowOf[9], -1);
  });

  test('counting some layers per pass gives the same tables as counting all at once', () => {
    const random = seededRandom(5);
    const T = 200;
    const L = 5;
    const K = 3;
    const E = 9;
    const tokenIds = Int32Array.from({ length: T }, () => Math.floor(random() * 20));
    const ids = Int32Array.from({ length: T * L * K }, () => Math.floor(random() * E));
    const rows = tokenRows(tokenIds);
    const all = new TokenExpertCounter(rows, tokenIds, undefined, L, K, E, [0, 1, 2, 3, 4]);
    all.add({ start: 0, tokens: T, ids });
    for (const batch of [[0, 1], [2, 3], [4]]) {
      const counter = new TokenExpertCounter(rows, tokenIds, undefined, L, K, E, batch);
      // Blocks of 64 tokens: the counter must use the block's start to find each token's id.
      for (let start = 0; start < T; start += 64) {
        const end = Math.min(T, start + 64);
        counter.add({ start, tokens: end - start, ids: ids.subarray(start * L * K, end * L * K) });
      }
      batch.forEach((l, c) => assert.deepEqual(counter.counts[c], all.counts[l]));
    }
  });

  test('layersPerPass fits the budget, and at least one layer', () => {
    const rows = tokenRows(Int32Array.from({ length: 200 }, (_, i) => i % 100));
    // 100 rows x 16 experts x 4 bytes = 6400 bytes per layer.
    assert.equal(layersPerPass(rows, 16, 6400 * 3 + 10), 3);
    assert.equal(layersPerPass(rows, 16, 1), 1);
  });
});
