/**
 * `route` does only the work routing needs (issue 13): the last MoE layer's routed and shared experts are
 * neither read nor run, no layer after it runs, and each layer's weights are read once per pass. Reads are
 * counted at the checkpoint, the one door every weight goes through; the routing itself is held to the float64
 * reference by route-parity.test.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Checkpoint } from '../src/loaders/checkpoint.js';
import { moeLayers, parseModelConfig, readModelConfig } from '../src/models/config.js';
import { attentionTensors, expertTensors, ffnTensors } from '../src/models/tensor-names.js';
import { route, type Timing } from '../src/route/route.js';
import { ffnKindOf, layersToRun } from '../src/runtime/layer-weights.js';
import { synthesize } from '../src/synth/synth.js';
import { parityPrompts } from './helpers/route-parity.js';
import { tempDir } from './helpers/safetensors-bytes.js';

let dir: string;
before(() => {
  dir = tempDir('needed-work');
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Routes the parity prompts, counting every tensor read for the graphs and every layer run. */
async function routeCounting(preset: string, options: { weightBudgetBytes?: number; activationBudgetBytes?: number; expertBudgetBytes?: number }) {
  const model = path.join(dir, preset);
  if (!fs.existsSync(model)) await synthesize({ preset, out: model, seed: 3, dtype: 'bf16' });
  const prompts = path.join(dir, 'prompts.txt');
  fs.writeFileSync(prompts, parityPrompts.join('\n'));
  const reads = new Map<string, number>();
  const original = Checkpoint.prototype.stored;
  Checkpoint.prototype.stored = function (this: Checkpoint, name: string) {
    reads.set(name, (reads.get(name) ?? 0) + 1);
    return original.call(this, name);
  };
  const runs: Array<Extract<Timing, { phase: 'run' }>> = [];
  try {
    await route({ prompts, model, out: path.join(dir, `${preset}-${reads.size}-${Math.random()}.safetensors`), device: 'cpu', batchTokens: 40, ...options, onTiming: (t) => t.phase === 'run' && runs.push(t) });
  } finally {
    Checkpoint.prototype.stored = original;
  }
  return { config: readModelConfig(model), reads, runs };
}

describe('route runs only what routing needs', () => {
  it('reads neither the routed nor the shared experts of the last MoE layer, and reads each layer once per pass', async () => {
    // One layer at a time, in passes of at most 30 tokens (the activation budget of 30 hidden states of width 64).
    const { config, reads, runs } = await routeCounting('tiny', { weightBudgetBytes: 0, activationBudgetBytes: 4 * 64 * 30 });
    const passes = runs.filter((r) => r.layer === 0).length;
    assert.ok(passes >= 2, `${passes} passes`);
    const last = moeLayers(config).at(-1)!;
    const expertNames = Array.from({ length: config.nRoutedExperts }, (_, e) => expertTensors(config, last, e).map((t) => t.name)).flat();
    for (const name of expertNames) assert.equal(reads.get(name), undefined, `${name} was read`);
    const lastFfn = ffnTensors(config, last).map((t) => t.name);
    for (const name of lastFfn.filter((n) => n.includes('shared'))) assert.equal(reads.get(name), undefined, `${name} was read`);
    assert.ok(lastFfn.some((n) => reads.get(n) === passes), 'the last MoE layer router is read once per pass');
    // Every other layer: every graph input read exactly once per pass.
    for (let l = 0; l < last; l++) {
      for (const tensor of [...attentionTensors(config, l), ...ffnTensors(config, l)]) assert.equal(reads.get(tensor.name), passes, `${tensor.name}`);
      if (config.layerKinds[l] === 'moe') assert.equal(reads.get(expertTensors(config, l, 0)[0].name), passes);
    }
    assert.deepEqual([...new Set(runs.map((r) => r.layer))], Array.from({ length: last + 1 }, (_, l) => l));
  });

  it('streams the experts of earlier MoE layers, but not those of the last', async () => {
    const { config, reads, runs } = await routeCounting('tiny', { expertBudgetBytes: 0 });
    const passes = runs.filter((r) => r.layer === 0).length;
    const [first, last] = [moeLayers(config)[0], moeLayers(config).at(-1)!];
    // Streamed experts are read once per pass, like every other weight (and only if some token chose them).
    assert.equal(reads.get(expertTensors(config, first, 0)[2].name), passes);
    assert.equal(reads.get(expertTensors(config, last, 0)[2].name), undefined);
  });

  it('stops at the last MoE layer: later dense layers are not run', () => {
    // Qwen2-MoE with its last layer dense (mlp_only_layers): layers 1 and 2 are MoE, layer 3 is not run.
    const config = parseModelConfig(
      {
        model_type: 'qwen2_moe', hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 4, num_hidden_layers: 4, vocab_size: 300,
        intermediate_size: 96, moe_intermediate_size: 32, shared_expert_intermediate_size: 64, num_experts: 16, num_experts_per_tok: 4,
        decoder_sparse_step: 1, mlp_only_layers: [0, 3], max_position_embeddings: 512, rope_theta: 1e6, rms_norm_eps: 1e-6,
      },
      'config.json',
    );
    assert.equal(layersToRun(config), 3);
    const kindOf = ffnKindOf(config, Infinity);
    assert.deepEqual([0, 1, 2].map(kindOf), ['dense', 'moe', 'router']);
  });
});
