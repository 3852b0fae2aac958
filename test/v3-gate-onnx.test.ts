/**
 * The ONNX router (models/moe-gate.ts) against the float64 one (reference/moe-routing.ts) for every gate
 * method, on random fp32 logits: same experts except at near-ties, same weights to 1e-4 relative.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { addGate } from '../src/models/moe-gate.js';
import { gate, type GateSettings } from '../src/reference/moe-routing.js';
import { GraphBuilder } from '../src/runtime/graph-builder.js';
import { TensorType } from '../src/runtime/onnx-proto.js';

const T = 300;
const E = 64;
const NEAR_TIE = 1e-5; // fp32 scores differ from float64 ones by about 1e-7

const methods: Array<[string, GateSettings]> = [
  ['v1 greedy softmax', { scoringFunc: 'softmax', topkMethod: 'greedy', topK: 6, nGroup: 1, topkGroup: 1, normTopkProb: false, routedScalingFactor: 1 }],
  ['v2 group_limited_greedy', { scoringFunc: 'softmax', topkMethod: 'group_limited_greedy', topK: 6, nGroup: 8, topkGroup: 3, normTopkProb: false, routedScalingFactor: 16 }],
  ['v3 noaux_tc', { scoringFunc: 'sigmoid', topkMethod: 'noaux_tc', topK: 8, nGroup: 8, topkGroup: 2, normTopkProb: true, routedScalingFactor: 2.5 }],
];

async function runGate(settings: GateSettings, logits: Float32Array, bias: Float32Array) {
  const g = new GraphBuilder('gate');
  const input = g.input('logits', TensorType.float, ['T', E]);
  const biasInput = settings.topkMethod === 'noaux_tc' ? g.input('bias', TensorType.float, [E]) : undefined;
  const nodes = addGate(g, input, E, settings, biasInput);
  g.output(nodes.indices, 'indices', TensorType.int64, ['T', settings.topK]);
  g.output(nodes.weights, 'weights', TensorType.float, ['T', settings.topK]);
  if (nodes.unbiasedIndices) g.output(nodes.unbiasedIndices, 'unbiased', TensorType.int64, ['T', settings.topK]);
  const session = await ort.InferenceSession.create(g.build());
  const feeds: Record<string, ort.Tensor> = { logits: new ort.Tensor('float32', logits, [T, E]) };
  if (biasInput) feeds.bias = new ort.Tensor('float32', bias, [E]);
  const out = await session.run(feeds);
  const unbiased = out.unbiased ? Array.from(out.unbiased.data as BigInt64Array, Number) : undefined;
  return { indices: Array.from(out.indices.data as BigInt64Array, Number), weights: out.weights.data as Float32Array, unbiased };
}

describe('ONNX gate matches the float64 gate', () => {
  for (const [name, settings] of methods) {
    it(name, async () => {
      let seed = 11;
      const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      const logits = Float32Array.from({ length: T * E }, () => random() * 8 - 4);
      // Real V3 biases are large and positive (architecture.md 5.3); spread them so they change choices.
      const bias = Float32Array.from({ length: E }, () => 2 + random() * 0.5);
      const onnx = await runGate(settings, logits, bias);
      const K = settings.topK;
      let compared = 0;
      for (let t = 0; t < T; t++) {
        const expected = gate(Float64Array.from(logits.subarray(t * E, (t + 1) * E)), settings, Float64Array.from(bias));
        const ids = onnx.indices.slice(t * K, (t + 1) * K);
        const groups = new Set(ids.map((e) => Math.floor(e / (E / settings.nGroup))));
        if (settings.topkMethod !== 'greedy') assert.ok(groups.size <= settings.topkGroup, `token ${t}: ${groups.size} groups`);
        if (expected.margin < NEAR_TIE) continue;
        compared++;
        assert.deepEqual(ids, expected.ids, `token ${t}`);
        expected.weights.forEach((w, j) => {
          const got = onnx.weights[t * K + j];
          assert.ok(Math.abs(got - w) <= 1e-4 * Math.abs(w), `token ${t} weight ${j}: ${got} vs ${w}`);
        });
      }
      assert.ok(compared > 0.95 * T, `only ${compared} of ${T} tokens clear of near-ties`);

      // With the bias, the gate also gives the choice with the bias set to zero (groups chosen again from
      // the unbiased scores): the float64 gate with a zero bias, in the same order (descending score).
      assert.equal(onnx.unbiased !== undefined, settings.topkMethod === 'noaux_tc');
      if (!onnx.unbiased) return;
      let unbiasedCompared = 0;
      let changed = 0;
      for (let t = 0; t < T; t++) {
        const expected = gate(Float64Array.from(logits.subarray(t * E, (t + 1) * E)), settings, new Float64Array(E));
        if (expected.margin < NEAR_TIE || expected.groupMargin < NEAR_TIE) continue;
        const ids: number[] = onnx.unbiased.slice(t * K, (t + 1) * K);
        assert.deepEqual(ids, expected.ids, `token ${t} without the bias`);
        unbiasedCompared++;
        if ([...ids].sort().join() !== [...onnx.indices.slice(t * K, (t + 1) * K)].sort().join()) changed++;
      }
      assert.ok(unbiasedCompared > 0.95 * T, `only ${unbiasedCompared} of ${T} tokens clear of near-ties without the bias`);
      assert.ok(changed > 0, 'the bias changed no choice, so the comparison cannot tell biased from unbiased');
    });
  }
});
