import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { contiguousPlacement } from '../src/analysis/balancedness.js';
import { gpuBuckets, nodeBuckets } from '../src/analysis/devices-per-token.js';
import { DistinctPerTokenCounter, histogramMean, randomRoutingSpread } from '../src/analysis/distinct-per-token.js';
import { groupBuckets, groupLimitFromConfig, groupsPerToken } from '../src/analysis/groups-per-token.js';
import { parseMoeConfig } from '../src/models/config.js';

/** One layer's blocks from per-token expert lists. */
const block = (sets: number[][]) => ({ start: 0, tokens: sets.length, ids: Int32Array.from(sets.flat()) });

describe('groups per token', () => {
  test('E = 8 in 4 groups of 2, top-2: groups touched by hand, and violations of topk_group 1', () => {
    const counter = new DistinctPerTokenCounter(1, 2, 8, groupBuckets(1, 8, 4));
    // {0,1}: group 0 only; {0,2}: groups 0,1; {7,6}: group 3; {3,4}: groups 1,2.
    counter.add(block([[0, 1], [0, 2], [7, 6], [3, 4]]));
    const figures = groupsPerToken(counter.layer(0), 1);
    assert.deepEqual(figures, { mean: 1.5, histogram: [0, 2, 2], violations: 2 });
    assert.equal(groupsPerToken(counter.layer(0), 2).violations, 0);
    assert.equal(groupsPerToken(counter.layer(0)).violations, undefined);
  });

  test('groupLimitFromConfig reads the groups as the router uses them: V2/V3 group-limited routers enforce topk_group, greedy and V1 do not', () => {
    const limit = (config: Record<string, unknown>) => groupLimitFromConfig(parseMoeConfig({ num_hidden_layers: 4, n_routed_experts: 64, num_experts_per_tok: 6, ...config }, 'config.json'));
    assert.deepEqual(limit({ model_type: 'deepseek_v3', n_group: 8, topk_group: 4, topk_method: 'noaux_tc', scoring_func: 'sigmoid' }), { nGroup: 8, topkGroup: 4, enforced: true });
    assert.deepEqual(limit({ model_type: 'deepseek_v3' }), { nGroup: 8, topkGroup: 4, enforced: true }, "transformers' native V3 config: noaux_tc, 8 groups keep 4");
    assert.deepEqual(limit({ model_type: 'deepseek_v2', n_group: 8, topk_group: 3, topk_method: 'group_limited_greedy' }), { nGroup: 8, topkGroup: 3, enforced: true });
    assert.deepEqual(limit({ model_type: 'deepseek_v2', n_group: 8, topk_group: 3, topk_method: 'greedy' }), { nGroup: 8, enforced: false }, 'greedy ignores topk_group');
    assert.equal(limit({ model_type: 'deepseek', n_group: 8, topk_group: 3, topk_method: 'group_limited_greedy' }), undefined, 'DeepSeekMoE V1 routes plain top-K whatever its config says');
    assert.equal(limit({ model_type: 'deepseek_v2', n_group: 1, topk_group: 1 }), undefined);
    assert.equal(limit({ model_type: 'deepseek_v2' }), undefined);
  });
});

describe('GPUs and nodes per token', () => {
  test('contiguous placement: 8 experts on 4 GPUs in 2 nodes', () => {
    const gpu = gpuBuckets([contiguousPlacement(8, 4)], 8);
    const gpus = new DistinctPerTokenCounter(1, 3, 8, gpu);
    const nodes = new DistinctPerTokenCounter(1, 3, 8, nodeBuckets(gpu, 4, 2));
    // GPU g holds experts 2g, 2g+1; node n holds GPUs 2n, 2n+1 (experts 4n..4n+3).
    // {0,1,2}: GPUs 0,1 / node 0. {0,4,7}: GPUs 0,2,3 / nodes 0,1. {5,6,7}: GPUs 2,3 / node 1.
    const b = block([[0, 1, 2], [0, 4, 7], [5, 6, 7]]);
    gpus.add(b);
    nodes.add(b);
    assert.deepEqual(gpus.layer(0), { mean: 7 / 3, histogram: [0, 0, 2, 1] });
    assert.deepEqual(nodes.layer(0), { mean: 4 / 3, histogram: [0, 2, 1, 0] });
  });

  test('replicas: an expert\'s tokens go round robin over its replicas', () => {
    // 4 experts, 6 slots on 2 GPUs: GPU 0 holds slots 0..2 = experts 0,1,0; GPU 1 holds 2,3,0.
    // Expert 0's replicas sit on GPUs 0, 0, 1, so its n-th token goes to GPU [0, 0, 1][n mod 3].
    const gpu = gpuBuckets([{ phy2log: [0, 1, 0, 2, 3, 0], gpus: 2 }], 4);
    assert.deepEqual(gpu[0], [[0, 0, 1], [0], [1], [1]]);
    const counter = new DistinctPerTokenCounter(1, 2, 4, gpu);
    // t0 {0,2}: GPU 0 + GPU 1 = 2; t1 {0,1}: GPU 0 + 0 = 1; t2 {0,1}: GPU 1 + 0 = 2; t3 {0,3}: GPU 0 + 1 = 2.
    counter.add(block([[0, 2], [0, 1]]));
    counter.add(block([[0, 1], [0, 3]]));
    assert.deepEqual(counter.layer(0), { mean: 7 / 4, histogram: [0, 1, 3] });
  });

  test('several layers keep separate histograms', () => {
    const counter = new DistinctPerTokenCounter(2, 2, 4, gpuBuckets([contiguousPlacement(4, 2), contiguousPlacement(4, 4)], 4));
    // Token layout [T, L, K]: token 0 picks {0,1} at layer 0 (1 GPU of 2) and {0,1} at layer 1 (2 GPUs of 4).
    counter.add({ start: 0, tokens: 1, ids: Int32Array.of(0, 1, 0, 1) });
    assert.deepEqual(counter.layer(0).histogram, [0, 1, 0]);
    assert.deepEqual(counter.layer(1).histogram, [0, 0, 1]);
  });

  test('histogramMean', () => {
    assert.equal(histogramMean([0, 2, 1, 1]), (2 + 2 + 3) / 4);
  });
});

describe('randomRoutingSpread', () => {
  test('equals the mean over every K-subset of experts', () => {
    for (const [E, perBucket, K] of [[8, 2, 3], [12, 3, 4], [6, 6, 2], [10, 1, 3], [16, 4, 6]]) {
      let subsets = 0;
      let touched = 0;
      const visit = (start: number, chosen: number[]) => {
        if (chosen.length === K) {
          subsets += 1;
          touched += new Set(chosen.map((e) => Math.floor(e / perBucket))).size;
          return;
        }
        for (let e = start; e < E; e++) visit(e + 1, [...chosen, e]);
      };
      visit(0, []);
      assert.ok(Math.abs(randomRoutingSpread(E, perBucket, K) - touched / subsets) < 1e-12, `E=${E} perBucket=${perBucket} K=${K}`);
    }
  });
});
