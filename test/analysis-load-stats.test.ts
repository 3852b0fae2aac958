import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deviceBalanceLoss, expertBalanceLoss } from '../src/analysis/balance-loss.js';
import { ExpertLoadCounter, loadStats } from '../src/analysis/load-stats.js';
import { seededRandom } from './helpers/safetensors-bytes.js';

const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: expected ${expected}, found ${actual}`);

describe('loadStats', () => {
  test('loadStats([6, 2, 0, 4]): every figure by hand', () => {
    const stats = loadStats([6, 2, 0, 4]);
    // total 12, mean 3: MaxVio = 6 / 3 - 1.
    close(stats.maxvio, 1, 'maxvio');
    // deviations 3, -1, -3, 1: variance (9 + 1 + 9 + 1) / 4 = 5, CV = sqrt(5) / 3.
    close(stats.cv, Math.sqrt(5) / 3, 'cv');
    // p = 1/2, 1/6, 0, 1/3: H = (1/2) ln 2 + (1/6) ln 6 + (1/3) ln 3, normalised by ln 4.
    close(stats.entropy, (0.5 * Math.log(2) + Math.log(6) / 6 + Math.log(3) / 3) / Math.log(4), 'entropy');
    // unordered |differences|: 4, 6, 2, 2, 2, 4 = 20; the double sum is 40; 40 / (2 * 4^2 * 3).
    close(stats.gini, 40 / 96, 'gini');
    assert.equal(stats.dead, 1);
    // ceil(4 / 10) = 1 busiest expert carries 6 of 12.
    close(stats.hotShare, 0.5, 'hotShare');
  });

  test('loadStats of an even layer: 0, 0, 1, 0, no dead, an even hot share', () => {
    const stats = loadStats(new Array(20).fill(7));
    assert.deepEqual(stats, { maxvio: 0, cv: 0, entropy: 1, gini: 0, dead: 0, hotShare: 2 / 20 });
  });

  test('loadStats: Gini and CV equal their textbook double-sum and two-pass forms on random loads', () => {
    const random = seededRandom(11);
    for (let trial = 0; trial < 50; trial++) {
      const E = 2 + Math.floor(random() * 70);
      const load = Array.from({ length: E }, () => (random() < 0.1 ? 0 : Math.floor(random() ** 3 * 1000)));
      load[0] += 1; // never an all-zero layer
      const mean = load.reduce((a, b) => a + b, 0) / E;
      let doubleSum = 0;
      for (const a of load) for (const b of load) doubleSum += Math.abs(a - b);
      const stats = loadStats(load);
      assert.ok(Math.abs(stats.gini - doubleSum / (2 * E * E * mean)) < 1e-9, `gini, trial ${trial}`);
      const variance = load.reduce((s, x) => s + (x - mean) ** 2, 0) / E;
      assert.ok(Math.abs(stats.cv - Math.sqrt(variance) / mean) < 1e-9, `cv, trial ${trial}`);
      assert.equal(stats.dead, load.filter((x) => x === 0).length);
    }
  });

  test('loadStats refuses a layer without load', () => {
    assert.throws(() => loadStats([0, 0, 0]), /no load/);
  });
});

describe('ExpertLoadCounter', () => {
  test('counts each chosen expert once per token and layer, across blocks', () => {
    // T = 3, L = 2, K = 2, E = 3: tokens [[0,1],[2,0]], [[1,0],[2,1]], [[0,2],[2,0]].
    const ids = Int32Array.of(0, 1, 2, 0, 1, 0, 2, 1, 0, 2, 2, 0);
    const counter = new ExpertLoadCounter(2, 2, 3);
    counter.add({ start: 0, tokens: 2, ids: ids.subarray(0, 8) });
    counter.add({ start: 2, tokens: 1, ids: ids.subarray(8) });
    // layer 0 picks 0,1 / 1,0 / 0,2; layer 1 picks 2,0 / 2,1 / 2,0.
    assert.deepEqual(counter.layer(0), [3, 2, 1]);
    assert.deepEqual(counter.layer(1), [2, 1, 3]);
    assert.equal(counter.tokens, 3);
  });
});

describe('balance losses', () => {
  // E = 4, K = 2, T = 4: loads sum to T*K = 8, softmax scores to T = 4.
  const load = [4, 2, 1, 1];
  const probSum = [2, 1, 0.6, 0.4];

  test('expertBalanceLoss by hand', () => {
    // f = 4 / (2 * 4) * load = [2, 1, 0.5, 0.5]; P = probSum / 4 = [0.5, 0.25, 0.15, 0.1].
    // 2 * 0.5 + 1 * 0.25 + 0.5 * 0.15 + 0.5 * 0.1 = 1.375.
    close(expertBalanceLoss(load, probSum, 4, 2), 1.375, 'L_ExpBal');
  });

  test('deviceBalanceLoss by hand over 2 devices', () => {
    // device 0 = experts 0,1: f' = (2 + 1) / 2 = 1.5, P' = 0.75; device 1: f' = 0.5, P' = 0.25.
    close(deviceBalanceLoss(load, probSum, 4, 2, 2), 1.5 * 0.75 + 0.5 * 0.25, 'L_DevBal');
    // One device per expert is the expert-level loss.
    close(deviceBalanceLoss(load, probSum, 4, 2, 4), 1.375, 'L_DevBal with D = E');
  });

  test('both are 1 for perfectly balanced softmax routing', () => {
    close(expertBalanceLoss([2, 2, 2, 2], [1, 1, 1, 1], 4, 2), 1, 'L_ExpBal');
    close(deviceBalanceLoss([2, 2, 2, 2], [1, 1, 1, 1], 4, 2, 2), 1, 'L_DevBal');
  });
});
