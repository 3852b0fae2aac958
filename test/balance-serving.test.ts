import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { contiguousPlacement, gpuBalancedness, gpuLoads } from '../src/analysis/balancedness.js';
import { balancedPacking, placeExperts, rebalanceExperts } from '../src/analysis/eplb.js';
import { planPlacement } from '../src/balance/balance.js';
import { expertBytesFromModel } from '../src/balance/expert-bytes.js';
import { minimumCostAssignment } from '../src/balance/hungarian.js';
import { InputError } from '../src/errors.js';
import { movedReplicasPerGpu, relabelToMoveLeast } from '../src/balance/migration.js';
import { runServingBalance } from '../src/balance/serving.js';
import { planSections } from '../src/balance/plan-page.js';
import { checkPlanFitsLoad } from '../src/balance/plan-file.js';
import { diffPlans } from '../src/balance/plan-diff.js';
import { sglangExpertLocation } from '../src/balance/export-engines.js';
import { oraclePlan, periodicPlans, simulateRebalancing } from '../src/balance/simulate.js';
import { sweepPlacements } from '../src/balance/sweep.js';
import { readLoadSeries, seriesFromSteps } from '../src/balance/time-series.js';
import { LayerCounter, ReplicaRoute, tokenBytes } from '../src/balance/traffic.js';
import { loadMatrixFromRows, readLoadMatrix } from '../src/loaders/load-matrix.js';
import { drawLoadSeries } from '../src/synth/load-series.js';
import { mulberry32 } from '../src/random.js';
import { synthesize } from '../src/synth/synth.js';
import { tempDir as makeTempDir } from './helpers/safetensors-bytes.js';
import { repoRoot } from './helpers/cli.js';

const root = repoRoot();
const servingLoad = path.join(root, 'test/fixtures/serving/deepseek-v3-decode_in1000out1000.logical_count.json');
const v3Cluster = { replicas: 288, groups: 8, nodes: 4, gpus: 32 };
const scratch = makeTempDir('serving');
after(() => fs.rmSync(scratch, { recursive: true, force: true }));
/** A fresh folder per test, all under one scratch folder removed at the end. */
const tempDir = () => fs.mkdtempSync(path.join(scratch, 'case-'));
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/** Multiset difference |B \ A| counted by brute force: remove each of A's items from B once. */
function multisetMinus(b: number[], a: number[]): number {
  const rest = [...b];
  for (const x of a) {
    const i = rest.indexOf(x);
    if (i >= 0) rest.splice(i, 1);
  }
  return rest.length;
}

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));
}

describe('engine exports', () => {
  test('SGLang and vLLM files parse back to exactly phy2log; dense rows hold the trivial map s mod E', () => {
    const dir = tempDir();
    const files = { out: path.join(dir, 'plan.json'), exportSglang: path.join(dir, 'sglang.json'), exportVllm: path.join(dir, 'vllm.jsonl') };
    const { plan } = runServingBalance(servingLoad, { ...v3Cluster, ...files });
    const sglang = JSON.parse(fs.readFileSync(files.exportSglang, 'utf8'));
    assert.deepEqual(Object.keys(sglang), ['physical_to_logical_map']);
    const rows: number[][] = sglang.physical_to_logical_map;
    assert.equal(rows.length, 61); // DeepSeek-V3's num_hidden_layers, = the load's rows
    const trivial = Array.from({ length: 288 }, (_, s) => s % 256);
    for (const layer of [0, 1, 2]) assert.deepEqual(rows[layer], trivial);
    plan!.layers.forEach((layer, i) => assert.deepEqual(rows[layer], plan!.phy2log[i]));

    const lines = fs.readFileSync(files.exportVllm, 'utf8').split('\n').filter(Boolean);
    assert.equal(lines.length, 1);
    const record = JSON.parse(lines[0]);
    assert.equal(record.record_type, 'eplb_initial_mapping');
    assert.equal(record.version, 1);
    assert.equal(record.num_redundant_experts, 32);
    assert.equal(record.num_slots, 288);
    assert.deepEqual(Object.keys(record.initial_global_assignments), Array.from({ length: 58 }, (_, j) => String(j)));
    plan!.layers.forEach((_, i) => assert.deepEqual(record.initial_global_assignments[String(i)], plan!.phy2log[i]));
  });
});

describe('EPLB speed-ups keep the plan', () => {
  test('balancedPacking orders items as a stable descending comparator sort would, ties and -0 included', () => {
    const random = mulberry32(11);
    // Greedy packing written out with the comparator order: heaviest first, ties by index.
    const reference = (weights: number[], packs: number) => {
      const order = weights.map((_, i) => i).sort((a, b) => weights[b] - weights[a] || a - b);
      const perPack = weights.length / packs;
      const load = new Array(packs).fill(0);
      const size = new Array(packs).fill(0);
      const pack: number[] = [];
      const rank: number[] = [];
      for (const item of order) {
        let best = -1;
        for (let p = 0; p < packs; p++) if (size[p] < perPack && (best < 0 || load[p] < load[best])) best = p;
        [pack[item], rank[item]] = [best, size[best]];
        load[best] = Math.fround(load[best] + weights[item]);
        size[best] += 1;
      }
      return { pack, rank };
    };
    for (let trial = 0; trial < 200; trial++) {
      const packs = 1 + (trial % 5);
      const n = packs * (2 + (trial % 7));
      // Few distinct values (ties), fractions exact in float32, a -0 now and then.
      const weights = Array.from({ length: n }, () => (random() < 0.1 ? -0 : Math.fround(Math.floor(random() * 6) / 4)));
      assert.deepEqual(balancedPacking(weights, packs), reference(weights, packs));
    }
    // Values that are not float32 (or negative) take the comparator path itself.
    assert.deepEqual(balancedPacking([0.1, 0.3, -1, 0.3], 2), reference([0.1, 0.3, -1, 0.3], 2));
  });

  test('placeExperts gives rebalanceExperts phy2log', () => {
    const load = readLoadMatrix(servingLoad);
    const rows = load.moeLayers.map((layer) => load.counts[layer]);
    assert.deepEqual(placeExperts(rows, 288, 8, 4, 32), rebalanceExperts(rows, 288, 8, 4, 32).phy2log);
  });
});

describe('Hungarian assignment', () => {
  test('matches brute force on random small matrices, ties to the lexicographically smallest assignment', () => {
    const random = mulberry32(7);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + (trial % 6);
      // Small integer costs make ties common.
      const cost = Array.from({ length: n }, () => Array.from({ length: n }, () => Math.floor(random() * 4)));
      const total = (p: number[]) => sum(p.map((j, i) => cost[i][j]));
      const all = permutations(n).sort((a, b) => a.join().localeCompare(b.join()));
      const best = Math.min(...all.map(total));
      const expected = all.find((p) => total(p) === best)!;
      const { assignment, total: found } = minimumCostAssignment(cost);
      assert.equal(found, best, JSON.stringify(cost));
      assert.deepEqual(assignment, expected, JSON.stringify(cost));
    }
  });
});

describe('migration (2 nodes, 4 GPUs, 8 experts, 2 slots per GPU)', () => {
  // Worked on paper. Old plan A: GPU0 {0,1}, GPU1 {2,3}, GPU2 {4,5}, GPU3 {6,7} (nodes: GPUs 0,1 | 2,3).
  // New plan B: GPU0 {4,5}, GPU1 {6,0}, GPU2 {2,3}, GPU3 {1,7}.
  // As numbered, GPU g loads B_g minus A_g: {4,5}-{0,1} = 2, {6,0}-{2,3} = 2, {2,3}-{4,5} = 2, {1,7}-{6,7} = 1: 7.
  // Costs |B_b \ A_a| (rows a, columns b): A0: 2 1 2 1 / A1: 2 2 0 2 / A2: 0 2 2 2 / A3: 2 1 2 1.
  // Within node pairs (old m <- new n): (0<-0) [[2,1],[2,2]] best 3 crossing; (0<-1) [[2,1],[0,2]] best 1 crossing;
  // (1<-0) [[0,2],[2,1]] best 1 straight; (1<-1) [[2,2],[2,1]] best 3 straight. Nodes [[3,1],[1,3]]: swap, 2.
  // So GPU0 takes B3 (loads {1,7}-{0,1} = 1), GPU1 takes B2 (0), GPU2 takes B0 (0), GPU3 takes B1 ({6,0}-{6,7} = 1).
  const oldPlan = [[0, 1, 2, 3, 4, 5, 6, 7]];
  const newPlan = [[4, 5, 6, 0, 2, 3, 1, 7]];

  test('replicas each GPU loads, as numbered and after relabelling', () => {
    assert.deepEqual(movedReplicasPerGpu(oldPlan, newPlan, 4), [2, 2, 2, 1]);
    const gpuMap = relabelToMoveLeast(oldPlan, newPlan, 4, 2);
    assert.deepEqual(gpuMap, [3, 2, 0, 1]);
    assert.deepEqual(movedReplicasPerGpu(oldPlan, newPlan, 4, gpuMap), [1, 0, 0, 1]);
  });

  test('relabelling equals the best node-respecting permutation found by brute force, over several layers', () => {
    const random = mulberry32(3);
    for (let trial = 0; trial < 20; trial++) {
      const layers = 3;
      const shuffled = () => Array.from({ length: layers }, () => Array.from({ length: 12 }, (_, s) => s % 8).sort(() => random() - 0.5));
      const [a, b] = [shuffled(), shuffled()];
      const cost = (map: number[]) => sum(map.map((bg, ag) => sum(a.map((row, l) => multisetMinus(b[l].slice(bg * 3, bg * 3 + 3), row.slice(ag * 3, ag * 3 + 3))))));
      // GPUs 0,1 form node 0 and 2,3 node 1: a map keeps the node structure when both GPUs of a node go to one node.
      const respecting = permutations(4).filter((p) => Math.floor(p[0] / 2) === Math.floor(p[1] / 2));
      const best = Math.min(...respecting.map(cost));
      const gpuMap = relabelToMoveLeast(a, b, 4, 2);
      assert.ok(respecting.some((p) => p.join() === gpuMap.join()));
      assert.equal(cost(gpuMap), best);
      assert.equal(sum(movedReplicasPerGpu(a, b, 4, gpuMap)), best);
      assert.ok(best <= sum(movedReplicasPerGpu(a, b, 4)));
    }
  });
});

describe('traffic (2 nodes, 4 GPUs, 8 experts, 12 slots, top-2)', () => {
  // Worked on paper. Slots: GPU0 {0,1,2}, GPU1 {3,4,5}, GPU2 {6,7,0}, GPU3 {1,6,3}; nodes GPUs 0,1 | 2,3.
  // Replicas: e0 G0,G2; e1 G0,G3; e2 G0; e3 G1,G3; e4 G1; e5 G1; e6 G2,G3; e7 G2. Token t starts on GPU t mod 4.
  // t0 (G0) {0,5}: e0 local G0, e5 G1 (same node)            -> send 0->1;        nodes {0}   = 1
  // t1 (G1) {2,6}: e2 G0 (node), e6 none on node 0: round robin [G2,G3][1 mod 2] = G3 -> 1->0, 1->3; nodes 2
  // t2 (G2) {1,4}: e1 G3 (node), e4 only G1 (round robin of one)  -> 2->3, 2->1;  nodes 2
  // t3 (G3) {3,7}: e3 local G3, e7 G2 (node)                   -> 3->2;          nodes 1
  // t4 (G0) {6,3}: e6 round robin [G2,G3][4 mod 2] = G2, e3 G1 (node) -> 0->2, 0->1; nodes 2
  // t5 (G1) {0,6}: e0 G0 (node), e6 [G2,G3][5 mod 2] = G3      -> 1->0, 1->3;    nodes 2
  // V = [[0,2,1,0],[2,0,0,2],[0,1,0,1],[0,0,1,0]]; hottest pair (0,1) (first of the 2s in row order).
  // Copies at each GPU (sent + received), intra/inter: G0 4/1, G1 4/3, G2 2/2, G3 2/2.
  // H = 256, FP8: dispatch 256 + 2 scales x 4 = 264 bytes, combine 512, 776 per copy: max 7 x 776 = 5432, mean 20/4 x 776 = 3880.
  // Time: G1 = 3 x 776 / 50e9 + 4 x 776 / 160e9 = 4.656e-8 + 1.94e-8 = 6.596e-8 s (G0 3.492e-8, G2 and G3 4.074e-8).
  test('matrix, bytes, hottest pair, nodes per token and time', () => {
    const phy2log = [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 6, 3];
    const cluster = { gpus: 4, nodes: 2 };
    const route = new ReplicaRoute(phy2log, 8, cluster);
    const counter = new LayerCounter(4, 2);
    const tokens = [[0, 5], [2, 6], [1, 4], [3, 7], [6, 3], [0, 6]];
    tokens.forEach((experts, t) => counter.addToken(Int32Array.from(experts), 0, 2, t % 4, t, route));
    const bytes = tokenBytes(256, 1);
    assert.deepEqual(bytes, { dispatch: 264, combine: 512 });
    const result = counter.result(3, 'global', bytes, { nvlinkGBps: 160, rdmaGBps: 50, dispatchBytes: 1 });
    assert.deepEqual(result.matrix, [[0, 2, 1, 0], [2, 0, 0, 2], [0, 1, 0, 1], [0, 0, 1, 0]]);
    assert.deepEqual(result.hottest_pair, [0, 1]);
    assert.equal(result.max_bytes_per_gpu, 5432);
    assert.equal(result.mean_bytes_per_gpu, 3880);
    assert.deepEqual(result.nodes_per_token.histogram, [0, 2, 4]);
    assert.ok(Math.abs(result.nodes_per_token.mean - 10 / 6) < 1e-12);
    assert.ok(Math.abs(result.time_s - 6.596e-8) < 1e-18);
  });
});

describe('simulation over time', () => {
  test('a case worked on paper: 4 experts on 2 GPUs, no redundancy, W = I = 1', () => {
    // Steps (one layer): s0 [4,3,2,1], s1 [4,1,1,4], s2 [4,1,1,4].
    // EPLB on s0: 4 (e0) -> G0, 3 (e1) -> G1, 2 (e2) -> G1 (3 < 4), 1 (e3) -> G0: P0 = G0 {0,3}, G1 {1,2}.
    // EPLB on s1: 4 (e0) -> G0, 4 (e3) -> G1, 1 (e1) -> G0 (tie: first), 1 (e2) -> G1: P1 = G0 {0,1}, G1 {3,2}.
    // Periodic plans: P0 after s0, P1 after s1 (none after s2, the last step). Static keeps P0.
    // s1 under P0: G0 4+4 = 8, G1 1+1 = 2: 5/8 = 0.625. s2 under P1: 5 and 5: 1. s2 under P0: 0.625.
    // Oracle: every step balanced by its own plan: 5 and 5 each time, 1.
    // The rebalance after s1 (P0 -> P1): G0 {0,3} -> {0,1} loads e1, G1 {1,2} -> {3,2} loads e3: 2 replicas.
    const series = seriesFromSteps([[[4, 3, 2, 1]], [[4, 1, 1, 4]], [[4, 1, 1, 4]]], 'paper', []);
    const { policies } = simulateRebalancing(series, { replicas: 4, groups: 1, nodes: 1, gpus: 2 }, { window: 1, interval: 1, expertBytes: 7 });
    assert.deepEqual(policies.static, { balancedness: [null, 0.625, 0.625], mean: 0.625 });
    assert.deepEqual(policies.periodic, { balancedness: [null, 0.625, 1], mean: 0.8125, moved_replicas: [0, 2, 0], moved_bytes: [0, 14, 0] });
    assert.deepEqual(policies.oracle, { balancedness: [1, 1, 1], mean: 1 });
  });

  const real = readLoadMatrix(servingLoad);
  // 4,096 tokens per step, top-8: 32,768 expert choices per layer and step, drawn from the real shares.
  const series = seriesFromSteps(drawLoadSeries(real.counts, { steps: 8, draws: 4096 * 8, seed: 0 }), 'drawn', []);

  test('with W = I = 1 the plan in force at step s is the oracle plan of step s-1, and the figures follow from the plans', () => {
    const simulation = simulateRebalancing(series, v3Cluster, { window: 1, interval: 1, expertBytes: 1000 });
    const plans = periodicPlans(series, v3Cluster, 1, 1);
    assert.deepEqual(plans.map((p) => p.madeAfter), [0, 1, 2, 3, 4, 5, 6]);
    const measure = (step: number, phy2log: number[][]) => sum(series.moeLayers.map((layer, i) => gpuBalancedness(series.steps[step][layer], { phy2log: phy2log[i], gpus: 32 }))) / series.moeLayers.length;
    const { periodic, static: fixed, oracle } = simulation.policies;
    assert.equal(periodic.balancedness[0], null);
    assert.equal(fixed.balancedness[0], null);
    for (let s = 1; s < 8; s++) {
      const previousOracle = oraclePlan(series, s - 1, v3Cluster);
      assert.deepEqual(plans[s - 1].phy2log, previousOracle);
      assert.equal(periodic.balancedness[s], measure(s, previousOracle));
      assert.equal(fixed.balancedness[s], measure(s, plans[0].phy2log));
    }
    for (let s = 0; s < 8; s++) assert.equal(oracle.balancedness[s], measure(s, rebalanceExperts(series.moeLayers.map((l) => series.steps[s][l]), 288, 8, 4, 32).phy2log));
    // Moves: the rebalance after step s (s >= 1) replaces plan s-1 by plan s; the first plan counts 0.
    assert.equal(periodic.moved_replicas[0], 0);
    for (let s = 1; s < 7; s++) {
      const expected = sum(series.moeLayers.map((_, i) => sum(Array.from({ length: 32 }, (_, g) => multisetMinus(plans[s].phy2log[i].slice(g * 9, g * 9 + 9), plans[s - 1].phy2log[i].slice(g * 9, g * 9 + 9))))));
      assert.equal(periodic.moved_replicas[s], expected);
      assert.equal(periodic.moved_bytes![s], expected * 1000);
    }
    assert.equal(periodic.moved_replicas[7], 0);
    const present = (values: Array<number | null>) => values.filter((v): v is number => v !== null);
    assert.equal(periodic.mean, sum(present(periodic.balancedness)) / 7);
    assert.equal(oracle.mean, sum(present(oracle.balancedness)) / 8);
  });

  test('periodic rebalancing (I = 1) is at least as balanced as the static plan when the load shifts halfway', () => {
    // First half: the real shares. Second half: each layer's shares reversed over the experts, so the hot experts move.
    const reversed = real.counts.map((row) => [...row].reverse());
    const steps = [...drawLoadSeries(real.counts, { steps: 6, draws: 4096 * 8, seed: 1 }), ...drawLoadSeries(reversed, { steps: 6, draws: 4096 * 8, seed: 2 })];
    const shifting = seriesFromSteps(steps, 'shifting', []);
    const { policies } = simulateRebalancing(shifting, v3Cluster, { window: 2, interval: 1 });
    assert.ok(policies.periodic.mean! >= policies.static.mean!, `${policies.periodic.mean} < ${policies.static.mean}`);
    // After the shift the static plan fits the old load: it falls behind clearly.
    assert.ok(policies.periodic.balancedness[9]! > policies.static.balancedness[9]!);
    assert.equal(policies.periodic.moved_bytes, null);
  });

  test('the drawn series follows the real shares (alias sampling checked against the counts)', () => {
    const totals = real.counts[10].map((_, e) => sum(series.steps.map((step) => step[10][e])));
    const drawn = sum(totals);
    const realTotal = sum(real.counts[10]);
    assert.equal(drawn, 8 * 4096 * 8);
    // Each expert's count within 5 standard deviations of its binomial mean.
    real.counts[10].forEach((count, e) => {
      const p = count / realTotal;
      assert.ok(Math.abs(totals[e] - drawn * p) <= 5 * Math.sqrt(drawn * p * (1 - p)) + 1, `expert ${e}`);
    });
    assert.deepEqual(series.steps[0][0], new Array(256).fill(0)); // dense layer 0 stays empty
  });
});

describe('plan sections of the page', () => {
  test('before is the contiguous placement, after the plan, each measured independently; memory is R/D slots per layer', () => {
    const load = readLoadMatrix(servingLoad);
    const { plan } = planPlacement(load, v3Cluster);
    const [lines, bars, memory] = planSections(plan, load, 'real', 1 << 20);
    const values = (lines.spec as { data: { values: Array<{ series: string; x: number; y: number }> } }).data.values;
    plan.layers.forEach((layer, i) => {
      const before = values.find((v) => v.series === 'before (contiguous)' && v.x === layer)!.y;
      const after = values.find((v) => v.series === 'after (plan)' && v.x === layer)!.y;
      assert.ok(Math.abs(before - gpuBalancedness(load.counts[layer], contiguousPlacement(256, 32))) < 1e-5, `before, layer ${layer}`);
      assert.ok(Math.abs(after - plan.balancedness_after[i]) < 1e-5, `after, layer ${layer}`);
    });
    const peak = (layer: number) => Math.max(...gpuLoads(load.counts[layer], contiguousPlacement(256, 32)));
    const busiest = plan.layers.reduce((a, b) => (peak(b) > peak(a) ? b : a));
    assert.equal(bars.title, `Plan: per-GPU load of the busiest layer (${busiest})`);
    assert.deepEqual(memory.table!.rows, [
      ['contiguous', 8, 8 * 58, (8 * 58) / 1024],
      ['plan', 9, 9 * 58, (9 * 58) / 1024],
    ]);
  });
});

describe('time series files', () => {
  test('a 3-D .npy keeps its steps (numpy: [[[0,0,0,0],[2,1,0,0],[1,1,1,1]], [[0,0,0,0],[3,0,0,2],[2,2,2,2]]])', () => {
    const series = readLoadSeries(path.join(root, 'test/fixtures/serving/load-steps-2x3x4.npy'));
    assert.deepEqual(series.steps, [
      [[0, 0, 0, 0], [2, 1, 0, 0], [1, 1, 1, 1]],
      [[0, 0, 0, 0], [3, 0, 0, 2], [2, 2, 2, 2]],
    ]);
    assert.deepEqual(series.moeLayers, [1, 2]);
    assert.equal(series.experts, 4);
  });

  test('a 2-D .npy, ragged JSON steps and a trace without --step-tokens are refused', () => {
    const refused = (code: string, message: RegExp) => (error: unknown) => error instanceof InputError && error.code === code && message.test(error.message);
    assert.throws(() => readLoadSeries(path.join(root, 'test/fixtures/serving/load-3x4.npy')), refused('series-not-3d', /load-3x4\.npy: a time series \.npy must be 3-D \[steps, layers, experts\], found shape \(3, 4\)/));
    const dir = tempDir();
    const ragged = path.join(dir, 'ragged.json');
    fs.writeFileSync(ragged, JSON.stringify({ logical_count: [[[1, 2], [3, 4]], [[1, 2, 3], [4, 5, 6]]] }));
    assert.throws(() => readLoadSeries(ragged), refused('series-ragged', /ragged\.json: step 1 has 3 experts per layer, step 0 has 2/));
    assert.throws(() => readLoadSeries(path.join(dir, 'x.safetensors')), refused('series-step-tokens', /x\.safetensors: a trace becomes a time series only with --step-tokens N/));
  });

  test('plans that do not fit are refused with their codes', () => {
    const refused = (code: string) => (error: unknown) => error instanceof InputError && error.code === code;
    const load = readLoadMatrix(servingLoad);
    const { plan } = planPlacement(load, v3Cluster);
    const { plan: small } = planPlacement(loadMatrixFromRows([[0, 0], [3, 1]], 'small'), { replicas: 2, groups: 1, nodes: 1, gpus: 2 });
    assert.throws(() => diffPlans(small, plan, 'old.json'), refused('plan-mismatch'));
    assert.throws(() => checkPlanFitsLoad(small, 'small.json', 256, 61), refused('plan-experts'));
    assert.throws(() => sglangExpertLocation(plan, 30), refused('export-layers'));
    assert.throws(() => sweepPlacements(load, { gpus: [24], redundant: [0], gpusPerNode: 8, groups: 8 }), refused('sweep-shape'));
    assert.throws(() => runServingBalance(servingLoad, { ...v3Cluster, out: path.join(tempDir(), 'p.json'), traffic: { tokenSource: 'token', bandwidth: {} } }), refused('traffic-needs-trace'));
  });
});

describe('redundancy sweep', () => {
  test('each point is EPLB mean balancedness for its shape; knee and drops follow their definitions', () => {
    const load = readLoadMatrix(servingLoad);
    const sweep = sweepPlacements(load, { gpus: [8, 32], redundant: [0, 32, 64], gpusPerNode: 8, groups: 8, expertBytes: 100 });
    assert.equal(sweep.points.length, 6);
    for (const point of sweep.points) {
      const { plan } = planPlacement(load, { replicas: 256 + point.redundant, gpus: point.gpus, nodes: Math.max(1, point.gpus / 8), groups: 8 });
      assert.ok(Math.abs(point.balancedness - sum(plan.balancedness_after) / plan.layers.length) < 1e-12);
      assert.equal(point.expert_bytes_per_gpu, ((256 + point.redundant) / point.gpus) * 100);
    }
    for (const gpus of [8, 32]) {
      const line = sweep.points.filter((p) => p.gpus === gpus);
      const best = Math.max(...line.map((p) => p.balancedness));
      assert.equal(sweep.knee[String(gpus)], line.find((p) => p.balancedness >= 0.99 * best)!.redundant);
      const drops = line.slice(1).filter((p, i) => p.balancedness < line[i].balancedness).map((p) => p.redundant);
      assert.deepEqual(sweep.drops.filter((d) => d.gpus === gpus).map((d) => d.to_redundant), drops);
    }
  });

  test('a drop is listed when more redundancy gives lower balancedness', () => {
    // One layer, loads 9 5 5 1 on 2 GPUs. R = 4: {9,1} and {5,5}, balancedness 1. R = 6: e0 and e1 get a second
    // replica (5, 4.5, 4.5, 2.5, 2.5, 1 packed as 5+2.5+2.5 and 4.5+4.5+1): 1. R = 8: e0 three replicas of 3, e1 and e2
    // two of 2.5, e3 one of 1; the greedy packing ends at 9.5 and 10.5: balancedness 10 / 10.5 = 0.952, a drop.
    const load = loadMatrixFromRows([[9, 5, 5, 1]], 'tiny');
    const sweep = sweepPlacements(load, { gpus: [2], redundant: [0, 2, 4], gpusPerNode: 8, groups: 1 });
    const line = sweep.points;
    const decreases = line.slice(1).flatMap((p, i) => (p.balancedness < line[i].balancedness ? [[line[i].redundant, p.redundant]] : []));
    assert.deepEqual(sweep.drops.map((d) => [d.from_redundant, d.to_redundant]), decreases);
    assert.deepEqual(line.map((p) => p.balancedness), [1, 1, 10 / 10.5]);
    assert.deepEqual(sweep.drops, [{ gpus: 2, from_redundant: 2, to_redundant: 4, from: 1, to: 10 / 10.5 }]);
    assert.equal(sweep.knee['2'], 0);
  });
});

describe('expert bytes from a model folder', () => {
  test('gate, up and down at FP8 plus their block scales, from the headers', async () => {
    const dir = path.join(tempDir(), 'model');
    await synthesize({ preset: 'tiny-v3', out: dir, seed: 0, dtype: 'fp8' });
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    const [H, I] = [config.hidden_size, config.moe_intermediate_size];
    const [br, bc] = config.quantization_config.weight_block_size;
    const scales = (rows: number, cols: number) => Math.ceil(rows / br) * Math.ceil(cols / bc) * 4;
    assert.equal(expertBytesFromModel(dir), 3 * H * I + 2 * scales(I, H) + scales(H, I));
  });
});
