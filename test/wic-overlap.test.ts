import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mannWhitneyAuc, wicOverlap, type WicPairRouting } from '../src/analysis/wic-overlap.js';
import { seededRandom } from './helpers/safetensors-bytes.js';

/** AUC by its definition: over every (positive, negative) pair, 1 if the positive scores higher, 1/2 on a tie. */
function pairwiseAuc(positives: number[], negatives: number[]): number {
  let wins = 0;
  for (const p of positives) for (const n of negatives) wins += p > n ? 1 : p === n ? 0.5 : 0;
  return wins / (positives.length * negatives.length);
}

describe('mannWhitneyAuc', () => {
  test('by hand, with ties', () => {
    // Pairs: 0.5 vs 0 wins, 0.5 vs 0.5 ties (twice over), 1 beats both: (1 + 0.5 + 1 + 0.5 + 1 + 1) / 6.
    assert.equal(mannWhitneyAuc([0.5, 0.5, 1], [0, 0.5]), 5 / 6);
    // All equal: every pair ties.
    assert.equal(mannWhitneyAuc([1, 1], [1, 1, 1]), 0.5);
    assert.equal(mannWhitneyAuc([1], [0]), 1);
    assert.equal(mannWhitneyAuc([0, 0], [0.5]), 0);
  });

  test('undefined without positives or negatives', () => {
    assert.equal(mannWhitneyAuc([], [1]), undefined);
    assert.equal(mannWhitneyAuc([1], []), undefined);
  });

  test('equals the pairwise definition on random scores with many ties', () => {
    const random = seededRandom(5);
    for (let trial = 0; trial < 50; trial++) {
      // Overlaps take K + 1 values, so ties are the rule.
      const draw = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 7) / 6);
      const positives = draw(1 + Math.floor(random() * 30));
      const negatives = draw(1 + Math.floor(random() * 30));
      const expected = pairwiseAuc(positives, negatives);
      assert.ok(Math.abs(mannWhitneyAuc(positives, negatives)! - expected) < 1e-12, `trial ${trial}`);
    }
  });
});

describe('wicOverlap', () => {
  const pair = (same: boolean, a: number[][], b: number[][]): WicPairRouting => ({ same, a: Int32Array.from(a.flat()), b: Int32Array.from(b.flat()) });

  test('by hand: K = 2 of E = 8, two layers', () => {
    const pairs = [
      // layer 0 shares {0, 1}: 1; layer 1 shares {2}: 0.5
      pair(true, [[0, 1], [2, 3]], [[1, 0], [2, 0]]),
      // layer 0 shares nothing: 0; layer 1 shares {1}: 0.5
      pair(true, [[0, 1], [0, 1]], [[2, 3], [1, 2]]),
      // layer 0 shares {0}: 0.5; layer 1 nothing: 0
      pair(false, [[0, 1], [3, 2]], [[0, 2], [1, 0]]),
    ];
    // chance K/E = 0.25, kappa = (overlap - 0.25) / 0.75.
    // Layer 0: same (1 + 0) / 2 = 0.5, diff 0.5; AUC: 1 beats 0.5, 0 loses: 1/2.
    // Layer 1: same 0.5, diff 0; AUC: both 0.5 beat 0: 1.
    const pointEstimates = wicOverlap(pairs, 2, 2, 8).map(({ overlapSame, overlapDiff, kappaSame, kappaDiff, auc }) => ({ overlapSame, overlapDiff, kappaSame, kappaDiff, auc }));
    assert.deepEqual(pointEstimates, [
      { overlapSame: 0.5, overlapDiff: 0.5, kappaSame: 1 / 3, kappaDiff: 1 / 3, auc: 0.5 },
      { overlapSame: 0.5, overlapDiff: 0, kappaSame: 1 / 3, kappaDiff: -1 / 3, auc: 1 },
    ]);
  });

  test('a condition without pairs has no overlap, kappa or AUC', () => {
    const [figures] = wicOverlap([pair(true, [[0, 1]], [[0, 1]])], 1, 2, 8);
    assert.deepEqual(figures, { overlapSame: 1, overlapDiff: undefined, kappaSame: 1, kappaDiff: undefined, auc: undefined, overlapSameCi: [1, 1], overlapDiffCi: undefined, aucCi: undefined });
  });
});

describe('wicOverlap bootstrap bands', () => {
  const pair = (same: boolean, a: number[], b: number[]): WicPairRouting => ({ same, a: Int32Array.from(a), b: Int32Array.from(b) });

  test('pairs that all agree give a band of width zero: every resample has the same mean and AUC', () => {
    // Same-sense pairs share both experts (overlap 1), different-sense pairs none (overlap 0): AUC 1 in every draw.
    const pairs = [...Array.from({ length: 5 }, () => pair(true, [0, 1], [1, 0])), ...Array.from({ length: 4 }, () => pair(false, [0, 1], [2, 3]))];
    const [figures] = wicOverlap(pairs, 1, 2, 8);
    assert.deepEqual([figures.overlapSameCi, figures.overlapDiffCi, figures.aucCi], [[1, 1], [0, 0], [1, 1]]);
  });

  test('reproducible with the seed, different with another seed, and the band holds the estimate', () => {
    const random = seededRandom(11);
    const experts = () => {
      const a = Math.floor(random() * 4);
      return [a, 4 + Math.floor(random() * 4)];
    };
    const pairs = Array.from({ length: 60 }, (_, i) => pair(i % 2 === 0, experts(), experts()));
    const [first] = wicOverlap(pairs, 1, 2, 8, { seed: 3 });
    const [again] = wicOverlap(pairs, 1, 2, 8, { seed: 3 });
    const [other] = wicOverlap(pairs, 1, 2, 8, { seed: 4 });
    assert.deepEqual(again, first);
    assert.notDeepEqual([other.overlapSameCi, other.aucCi], [first.overlapSameCi, first.aucCi]);
    for (const [estimate, band] of [[first.overlapSame, first.overlapSameCi], [first.overlapDiff, first.overlapDiffCi], [first.auc, first.aucCi]] as const) {
      assert.ok(band![0] <= estimate! && estimate! <= band![1], `${estimate} in [${band}]`);
    }
  });

  test('the mean overlap band agrees with the normal approximation mean ± 1.96 sd / sqrt(n)', () => {
    // 400 same-sense pairs with overlaps 0, 0.5 or 1 drawn at random: the percentile bootstrap of a mean of
    // many values is close to the textbook interval.
    const random = seededRandom(2);
    const pairs: WicPairRouting[] = [];
    for (let i = 0; i < 400; i++) {
      const shared = Math.floor(random() * 3); // experts in common: 0, 1 or 2
      pairs.push(pair(true, [0, 1], shared === 2 ? [1, 0] : shared === 1 ? [0, 5] : [6, 7]));
    }
    const [figures] = wicOverlap(pairs, 1, 2, 8);
    const values = pairs.map((p) => [...p.a].filter((e) => p.b.includes(e)).length / 2);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
    const halfWidth = (1.96 * sd) / Math.sqrt(values.length);
    const [lo, hi] = figures.overlapSameCi!;
    assert.ok(Math.abs(lo - (mean - halfWidth)) < 0.2 * halfWidth, `lo ${lo} vs ${mean - halfWidth}`);
    assert.ok(Math.abs(hi - (mean + halfWidth)) < 0.2 * halfWidth, `hi ${hi} vs ${mean + halfWidth}`);
  });
});
