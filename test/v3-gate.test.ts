import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gate, type GateSettings } from '../src/reference/moe-routing.js';

const logit = (p: number) => Math.log(p / (1 - p));
const sigmoidOf = (values: number[]) => Float64Array.from(values, logit);

const v3: GateSettings = { scoringFunc: 'sigmoid', topkMethod: 'noaux_tc', topK: 2, nGroup: 4, topkGroup: 2, normTopkProb: true, routedScalingFactor: 2.5 };
const v2: GateSettings = { scoringFunc: 'softmax', topkMethod: 'group_limited_greedy', topK: 3, nGroup: 4, topkGroup: 2, normTopkProb: false, routedScalingFactor: 16 };

describe('gate (architecture.md 5.2 / 5.3)', () => {
  it('noaux_tc: groups by the sum of their two best biased scores, weights from the unbiased sigmoid', () => {
    // 8 experts, 4 groups of 2. Sigmoid scores s, bias b, selection c = s + b:
    //   group 0: c = 0.9, 0.1 (sum 1.0)   group 1: c = 0.6, 0.6 (sum 1.2)
    //   group 2: c = 0.95, 0.0 (sum 0.95) group 3: c = 0.5, 0.45 (sum 0.95)
    // Kept groups {0, 1}; by max alone group 2 (0.95) would beat group 1 (0.6), so this separates sum-of-two from max.
    const s = [0.8, 0.1, 0.6, 0.6, 0.95, 0.0001, 0.5, 0.45];
    const b = Float64Array.from([0.1, 0, 0, 0, 0, -0.0001, 0, 0]);
    const decision = gate(sigmoidOf(s), v3, b);
    assert.deepEqual(decision.groups, [0, 1]);
    // Candidates 0 (0.9), 1 (0.1), 2 (0.6), 3 (0.6): expert 0, then the tie 2 vs 3 goes to the lower index.
    assert.deepEqual(decision.ids, [0, 2]);
    assert.ok(Math.abs(decision.margin) < 1e-12, 'the 2-vs-3 tie has zero margin');
    const unbiased = [0.8, 0.6];
    const sum = unbiased[0] + unbiased[1];
    decision.weights.forEach((w, j) => assert.ok(Math.abs(w - (unbiased[j] / sum) * 2.5) < 1e-12, `weight ${j}: ${w}`));
  });

  it('group_limited_greedy: groups by their best softmax score, weights unnormalised times routed_scaling_factor', () => {
    // Softmax of these logits keeps their order; group maxima: g0 = e1, g1 = e2, g2 = e5, g3 = e7.
    const logits = Float64Array.from([0.1, 2.0, 1.9, 1.8, 0.0, 1.0, -1.0, 1.7]);
    const decision = gate(logits, v2);
    // Group maxima 2.0, 1.9, 1.0, 1.7: keep groups 0 and 1, so the candidates are experts 0..3.
    assert.deepEqual(decision.groups, [0, 1]);
    assert.deepEqual(decision.ids, [1, 2, 3]);
    const exps = Array.from(logits, Math.exp);
    const total = exps.reduce((a, b) => a + b, 0);
    decision.weights.forEach((w, j) => assert.ok(Math.abs(w - (exps[decision.ids[j]] / total) * 16) < 1e-12));
    // A case where the limit bites: greedy over all experts would pick 1, 5, 2.
    const bites = gate(Float64Array.from([0.1, 2.0, 1.9, 0.0, 0.0, 1.95, -1.0, 1.7]), v2);
    assert.deepEqual(bites.groups, [0, 2]);
    assert.deepEqual(bites.ids, [1, 5, 0], 'expert 2 (1.9, group 1) and 7 (1.7, group 3) are outside the kept groups');
    assert.deepEqual(gate(Float64Array.from([0.1, 2.0, 1.9, 0.0, 0.0, 1.95, -1.0, 1.7]), { ...v2, topkMethod: 'greedy' }).ids, [1, 5, 2]);
  });

  it('the bias moves choices but never weights, and every token stays within topk_group groups', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const settings: GateSettings = { ...v3, topK: 6, nGroup: 8, topkGroup: 3 };
    for (let token = 0; token < 200; token++) {
      const logits = Float64Array.from({ length: 64 }, () => random() * 8 - 4);
      const bias = Float64Array.from({ length: 64 }, () => random() * 2 + 2);
      const decision = gate(logits, settings, bias);
      const groups = new Set(decision.ids.map((e) => Math.floor(e / 8)));
      assert.ok(groups.size <= 3, `token ${token}: ${groups.size} groups`);
      assert.ok(decision.ids.every((e) => decision.groups.includes(Math.floor(e / 8))));
      // Independent check of the selection: no expert in a kept group beats a chosen one on s + b.
      const worstChosen = Math.min(...decision.ids.map((e) => decision.scores[e] + bias[e]));
      for (let e = 0; e < 64; e++) {
        if (!decision.ids.includes(e) && decision.groups.includes(Math.floor(e / 8))) assert.ok(decision.scores[e] + bias[e] <= worstChosen);
      }
      const sigmoid = decision.ids.map((e) => 1 / (1 + Math.exp(-logits[e])));
      const sum = sigmoid.reduce((a, b) => a + b, 0);
      decision.weights.forEach((w, j) => assert.ok(Math.abs(w - (sigmoid[j] / sum) * 2.5) < 1e-12));
      assert.ok(Math.abs(decision.weights.reduce((a, b) => a + b, 0) - 2.5) < 1e-9);
    }
  });

  it('refuses noaux_tc without a bias and groups that do not divide the experts', () => {
    assert.throws(() => gate(new Float64Array(8), v3), /e_score_correction_bias/);
    assert.throws(() => gate(new Float64Array(6), v2), /do not split into 4 groups/);
  });
});
