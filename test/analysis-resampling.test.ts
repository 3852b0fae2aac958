import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bootstrapInterval, percentile, seededShuffles } from '../src/analysis/resampling.js';

describe('percentile (linear interpolation between closest ranks)', () => {
  test('textbook values (numpy.percentile, method "linear")', () => {
    // [15, 20, 35, 40, 50]: rank h = 4 * 0.4 = 1.6, so 20 + 0.6 * (35 - 20) = 29.
    assert.equal(percentile([50, 15, 40, 20, 35], 40), 29);
    // [1..5]: 2.5th at h = 0.1 -> 1.1, 97.5th at h = 3.9 -> 4.9; the 0th and 100th are the extremes.
    assert.ok(Math.abs(percentile([1, 2, 3, 4, 5], 2.5) - 1.1) < 1e-12);
    assert.ok(Math.abs(percentile([1, 2, 3, 4, 5], 97.5) - 4.9) < 1e-12);
    assert.equal(percentile([3, 1, 2], 0), 1);
    assert.equal(percentile([3, 1, 2], 100), 3);
    assert.equal(percentile([7], 50), 7);
  });
});

describe('bootstrapInterval', () => {
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

  test('a sample of two values: the mean of a resample is 0, 1/2 or 1, so the band is [0, 1]', () => {
    // P(all 0) = P(all 1) = 1/4 each, far more than 2.5%: both percentiles land on the extremes.
    assert.deepEqual(bootstrapInterval([[0, 1]], ([g]) => mean(g)), [0, 1]);
  });

  test('the same seed gives the same band; an empty group gives none', () => {
    const sample = Array.from({ length: 25 }, (_, i) => (i * 7) % 11);
    const a = bootstrapInterval([sample], ([g]) => mean(g), { seed: 5 });
    assert.deepEqual(bootstrapInterval([sample], ([g]) => mean(g), { seed: 5 }), a);
    assert.notDeepEqual(bootstrapInterval([sample], ([g]) => mean(g), { seed: 6 }), a);
    assert.equal(bootstrapInterval([[1, 2], []], ([g]) => mean(g)), undefined);
  });

  test('resamples each group to its own size: the band of a difference of group means', () => {
    // Group sizes 1 and 3: the single-value group never varies, so the band is that of the other group alone.
    const difference = ([a, b]: number[][]) => mean(a) - mean(b);
    const alone = bootstrapInterval([[0, 0, 3]], ([g]) => -mean(g), { seed: 9 });
    assert.deepEqual(bootstrapInterval([[5], [0, 0, 3]], difference, { seed: 9 })!.map((x) => x - 5), alone);
  });
});

describe('seededShuffles', () => {
  test('permutations of the items, reproducible with the seed', () => {
    const items = [0, 1, 2, 3, 4, 5, 6, 7];
    const shuffles = seededShuffles(items, 20, 1);
    for (const shuffled of shuffles) assert.deepEqual([...shuffled].sort(), items);
    assert.deepEqual(seededShuffles(items, 20, 1), shuffles);
    assert.ok(new Set(shuffles.map((s) => s.join())).size > 15, 'the shuffles differ from one another');
  });
});
