import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Checkpoint } from '../src/loaders/checkpoint.js';
import { parseModelConfig } from '../src/models/config.js';
import { collectModelInfo } from '../src/models/model-info.js';
import { route } from '../src/route/route.js';
import { findPreset } from '../src/synth/presets.js';
import { checkpointTensors } from '../src/models/tensor-names.js';
import { parsePerturbation, synthesize } from '../src/synth/synth.js';
import { openTrace } from '../src/trace.js';
import { repoRoot } from './helpers/cli.js';
import { tempDir } from './helpers/safetensors-bytes.js';

describe('synth', () => {
  let dir: string;
  before(() => {
    dir = tempDir('synth');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('deepseek-moe-16b has exactly the tensor names and shards layout of the released index', () => {
    const index = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'test', 'fixtures', 'deepseek-moe-16b-base.model.safetensors.index.json'), 'utf8'));
    const config = parseModelConfig(findPreset('deepseek-moe-16b').config(), 'preset');
    const names = checkpointTensors(config).map((t) => t.name);
    assert.deepEqual([...names].sort(), Object.keys(index.weight_map).sort());
    // 16.4 B parameters at the real widths: the released total_size is their bf16 bytes.
    const params = checkpointTensors(config).reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1), 0);
    assert.equal(params * 2, index.metadata.total_size);
  });

  it('writes a sharded checkpoint whose tensors are seeded per name, so --layers keeps the other tensors', async () => {
    const full = path.join(dir, 'full');
    const cut = path.join(dir, 'cut');
    await synthesize({ preset: 'tiny', out: full, seed: 5, dtype: 'f32' });
    await synthesize({ preset: 'tiny', out: cut, seed: 5, dtype: 'f32', layers: 2 });
    assert.ok(fs.existsSync(path.join(full, 'model.safetensors.index.json')));
    const a = Checkpoint.open(full);
    const b = Checkpoint.open(cut);
    assert.ok(a.shards.length > 1);
    assert.equal(b.has('model.layers.2.input_layernorm.weight'), false);
    for (const name of b.names()) assert.deepEqual(b.readFloat32(name), a.readFloat32(name), name);
    a.close();
    b.close();
  });

  it('--perturb multiplies exactly that expert\'s three matrices', async () => {
    const base = path.join(dir, 'base');
    const perturbed = path.join(dir, 'perturbed');
    await synthesize({ preset: 'tiny', out: base, seed: 9, dtype: 'f32' });
    await synthesize({ preset: 'tiny', out: perturbed, seed: 9, dtype: 'f32', perturb: [parsePerturbation('2:5:1.5')] });
    const a = Checkpoint.open(base);
    const b = Checkpoint.open(perturbed);
    const scaled = new Set(['gate', 'up', 'down'].map((m) => `model.layers.2.mlp.experts.5.${m}_proj.weight`));
    for (const name of a.names()) {
      const x = a.readFloat32(name);
      const y = b.readFloat32(name);
      const expected = scaled.has(name) ? x.map((v) => Math.fround(v * 1.5)) : x;
      assert.deepEqual(y, expected, name);
    }
    a.close();
    b.close();
    assert.throws(() => parsePerturbation('2:5'), /LAYER:EXPERT:SCALE/);
    await assert.rejects(synthesize({ preset: 'tiny', out: path.join(dir, 'x'), perturb: [parsePerturbation('0:1:2')] }), /not a MoE layer/);
  });

  it('refuses to overwrite a non-empty folder without --force', async () => {
    const out = path.join(dir, 'occupied');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'keep.txt'), 'x');
    await assert.rejects(synthesize({ preset: 'tiny', out }), /not empty/);
    assert.ok(fs.existsSync(path.join(out, 'keep.txt')));
  });

  it('info counts parameters from the headers: total, and active per token with K of E routed experts', async () => {
    const model = path.join(dir, 'info');
    await synthesize({ preset: 'tiny', out: model, dtype: 'bf16' });
    const info = collectModelInfo(model);
    // tiny: H 64, V 4096, 4 layers (layer 0 dense with I 128), 16 experts of width 32, 2 shared, top-4.
    const H = 64, V = 4096, I = 128, Im = 32, E = 16, Ns = 2, K = 4;
    const attention = 4 * H * H + 2 * H;
    const dense = 3 * H * I;
    const expert = 3 * H * Im;
    const moe = E * H + E * expert + 3 * H * Ns * Im;
    const total = 2 * V * H + H + 4 * attention + dense + 3 * moe;
    assert.equal(info.parameters.total, total);
    assert.equal(info.parameters.activePerToken, total - 3 * (E - K) * expert);
    assert.deepEqual(info.layers.moe, [1, 2, 3]);
    assert.deepEqual(Object.keys(info.dtypes), ['BF16']);
  });

  it('--planted routes digit and punctuation tokens to their experts from the planted layer on', async () => {
    const model = path.join(dir, 'planted');
    const result = await synthesize({ preset: 'tiny', out: model, seed: 11, dtype: 'bf16', planted: true });
    const planted = result.planted!;
    const out = path.join(dir, 'planted.trace.safetensors');
    await route({ prompts: path.join(repoRoot(), 'assets', 'prompts', 'demo.txt'), model, out, device: 'cpu' });
    const trace = openTrace(out);
    const ids = trace.readTopkIds(0, trace.nTokens);
    const { k: K } = trace;
    const L = trace.layers.length;
    const classOf = (t: number) => {
      const text = trace.tokenText(t).trim();
      if (/^[0-9]+$/.test(text)) return 'digit';
      if (/^[!-/:-@[-`{-~]+$/.test(text)) return 'punct';
      return text ? 'other' : 'special';
    };
    for (const [slot, layer] of trace.layers.entries()) {
      const share: Record<string, { hit: number; n: number }> = {};
      for (let t = 0; t < trace.nTokens; t++) {
        const cls = classOf(t);
        if (cls === 'special') continue;
        const chosen = new Set(ids.subarray((t * L + slot) * K, (t * L + slot + 1) * K));
        const targets = cls === 'other' ? planted.experts.digit : planted.experts[cls as 'digit' | 'punct'];
        const entry = (share[cls] ??= { hit: 0, n: 0 });
        entry.n++;
        if (targets.every((e) => chosen.has(e))) entry.hit++;
      }
      const rate = (cls: string) => share[cls].hit / share[cls].n;
      assert.ok(share.digit.n > 50 && share.punct.n > 50, 'the demo prompts have digits and punctuation');
      if (layer >= planted.fromLayer) {
        assert.ok(rate('digit') > 0.9, `layer ${layer}: digits reach experts ${planted.experts.digit} at rate ${rate('digit')}`);
        assert.ok(rate('punct') > 0.9, `layer ${layer}: punctuation reaches experts ${planted.experts.punct} at rate ${rate('punct')}`);
        assert.ok(rate('other') < 0.1, `layer ${layer}: other tokens reach the digit experts at rate ${rate('other')}`);
      } else {
        assert.ok(rate('digit') < 0.5, `layer ${layer} is before the planted layer, digit rate ${rate('digit')}`);
      }
    }
    trace.close();
  });
});
