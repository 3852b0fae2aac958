/**
 * Prefetch predictors and cross-layer transitions (analysis/prefetch.ts, analysis/layer-transitions.ts): small
 * cases worked by hand, and on `synth --planted` the history predictor finds the planted experts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { largestTransitions, topOneTransitions } from '../src/analysis/layer-transitions.js';
import { historyPredictions, predictionQuality, speculativePredictions, trainingTokens, transitionCounts } from '../src/analysis/prefetch.js';
import { route } from '../src/route/route.js';
import { synthesize } from '../src/synth/synth.js';
import { openTrace } from '../src/trace.js';
import { tempDir } from './helpers/safetensors-bytes.js';

const dir = tempDir('prefetch');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('prefetch predictors', () => {
  it('history: scores are summed transition counts from the training tokens, ties to the lower index', () => {
    // Two training tokens over 4 experts, top-2: {0, 1} -> {2, 3} and {0, 2} -> {2, 1}.
    const previous = Int32Array.of(0, 1, 0, 2, 0, 1, 3, 2);
    const current = Int32Array.of(2, 3, 2, 1, 2, 0, 1, 3);
    const counts = transitionCounts(previous, current, 2, 4, 2);
    // n(0->2) = 2, n(0->3) = n(1->2) = n(1->3) = n(0->1) = n(2->2) = n(2->1) = 1.
    assert.deepEqual(Array.from(counts), [0, 1, 2, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0]);
    const predicted = historyPredictions(counts, previous, 2, 4, 2);
    // Token 2, after {0, 1}: scores [0, 1, 3, 2] -> 2, 3. Token 3, after {3, 2}: scores [0, 1, 1, 0] -> 1, 2.
    assert.deepEqual(Array.from(predicted.subarray(4)), [2, 3, 1, 2]);
    // p = 3: the third place is a tie of experts 0 and 3 at 0, which goes to 0.
    assert.deepEqual(Array.from(historyPredictions(counts, previous, 2, 4, 3).subarray(9)), [1, 2, 0]);
    // Against the real choices of the held-out tokens 2 and 3: {2, 3} vs {2, 0} and {1, 2} vs {1, 3}.
    assert.deepEqual(predictionQuality(predicted, 2, current, 2, 2, 4), { precision: 0.5, recall: 0.5, tokens: 2 });
    assert.equal(predictionQuality(predicted, 2, current, 2, 4, 4), null);
    // Training prompts are the first floor(P/2): of 5 prompts, 2.
    assert.equal(trainingTokens([0, 3, 4, 9, 10, 12]), 4);
  });

  it('speculative: the first p of the recorded top-K, and precision against recall when p differs from K', () => {
    const speculative = Int32Array.of(5, 1, 4, 0, 2, 3);
    assert.deepEqual(Array.from(speculativePredictions(speculative, 3, 2)), [5, 1, 0, 2]);
    assert.throws(() => speculativePredictions(speculative, 3, 4));
    // Token 0 predicts {5, 1} for {1, 2, 3}: 1 of 2 right (precision 1/2), 1 of 3 found (recall 1/3).
    assert.deepEqual(predictionQuality(Int32Array.of(5, 1), 2, Int32Array.of(1, 2, 3), 3, 0, 1), { precision: 0.5, recall: 1 / 3, tokens: 1 });
  });

  it('top-1 transitions: the most frequent follower, ties to the lower expert, unseen to the most frequent top-1', () => {
    // Top-1 pairs (K = 1) of five training tokens, then five held-out ones.
    const pairs = [[0, 1], [0, 1], [0, 2], [1, 2], [1, 0], [0, 1], [1, 0], [2, 1], [2, 2], [1, 2]];
    const result = topOneTransitions(Int32Array.from(pairs.map(([i]) => i)), Int32Array.from(pairs.map(([, j]) => j)), 1, 3, 5);
    // Guesses: 0 -> 1; 1 -> 0 (a tie of 0 and 2); 2, unseen -> 1 (the most frequent top-1, a tie of 1 and 2).
    // Held out: 0->1 right, 1->0 right, 2->1 right, 2->2 wrong, 1->2 wrong; always 1 is right twice.
    assert.deepEqual([result.accuracy, result.chance], [3 / 5, 2 / 5]);
    assert.deepEqual(largestTransitions(result.counts, 3, 2), [{ from: 0, to: 1, tokens: 3 }, { from: 1, to: 0, tokens: 2 }]);
    assert.deepEqual(Object.values(topOneTransitions(Int32Array.of(0), Int32Array.of(1), 1, 3, 0)).slice(0, 2), [null, null]);
  });

  it('on the planted model, history at layer 3 predicts both planted experts for > 90% of held-out digit and punctuation tokens', { timeout: 120_000 }, async () => {
    const model = path.join(dir, 'planted');
    const { planted } = await synthesize({ preset: 'tiny', out: model, planted: true, seed: 11 });
    const lines: string[] = [];
    for (let i = 0; i < 40; i++) {
      lines.push(`Order ${300 + i * 11} shipped on ${1990 + i}; ${i * 17 % 89} boxes, ${i + 4} pallets (${(i + 4) * 3} kg)!`);
      lines.push(`"Why?" -- she asked; "why not?!" [end] {${i}} <ok> ...`);
      lines.push('A quiet morning over the hills and the long road home');
    }
    const prompts = path.join(dir, 'prompts.txt');
    fs.writeFileSync(prompts, lines.join('\n'));
    const out = path.join(dir, 'planted.trace.safetensors');
    await route({ prompts, model, out, device: 'cpu' });
    const trace = openTrace(out);
    try {
      const { k: K, nExperts: E, layers } = trace;
      const all = trace.readTopkIds(0, trace.nTokens);
      const layerIds = (layer: number) => {
        const slot = layers.indexOf(layer);
        return Int32Array.from({ length: trace.nTokens * K }, (_, i) => all[(Math.floor(i / K) * layers.length + slot) * K + (i % K)]);
      };
      assert.equal(planted!.fromLayer, 2);
      const [previous, current] = [layerIds(2), layerIds(3)];
      const training = trainingTokens(trace.promptOffsets);
      const predicted = historyPredictions(transitionCounts(previous, current, K, E, training), previous, K, E, K);
      for (const [cls, pattern] of [['digit', /^ ?[0-9]+$/], ['punct', /^ ?[!-/:-@[-`{-~]+$/]] as const) {
        let tokens = 0;
        let both = 0;
        for (let t = training; t < trace.nTokens; t++) {
          if (!pattern.test(trace.tokenText(t))) continue;
          tokens++;
          const guess = Array.from(predicted.subarray(t * K, (t + 1) * K));
          if (planted!.experts[cls].every((e) => guess.includes(e))) both++;
        }
        assert.ok(tokens >= 100, `${tokens} held-out ${cls} tokens`);
        assert.ok(both / tokens > 0.9, `${cls}: both planted experts predicted for ${both} of ${tokens} held-out tokens`);
      }
    } finally {
      trace.close();
    }
  });
});
