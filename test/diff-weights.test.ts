import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ChangeNorm, cosineSimilarity, diffWeights, type WeightsDiff } from '../src/analysis/weights-diff.js';
import { checkSameArchitecture } from '../src/diff/diff.js';
import { Checkpoint } from '../src/loaders/checkpoint.js';
import { float32ToBf16, float32ToFp8E4M3, type DType } from '../src/loaders/dtypes.js';
import { writeSafetensors, type TensorSpec } from '../src/loaders/safetensors-writer.js';
import { readModelConfig } from '../src/models/config.js';
import { tensorNames } from '../src/models/tensor-names.js';
import { tempDir } from './helpers/safetensors-bytes.js';

const dir = tempDir('diff-weights');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const close = (actual: number, expected: number, what: string, tolerance = 1e-12) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected}`);

/**
 * A hand-made model: 3 layers (layer 0 dense, left out), H = 2, E = 2 routed experts of width 1, top-1.
 * Only the routers and routed experts are stored: that is all the weights diff reads.
 */
const baseConfig = {
  model_type: 'deepseek', hidden_size: 2, num_hidden_layers: 3, num_attention_heads: 1, intermediate_size: 2, moe_intermediate_size: 1,
  n_routed_experts: 2, num_experts_per_tok: 1, first_k_dense_replace: 1, max_position_embeddings: 16, vocab_size: 8,
};

type Weights = Record<string, number[]>;

const weightsA: Weights = {
  'model.layers.1.mlp.gate.weight': [3, 4, 1, 0],
  'model.layers.1.mlp.experts.0.gate_proj.weight': [1, 2],
  'model.layers.1.mlp.experts.0.up_proj.weight': [2, 0],
  'model.layers.1.mlp.experts.0.down_proj.weight': [0, 1],
  'model.layers.1.mlp.experts.1.gate_proj.weight': [1, 1],
  'model.layers.1.mlp.experts.1.up_proj.weight': [1, -1],
  'model.layers.1.mlp.experts.1.down_proj.weight': [2, 2],
  'model.layers.2.mlp.gate.weight': [0, 1, 1, 1],
  'model.layers.2.mlp.experts.0.gate_proj.weight': [1, 0],
  'model.layers.2.mlp.experts.0.up_proj.weight': [0, 1],
  'model.layers.2.mlp.experts.0.down_proj.weight': [1, 0],
  'model.layers.2.mlp.experts.1.gate_proj.weight': [2, 0],
  'model.layers.2.mlp.experts.1.up_proj.weight': [0, 2],
  'model.layers.2.mlp.experts.1.down_proj.weight': [1, 1],
};

/** B: layer 1's router row 0 turned from [3, 4] to [4, 3], and expert (1, 0)'s down matrix from [0, 1] to [0, 4]. */
const weightsB: Weights = {
  ...weightsA,
  'model.layers.1.mlp.gate.weight': [4, 3, 1, 0],
  'model.layers.1.mlp.experts.0.down_proj.weight': [0, 4],
};

function shapeOf(name: string): number[] {
  if (name.endsWith('gate.weight')) return [2, 2];
  return name.endsWith('down_proj.weight') ? [2, 1] : [1, 2];
}

/** Writes a model folder; FP8 tensors get a [1, 1] block scale of 2 (the values are stored halved). */
function writeModel(name: string, weights: Weights, dtype: DType = 'F32', config: object = baseConfig, shapes = shapeOf): string {
  const model = path.join(dir, name);
  fs.mkdirSync(model, { recursive: true });
  fs.writeFileSync(path.join(model, 'config.json'), JSON.stringify(config));
  const tensors = Object.entries(weights).flatMap(([tensor, values]): Array<TensorSpec & { data: ArrayBufferView }> => {
    const data = Float32Array.from(values);
    const shape = shapes(tensor);
    if (dtype === 'BF16') return [{ name: tensor, dtype, shape, data: float32ToBf16(data) }];
    if (dtype === 'F8_E4M3') {
      return [
        { name: tensor, dtype, shape, data: Uint8Array.from(data, (v) => float32ToFp8E4M3(v / 2)) },
        { name: `${tensor}_scale_inv`, dtype: 'F32', shape: [1, 1], data: Float32Array.of(2) },
      ];
    }
    return [{ name: tensor, dtype, shape, data }];
  });
  writeSafetensors(path.join(model, 'model.safetensors'), tensors);
  return model;
}

function diffFolders(dirA: string, dirB: string): WeightsDiff {
  const a = Checkpoint.open(dirA);
  const b = Checkpoint.open(dirB);
  try {
    return diffWeights(a, b, tensorNames('deepseek'), [1, 2], 2);
  } finally {
    a.close();
    b.close();
  }
}

/** Every number of the hand-made B against A, worked out by hand. */
function assertHandWorkedDiff(diff: WeightsDiff): void {
  const [layer1, layer2] = diff.layers;
  const changed = layer1.experts[0];
  // ||A||² = 1+4 + 4+0 + 0+1 = 10 over gate, up, down; only down moved, by 3.
  close(changed.relChange, 3 / Math.sqrt(10), 'rel change of (1, 0)');
  assert.deepEqual(changed.matrixRelChange, { gate: 0, up: 0, down: 3 });
  // Router row [3, 4] -> [4, 3]: |b - a| = sqrt 2, |a| = 5, cos = 24/25.
  close(changed.routerRowRelChange, Math.SQRT2 / 5, 'router row change');
  close(changed.routerCosine, 24 / 25, 'router cosine');
  // Whole router of layer 1: ||A||² = 9 + 16 + 1 + 0.
  close(layer1.routerRelChange, Math.SQRT2 / Math.sqrt(26), 'layer 1 router change');
  close(layer1.meanRelChange, 3 / Math.sqrt(10) / 2, 'layer 1 mean');
  for (const x of [layer1.experts[1], ...layer2.experts]) {
    assert.deepEqual([x.relChange, x.routerRowRelChange, x.routerCosine], [0, 0, 1], `expert (${x.layer}, ${x.expert})`);
  }
  assert.deepEqual([layer2.meanRelChange, layer2.routerRelChange], [0, 0]);
  assert.deepEqual(
    diff.ranked.map((x) => [x.layer, x.expert]),
    [[1, 0], [1, 1], [2, 0], [2, 1]],
    'most changed first, then unchanged in model order',
  );
}

describe('diffWeights', () => {
  test('hand-worked case: expert, per-matrix and router changes, router cosine, ranking', () => {
    assertHandWorkedDiff(diffFolders(writeModel('a', weightsA), writeModel('b', weightsB)));
  });

  test('a checkpoint against itself: no change anywhere, cosine 1', () => {
    const a = writeModel('self', weightsA);
    for (const x of diffFolders(a, a).ranked) assert.deepEqual([x.relChange, x.routerRowRelChange, x.routerCosine], [0, 0, 1]);
  });

  test('dtypes compare by value: F32 against BF16 and against block-scaled FP8 give the same numbers', () => {
    // Every value here is exact in BF16 and, halved, in FP8 E4M3.
    assertHandWorkedDiff(diffFolders(writeModel('a32', weightsA), writeModel('b16', weightsB, 'BF16')));
    assertHandWorkedDiff(diffFolders(writeModel('a8', weightsA, 'F8_E4M3'), writeModel('b32', weightsB)));
  });
});

describe('ChangeNorm and cosineSimilarity', () => {
  test('sums over several parts equal the ratio over their concatenation', () => {
    const norm = new ChangeNorm().add([1, 2], [1, 3]).add([2], [0]);
    close(norm.relChange(), Math.sqrt(5 / 9), 'rel change');
    const joined = new ChangeNorm().add([1, 2], [1, 3]).include(new ChangeNorm().add([2], [0]));
    assert.equal(joined.relChange(), norm.relChange());
  });

  test('edge cases: zero stays zero, a change from all zeros is infinite', () => {
    assert.equal(new ChangeNorm().add([0, 0], [0, 0]).relChange(), 0);
    assert.equal(new ChangeNorm().add([0, 0], [0, 1]).relChange(), Infinity);
    assert.equal(cosineSimilarity([0, 0], [0, 0]), 1);
    assert.equal(cosineSimilarity([0, 0], [1, 0]), 0);
    assert.equal(cosineSimilarity([1, 2], [-2, 1]), 0);
    close(cosineSimilarity([1, 1], [-2, -2]), -1, 'opposite rows');
  });
});

describe('checkSameArchitecture', () => {
  function check(dirA: string, dirB: string): void {
    const a = Checkpoint.open(dirA);
    const b = Checkpoint.open(dirB);
    try {
      checkSameArchitecture({ dir: dirA, config: readModelConfig(dirA), checkpoint: a }, { dir: dirB, config: readModelConfig(dirB), checkpoint: b });
    } finally {
      a.close();
      b.close();
    }
  }
  const refused = (pattern: RegExp) => (error: Error & { code?: string }) => error.code === 'diff-architecture' && pattern.test(error.message);
  const a = () => writeModel('arch-a', weightsA);

  test('a config difference is named, the first one in order', () => {
    const b = writeModel('arch-k', weightsB, 'F32', { ...baseConfig, num_experts_per_tok: 2, moe_intermediate_size: 3 });
    assert.throws(() => check(a(), b), refused(/arch-a and .*arch-k differ in architecture: config.json num_experts_per_tok 1 vs 2 \(/));
  });

  test('different layer counts are named before the MoE layers that follow from them', () => {
    const layers2 = Object.fromEntries(Object.entries(weightsA).filter(([name]) => !name.startsWith('model.layers.2.')));
    const b = writeModel('arch-layers', layers2, 'F32', { ...baseConfig, num_hidden_layers: 2 });
    assert.throws(() => check(a(), b), refused(/config.json num_hidden_layers 3 vs 2/));
  });

  test('a tensor shape difference is named with both shapes', () => {
    const transposed = (name: string) => (name === 'model.layers.2.mlp.experts.1.down_proj.weight' ? [1, 2] : shapeOf(name));
    const b = writeModel('arch-shape', weightsB, 'F32', baseConfig, transposed);
    assert.throws(() => check(a(), b), refused(/tensor "model.layers.2.mlp.experts.1.down_proj.weight" shape \[2,1\] vs \[1,2\]/));
  });

  test('a tensor only one side has is named', () => {
    const b = writeModel('arch-extra', { ...weightsB, 'model.norm.weight': [1, 1] });
    assert.throws(() => check(a(), b), refused(/tensor "model.norm.weight" "missing" vs "present"/));
    assert.throws(() => check(b, a()), refused(/tensor "model.norm.weight" "present" vs "missing"/));
  });

  test('other dtypes and FP8 block scales are not differences', () => {
    assert.doesNotThrow(() => check(a(), writeModel('arch-fp8', weightsB, 'F8_E4M3')));
  });
});
