/**
 * The v1 ONNX MoE graph implements only the v1 gate (softmax, greedy top-K, raw weights), so a "deepseek"
 * config asking for any other gate must be refused rather than routed differently from what it says.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseModelConfig } from '../src/models/config.js';
import { findPreset } from '../src/synth/presets.js';

describe('model_type "deepseek" accepts only the v1 gate', () => {
  const base = findPreset('tiny').config();

  it('accepts the v1 settings, spelled out or defaulted', () => {
    const defaulted = { ...base };
    delete defaulted.scoring_func;
    delete defaulted.norm_topk_prob;
    for (const raw of [base, defaulted, { ...base, topk_method: 'greedy', routed_scaling_factor: 1 }]) {
      const config = parseModelConfig(raw, 'config.json');
      assert.deepEqual([config.scoringFunc, config.topkMethod, config.normTopkProb, config.routedScalingFactor], ['softmax', 'greedy', false, 1]);
    }
  });

  for (const change of [
    { scoring_func: 'sigmoid' },
    { topk_method: 'group_limited_greedy', n_group: 4, topk_group: 2 },
    { topk_method: 'noaux_tc' },
    { norm_topk_prob: true },
    { routed_scaling_factor: 2.5 },
  ]) {
    it(`refuses ${JSON.stringify(change)}`, () => {
      assert.throws(() => parseModelConfig({ ...base, ...change }, 'config.json'), (error: Error) => {
        assert.match(error.message, /^config\.json/);
        assert.match(error.message, /routes with scoring_func softmax, topk_method greedy/);
        return true;
      });
    });
  }
});
