/**
 * Domain specialization's shuffled-label baseline (analyses.md, "Honest small samples"): the mean mutual
 * information over 20 seeded shuffles of the labels among the labelled prompts. Near zero when labels are
 * random by construction; far below the real value on a planted labelling, whose real value is known exactly.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { analyseTrace } from '../src/analysis/analyse.js';
import { shuffledPromptLabels } from '../src/analysis/figures/domain.js';
import { openTrace, writeTrace } from '../src/trace.js';
import { seededRandom, tempDir } from './helpers/safetensors-bytes.js';

const dir = tempDir('domain-shuffled');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const prompts = 80;
const tokensPerPrompt = 25;
const E = 8;
const K = 2;

/** Two distinct experts of `pool`, uniformly. */
function pick(random: () => number, pool: number[]): number[] {
  const first = pool[Math.floor(random() * pool.length)];
  const rest = pool.filter((e) => e !== first);
  return [first, rest[Math.floor(random() * rest.length)]];
}

/** Labels 0/1 per prompt, with unlabelled prompts (-1) mixed in; `planted`: label 0 routes to experts 0-3, label 1 to 4-7. */
async function analyse(name: string, planted: boolean, seed: number, shuffleSeed?: number) {
  const random = seededRandom(seed);
  const labels = Int32Array.from({ length: prompts }, (_, p) => (p % 10 === 9 ? -1 : Math.floor(random() * 2)));
  const ids: number[] = [];
  for (let p = 0; p < prompts; p++) {
    for (let t = 0; t < tokensPerPrompt; t++) {
      const pool = planted && labels[p] >= 0 ? [0, 1, 2, 3].map((e) => e + 4 * labels[p]) : [0, 1, 2, 3, 4, 5, 6, 7];
      ids.push(...pick(random, pool));
    }
  }
  const file = path.join(dir, name);
  writeTrace(file, {
    metadata: { model_type: 'deepseek', n_routed_experts: E, num_experts_per_tok: K, model_config: '{}', model_dir: 'test', labels: ['a', 'b'], source: 'route' },
    layers: [1],
    tokenIds: Int32Array.from({ length: prompts * tokensPerPrompt }, (_, t) => t % 50),
    promptOffsets: Array.from({ length: prompts + 1 }, (_, p) => p * tokensPerPrompt),
    topkIds: [Int32Array.from(ids)],
    promptLabels: labels,
  });
  const trace = openTrace(file);
  try {
    const domain = (await analyseTrace(trace, { name, seed: shuffleSeed })).figures.domain!;
    return { labels, real: domain.perLayer[0]!, shuffled: domain.shuffledMutualInformation[0]! };
  } finally {
    trace.close();
  }
}

describe('shuffled-label mutual information', () => {
  test('labels random by construction: the real and the shuffled value are both near zero', async () => {
    const { real, shuffled } = await analyse('random.trace.safetensors', false, 1);
    assert.ok(shuffled < 0.01, `shuffled ${shuffled} bits`);
    assert.ok(real.mutualInformation < 0.01, `real ${real.mutualInformation} bits`);
  });

  test('a planted labelling: the real value is the label entropy (each label has experts of its own), the shuffled one near zero', async () => {
    const { labels, real, shuffled } = await analyse('planted.trace.safetensors', true, 2);
    const labelled = Array.from(labels).filter((l) => l >= 0);
    const p = labelled.filter((l) => l === 0).length / labelled.length;
    const entropy = -(p * Math.log2(p) + (1 - p) * Math.log2(1 - p));
    assert.ok(Math.abs(real.mutualInformation - entropy) < 1e-12, `real ${real.mutualInformation} vs H(label) ${entropy}`);
    assert.ok(shuffled < 0.05, `shuffled ${shuffled} bits`);
  });

  test('report --seed: the same seed gives the same baseline, another seed another', async () => {
    const first = (await analyse('seeded.trace.safetensors', false, 3, 7)).shuffled;
    assert.equal((await analyse('seeded.trace.safetensors', false, 3, 7)).shuffled, first);
    assert.notEqual((await analyse('seeded.trace.safetensors', false, 3, 8)).shuffled, first);
  });

  test('shuffles permute labels among the labelled prompts only, reproducibly', () => {
    const labels = Int32Array.of(0, -1, 1, 1, -1, 0, 2);
    const shuffles = shuffledPromptLabels(labels, 4);
    assert.equal(shuffles.length, 20);
    for (const shuffled of shuffles) {
      assert.deepEqual([shuffled[1], shuffled[4]], [-1, -1]);
      assert.deepEqual(Array.from(shuffled).filter((l) => l >= 0).sort(), [0, 0, 1, 1, 2]);
    }
    assert.deepEqual(shuffledPromptLabels(labels, 4), shuffles);
  });
});
