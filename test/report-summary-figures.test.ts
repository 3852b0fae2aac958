/**
 * SUMMARY.json's figure keys (contract.md, "Extensions": unbiased, coactivation, token_specialization,
 * domain_specialization, nodes_per_token, small_sample) on small hand-made traces, each value checked against
 * numbers worked by hand or recomputed here straight from the expert sets.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { analyseTrace } from '../src/analysis/analyse.js';
import { runReport } from '../src/report/report.js';
import { openTrace, writeTrace } from '../src/trace.js';
import { tempDir } from './helpers/safetensors-bytes.js';

const dir = tempDir('summary-figures');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} vs ${expected}`);

/**
 * Trace A: E = 6 (experts 4 and 5 never chosen), K = 2, model layers 3 and 4, two prompts of two tokens
 * labelled code and prose. Token 6's bytes E4 BD are not valid UTF-8 alone.
 */
const E = 6;
const K = 2;
const biased = [
  [[0, 1], [0, 2], [1, 3], [0, 1]], // layer 3
  [[2, 3], [2, 3], [0, 1], [0, 1]], // layer 4
];
const unbiased = [
  [[0, 1], [0, 1], [0, 1], [1, 0]],
  [[2, 3], [3, 2], [0, 1], [0, 1]],
];
/** [T, L, K] from [L][T][K]. */
const tokenMajor = (sets: number[][][]) => Int32Array.from(sets[0].flatMap((_, t) => sets.flatMap((layer) => layer[t])));

function writeTraceA(file: string): void {
  const pieces = [[0x61], [0xe4, 0xbd], [0x61], [0xe4, 0xbd]];
  writeTrace(file, {
    metadata: { model_type: 'deepseek_v3', n_routed_experts: E, num_experts_per_tok: K, model_config: '{}', model_dir: 'test', labels: ['code', 'prose'], source: 'route' },
    layers: [3, 4],
    tokenIds: Int32Array.of(5, 6, 5, 6),
    promptOffsets: [0, 2, 4],
    topkIds: [tokenMajor(biased)],
    unbiasedTopkIds: [tokenMajor(unbiased)],
    tokenText: { bytes: Uint8Array.from(pieces.flat()), offsets: [0, 1, 3, 4, 6] },
    promptLabels: Int32Array.of(0, 1),
  });
}

/** Trace B: one prompt of 12 occurrences of token 9 (bytes E4 BD) at one layer: 9 to experts {0, 1}, 3 to {2, 3}. */
function writeTraceB(file: string): void {
  writeTrace(file, {
    metadata: { model_type: 'deepseek', n_routed_experts: E, num_experts_per_tok: K, model_config: '{}', model_dir: 'test', labels: [], source: 'route' },
    layers: [1],
    tokenIds: new Int32Array(12).fill(9),
    promptOffsets: [0, 12],
    topkIds: [Int32Array.from(Array.from({ length: 12 }, (_, t) => (t < 9 ? [0, 1] : [2, 3])).flat())],
    tokenText: { bytes: Uint8Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? 0xe4 : 0xbd)), offsets: Array.from({ length: 13 }, (_, t) => 2 * t) },
  });
}

/** Lift of j given i from the expert sets directly: P(j | i) / P(j); null where either expert has no load. */
function liftFromSets(sets: number[][], i: number, j: number): number | null {
  const T = sets.length;
  const has = (set: number[], e: number) => set.includes(e);
  const loadI = sets.filter((s) => has(s, i)).length;
  const loadJ = sets.filter((s) => has(s, j)).length;
  if (loadI === 0 || loadJ === 0) return null;
  return sets.filter((s) => has(s, i) && has(s, j)).length / loadI / (loadJ / T);
}

/** I(label; expert) in bits over all (token, choice) pairs, from a table of counts. */
function mutualInformation(counts: number[][]): number {
  const total = counts.flat().reduce((a, b) => a + b, 0);
  let bits = 0;
  counts.forEach((row, l) =>
    row.forEach((n, e) => {
      if (n === 0) return;
      const pLabel = row.reduce((a, b) => a + b, 0) / total;
      const pExpert = counts.reduce((a, r) => a + r[e], 0) / total;
      bits += (n / total) * Math.log2(n / total / (pLabel * pExpert));
    }),
  );
  return bits;
}

describe('SUMMARY.json figure keys', async () => {
  const fileA = path.join(dir, 'a.trace.safetensors');
  const fileB = path.join(dir, 'b.trace.safetensors');
  writeTraceA(fileA);
  writeTraceB(fileB);
  const json = path.join(dir, 'SUMMARY.json');
  await runReport([fileA, fileB], { out: path.join(dir, 'REPORT.html'), json, gpus: 2, nodes: 2 });
  const summary = JSON.parse(fs.readFileSync(json, 'utf8'));

  test('unbiased: share of choices the bias changed, MaxVio and balancedness with and without it (by hand)', () => {
    // Layer 3 with the bias: loads 3,3,1,1,0,0 (mean 4/3), GPUs {0,1,2} {3,4,5} carry 7 and 1. Without: 4,4,0,0,0,0 -> 8 and 0.
    // The bias changed token 1's expert 2 and token 2's expert 3: 2 of 8 choices. Layer 4: the same sets in another order.
    assert.deepEqual(summary.unbiased.per_layer.map((r: Record<string, unknown>) => [r.trace, r.layer]), [['a.trace.safetensors', 3], ['a.trace.safetensors', 4]]);
    const [l3, l4] = summary.unbiased.per_layer;
    close(l3.changed_share, 2 / 8, 'changed share');
    close(l3.maxvio, 3 / (4 / 3) - 1, 'maxvio');
    close(l3.maxvio_unbiased, 4 / (4 / 3) - 1, 'maxvio unbiased');
    close(l3.balancedness, 4 / 7, 'balancedness');
    close(l3.balancedness_unbiased, 4 / 8, 'balancedness unbiased');
    close(l4.changed_share, 0, 'changed share');
    close(l4.maxvio, 2 / (4 / 3) - 1, 'maxvio');
    close(l4.maxvio_unbiased, l4.maxvio, 'maxvio unbiased');
    close(l4.balancedness, 4 / 6, 'balancedness');
    close(l4.balancedness_unbiased, 4 / 6, 'balancedness unbiased');
    assert.deepEqual(Object.keys(l3), ['trace', 'layer', 'changed_share', 'maxvio', 'maxvio_unbiased', 'balancedness', 'balancedness_unbiased']);
  });

  test('unbiased: the same when the trace is read one token at a time', async () => {
    const trace = openTrace(fileA);
    try {
      assert.deepEqual((await analyseTrace(trace, { name: 'a', gpus: 2, blockTokens: 1 })).figures.unbiased, (await analyseTrace(trace, { name: 'a', gpus: 2 })).figures.unbiased);
    } finally {
      trace.close();
    }
  });

  test('coactivation: the lift matrix per layer, null where an expert has no load', () => {
    const layers = summary.coactivation.per_layer.filter((r: { trace: string }) => r.trace === 'a.trace.safetensors');
    assert.deepEqual(layers.map((r: { layer: number }) => r.layer), [3, 4]);
    layers.forEach((row: { lift: Array<Array<number | null>> }, l: number) => {
      for (let i = 0; i < E; i++) {
        for (let j = 0; j < E; j++) {
          const expected = liftFromSets(biased[l], i, j);
          if (expected === null) assert.equal(row.lift[i][j], null, `layer ${l} lift[${i}][${j}]`);
          else close(row.lift[i][j]!, expected, `layer ${l} lift[${i}][${j}]`);
        }
      }
    });
    // By hand: layer 3, experts 0 and 1 together on tokens 0 and 3: (2/3) / (3/4) = 8/9.
    close(layers[0].lift[0][1], 8 / 9, 'lift[0][1]');
  });

  test('domain_specialization: mutual information, its shuffled-label baseline and the label lift', () => {
    const [l3, l4] = summary.domain_specialization.per_layer;
    // Counts of (label, expert) over the K choices: label code = tokens 0, 1; prose = tokens 2, 3.
    const counts = (sets: number[][]) => [0, 1].map((label) => Array.from({ length: E }, (_, e) => sets.slice(2 * label, 2 * label + 2).filter((s) => s.includes(e)).length));
    close(l3.mi_bits, mutualInformation(counts(biased[0])), 'mi layer 3');
    close(l4.mi_bits, 1, 'mi layer 4: each label has experts of its own');
    // With two labelled prompts a shuffle either keeps or swaps the labels, and swapping labels leaves the
    // mutual information unchanged: the baseline equals the real value, which is the point of showing it.
    close(l3.mi_shuffled_bits, l3.mi_bits, 'shuffled layer 3');
    close(l4.mi_shuffled_bits, 1, 'shuffled layer 4');
    assert.deepEqual(l4.labels, ['code', 'prose']);
    // Layer 4: expert 2 takes only code, which is half the labelled tokens: lift 2; prose 0; unused experts null.
    assert.deepEqual(l4.lift, [[0, 0, 2, 2, null, null], [2, 2, 0, 0, null, null]]);
  });

  test('nodes_per_token: mean and histogram (2 GPUs on 2 nodes: experts 0-2 and 3-5)', () => {
    const rows = summary.nodes_per_token.per_layer.filter((r: { trace: string }) => r.trace === 'a.trace.safetensors');
    // Layer 3: only token 2 ({1, 3}) spans both nodes. Layer 4: tokens 0 and 1 ({2, 3}) do.
    assert.deepEqual(rows.map((r: Record<string, unknown>) => [r.layer, r.mean, r.histogram]), [[3, 5 / 4, [0, 3, 1]], [4, 6 / 4, [0, 2, 2]]]);
  });

  test('token_specialization: top-expert share, the tokens, with bytes_hex where the bytes are not UTF-8 alone', () => {
    const spec = summary.token_specialization;
    assert.equal(spec.min_occurrences, 10);
    const [row] = spec.per_layer;
    assert.equal(spec.per_layer.length, 1, 'trace A has no token with 10 occurrences');
    assert.deepEqual([row.trace, row.layer, row.top_expert_share, row.ids], ['b.trace.safetensors', 1, 9 / 12, 1]);
    // The text writes the bytes that are not UTF-8 text as \xE4 (contract.md, "Tokens that are not text on their own").
    const token = { id: 9, text: '\\xE4\\xBD', bytes_hex: 'E4 BD' };
    assert.deepEqual(row.most_specialized, [{ token, occurrences: 12, expert: 0, count: 9, share: 0.75 }]);
    // Lift: (9 / load 9) / (12 / 12 tokens) = 1 at experts 0 and 1, (3 / 3) / 1 = 1 at experts 2 and 3; 4 and 5 get nothing.
    const nine = { token, count: 9, share: 0.75, lift: 1 };
    const three = { token, count: 3, share: 0.25, lift: 1 };
    assert.deepEqual(row.top_tokens, [[nine], [nine], [three], [three], [], []]);
  });

  test('small_sample: every figure made from fewer than 1,000 tokens, with its token count', () => {
    assert.deepEqual(summary.small_sample, [
      { trace: 'a.trace.safetensors', figure: 'load', tokens: 4, threshold: 1000 },
      { trace: 'a.trace.safetensors', figure: 'same_token_overlap', tokens: 4, threshold: 1000 },
      { trace: 'a.trace.safetensors', figure: 'domain_specialization', tokens: 4, threshold: 1000 },
      { trace: 'b.trace.safetensors', figure: 'load', tokens: 12, threshold: 1000 },
      { trace: 'b.trace.safetensors', figure: 'same_token_overlap', tokens: 12, threshold: 1000 },
      { trace: 'b.trace.safetensors', figure: 'token_specialization', tokens: 12, threshold: 1000 },
    ]);
  });
});
