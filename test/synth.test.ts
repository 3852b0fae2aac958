import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Checkpoint } from '../src/loaders/checkpoint.js';
import { parseModelConfig, readModelConfig } from '../src/models/config.js';
import { collectModelInfo } from '../src/info/model-info.js';
import { gate } from '../src/reference/moe-routing.js';
import { route } from '../src/route/route.js';
import { findPreset } from '../src/synth/presets.js';
import { checkpointTensors } from '../src/models/tensor-names.js';
import { parsePerturbation, plannedTensors, synthesize } from '../src/synth/synth.js';
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

  it('refuses up front a checkpoint larger than the free disk space, writing nothing', async (t) => {
    const { bavail, bsize } = fs.statfsSync(dir);
    if (bavail * bsize > 700e9) return t.skip('this disk has room for a whole deepseek-v3');
    const out = path.join(dir, 'v3-full');
    await assert.rejects(synthesize({ preset: 'deepseek-v3', dtype: 'fp8', out }), { code: 'disk-full', message: /preset deepseek-v3 needs 673\.\d GB and .* free \(--layers N writes fewer layers\)/ });
    assert.ok(!fs.existsSync(out));
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('v3-full')), []);
  });

  it('refuses --layers that leaves no MoE layer, naming the first MoE layer, writing nothing', async () => {
    // tiny: layer 0 dense (first_k_dense_replace 1); deepseek-v3: layers 0-2 dense (first_k_dense_replace 3).
    for (const [preset, layers, first] of [['tiny', 1, 1], ['deepseek-v3', 3, 3]] as const) {
      const out = path.join(dir, `no-moe-${preset}`);
      await assert.rejects(synthesize({ preset, layers, out }), {
        code: 'usage-layers',
        message: `invalid --layers: ${layers} leaves no MoE layer (the first MoE layer of preset ${preset} is layer ${first}; use --layers ${first + 1} or more)`,
      });
      assert.ok(!fs.existsSync(out));
    }
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

  it('deepseek-v3 --layers 4 plans the R1 tensor table: FP8 matrices with 128x128 scale_inv, BF16 router, F32 bias', () => {
    const config = parseModelConfig({ ...findPreset('deepseek-v3').config(), num_hidden_layers: 4 }, 'preset');
    const plan = new Map(plannedTensors(config, 'fp8').map((t) => [t.name, t]));
    const fp8 = (name: string, shape: number[], scale: number[]) => {
      const tensor = plan.get(name);
      assert.ok(tensor, `${name} is planned`);
      assert.deepEqual([tensor.shape, tensor.dtype], [shape, 'F8_E4M3'], name);
      assert.deepEqual(tensor.scaleInv, { name: `${name}_scale_inv`, shape: scale, dtype: 'F32' }, name);
    };
    const plain = (name: string, shape: number[], dtype: string) => {
      const tensor = plan.get(name);
      assert.ok(tensor, `${name} is planned`);
      assert.deepEqual([tensor.shape, tensor.dtype, tensor.scaleInv], [shape, dtype, undefined], name);
    };
    // architecture.md 3.2, the V3/R1 table.
    for (let l = 0; l < 4; l++) {
      const a = `model.layers.${l}.self_attn.`;
      fp8(`${a}q_a_proj.weight`, [1536, 7168], [12, 56]);
      fp8(`${a}q_b_proj.weight`, [24576, 1536], [192, 12]);
      fp8(`${a}kv_a_proj_with_mqa.weight`, [576, 7168], [5, 56]);
      fp8(`${a}kv_b_proj.weight`, [32768, 512], [256, 4]);
      fp8(`${a}o_proj.weight`, [7168, 16384], [56, 128]);
      plain(`${a}q_a_layernorm.weight`, [1536], 'BF16');
      plain(`${a}kv_a_layernorm.weight`, [512], 'BF16');
      plain(`model.layers.${l}.input_layernorm.weight`, [7168], 'BF16');
      plain(`model.layers.${l}.post_attention_layernorm.weight`, [7168], 'BF16');
    }
    for (let l = 0; l < 3; l++) {
      fp8(`model.layers.${l}.mlp.gate_proj.weight`, [18432, 7168], [144, 56]);
      fp8(`model.layers.${l}.mlp.up_proj.weight`, [18432, 7168], [144, 56]);
      fp8(`model.layers.${l}.mlp.down_proj.weight`, [7168, 18432], [56, 144]);
    }
    const m = 'model.layers.3.mlp.';
    for (const expert of [...Array.from({ length: 256 }, (_, e) => `experts.${e}.`), 'shared_experts.']) {
      fp8(`${m}${expert}gate_proj.weight`, [2048, 7168], [16, 56]);
      fp8(`${m}${expert}up_proj.weight`, [2048, 7168], [16, 56]);
      fp8(`${m}${expert}down_proj.weight`, [7168, 2048], [56, 16]);
    }
    plain(`${m}gate.weight`, [256, 7168], 'BF16');
    plain(`${m}gate.e_score_correction_bias`, [256], 'F32');
    plain('model.embed_tokens.weight', [129280, 7168], 'BF16');
    plain('model.norm.weight', [7168], 'BF16');
    plain('lm_head.weight', [129280, 7168], 'BF16');
    // Per layer: 5 attention matrices + 2 attention norms + 2 layer norms; dense 3, MoE 257 * 3 + router + bias.
    assert.equal(plan.size, 3 + 4 * 9 + 3 * 3 + (257 * 3 + 2), 'no other tensor, and no MTP layer');
    // Without fp8 the same matrices are BF16 and have no scales; the bias stays F32.
    const bf16 = new Map(plannedTensors(config, 'bf16').map((t) => [t.name, t]));
    assert.deepEqual(bf16.get(`${m}experts.7.down_proj.weight`), { name: `${m}experts.7.down_proj.weight`, shape: [7168, 2048], dtype: 'BF16' });
    assert.equal(bf16.get(`${m}gate.e_score_correction_bias`)!.dtype, 'F32');
  });

  it('deepseek-v2-lite cut to 2 layers plans exactly the V2-Lite names and shapes of architecture.md 3.2', () => {
    const config = parseModelConfig({ ...findPreset('deepseek-v2-lite').config(), num_hidden_layers: 2 }, 'preset');
    const attention = (l: number): Array<[string, number[]]> => [
      [`model.layers.${l}.input_layernorm.weight`, [2048]],
      [`model.layers.${l}.self_attn.q_proj.weight`, [3072, 2048]],
      [`model.layers.${l}.self_attn.kv_a_proj_with_mqa.weight`, [576, 2048]],
      [`model.layers.${l}.self_attn.kv_a_layernorm.weight`, [512]],
      [`model.layers.${l}.self_attn.kv_b_proj.weight`, [4096, 512]],
      [`model.layers.${l}.self_attn.o_proj.weight`, [2048, 2048]],
      [`model.layers.${l}.post_attention_layernorm.weight`, [2048]],
    ];
    const expected: Array<[string, number[]]> = [
      ['model.embed_tokens.weight', [102400, 2048]],
      ...attention(0),
      ['model.layers.0.mlp.gate_proj.weight', [10944, 2048]],
      ['model.layers.0.mlp.up_proj.weight', [10944, 2048]],
      ['model.layers.0.mlp.down_proj.weight', [2048, 10944]],
      ...attention(1),
      ['model.layers.1.mlp.gate.weight', [64, 2048]],
      ...Array.from({ length: 64 }, (_, e): Array<[string, number[]]> => [
        [`model.layers.1.mlp.experts.${e}.gate_proj.weight`, [1408, 2048]],
        [`model.layers.1.mlp.experts.${e}.up_proj.weight`, [1408, 2048]],
        [`model.layers.1.mlp.experts.${e}.down_proj.weight`, [2048, 1408]],
      ]).flat(),
      ['model.layers.1.mlp.shared_experts.gate_proj.weight', [2816, 2048]],
      ['model.layers.1.mlp.shared_experts.up_proj.weight', [2816, 2048]],
      ['model.layers.1.mlp.shared_experts.down_proj.weight', [2048, 2816]],
      ['model.norm.weight', [2048]],
      ['lm_head.weight', [102400, 2048]],
    ];
    assert.deepEqual(plannedTensors(config, 'bf16').map((t) => [t.name, t.shape, t.dtype]), expected.map(([name, shape]) => [name, shape, 'BF16']));
  });

  it('tiny-v3 --dtype fp8 reads back within half an e4m3 step of the f32 checkpoint, with per-block scales', async () => {
    const f32 = path.join(dir, 'v3-f32');
    const fp8 = path.join(dir, 'v3-fp8');
    await synthesize({ preset: 'tiny-v3', out: f32, seed: 3, dtype: 'f32' });
    await synthesize({ preset: 'tiny-v3', out: fp8, seed: 3, dtype: 'fp8' });
    const exact = Checkpoint.open(f32);
    const quantized = Checkpoint.open(fp8);
    try {
      assert.deepEqual(readModelConfig(fp8).fp8BlockSize, [32, 32]);
      assert.ok(quantized.shards.length > 1);
      // Every scale tensor covers its weight in 32x32 blocks: 5 attention matrices per layer, 3 per dense MLP,
      // 3 per routed or shared expert in the 2 MoE layers.
      const scales = quantized.names().filter((n) => n.endsWith('_scale_inv'));
      assert.equal(scales.length, 5 * 5 + 3 * 3 + 2 * (33 * 3));
      for (const name of scales) {
        const [rows, cols] = quantized.info(name.slice(0, -'_scale_inv'.length)).shape;
        assert.deepEqual([quantized.info(name).dtype, quantized.info(name).shape], ['F32', [Math.ceil(rows / 32), Math.ceil(cols / 32)]], name);
      }
      // kv_a [40, 64] ends in a block row of 8; dense down [64, 80] in a block column of 16.
      for (const name of ['model.layers.0.self_attn.kv_a_proj_with_mqa.weight', 'model.layers.1.mlp.down_proj.weight', 'model.layers.4.mlp.experts.9.up_proj.weight']) {
        const info = quantized.info(name);
        assert.equal(info.dtype, 'F8_E4M3', name);
        const [rows, cols] = info.shape;
        const w = exact.readFloat32(name);
        const scale = quantized.readFloat32(`${name}_scale_inv`);
        const blockCols = Math.ceil(cols / 32);
        // Each block's scale is its own amax / 448, partial blocks included.
        for (let bi = 0; bi < Math.ceil(rows / 32); bi++) {
          for (let bj = 0; bj < blockCols; bj++) {
            let amax = 0;
            for (let i = bi * 32; i < Math.min(rows, bi * 32 + 32); i++) for (let j = bj * 32; j < Math.min(cols, bj * 32 + 32); j++) amax = Math.max(amax, Math.abs(w[i * cols + j]));
            assert.equal(scale[bi * blockCols + bj], Math.fround(amax / 448), `${name} block [${bi}, ${bj}]`);
          }
        }
        const read = quantized.readFloat32(name);
        let differs = 0;
        for (let i = 0; i < rows; i++) {
          for (let j = 0; j < cols; j++) {
            const s = scale[Math.floor(i / 32) * blockCols + Math.floor(j / 32)];
            const tolerance = Math.max(2 ** -4 * Math.abs(w[i * cols + j]), s * 2 ** -9) * (1 + 2 ** -20);
            const error = Math.abs(read[i * cols + j] - w[i * cols + j]);
            assert.ok(error <= tolerance, `${name}[${i}, ${j}]: ${read[i * cols + j]} vs ${w[i * cols + j]}`);
            if (error > 0) differs++;
          }
        }
        assert.ok(differs > rows * cols / 2, `${name}: the values really went through fp8`);
      }
      // Router and norms stay BF16; the V3 bias stays F32 and identical.
      assert.equal(quantized.info('model.layers.3.mlp.gate.weight').dtype, 'BF16');
      assert.equal(quantized.info('model.layers.0.self_attn.kv_a_layernorm.weight').dtype, 'BF16');
      assert.deepEqual(quantized.readFloat32('model.layers.3.mlp.gate.e_score_correction_bias'), exact.readFloat32('model.layers.3.mlp.gate.e_score_correction_bias'));
      // The index total counts every tensor's bytes, scales and 1-byte FP8 included.
      const index = JSON.parse(fs.readFileSync(path.join(fp8, 'model.safetensors.index.json'), 'utf8'));
      assert.equal(index.metadata.total_size, quantized.names().reduce((sum, n) => sum + quantized.info(n).byteLength, 0));
      assert.equal(Object.keys(index.weight_map).length, quantized.names().length);
    } finally {
      exact.close();
      quantized.close();
    }
  });

  // Parameters by hand from each preset's description (H 64, V 4096): embedding + lm_head + final norm, then per layer.
  const H = 64, V = 4096;
  const outer = 2 * V * H + H;
  const norms = 2 * H;
  const mlp = (width: number) => 3 * H * width;
  // alwaysF32: tensors stored F32 whatever --dtype, the V3 e_score_correction_bias of each MoE layer.
  const tinyPresets: Array<{ name: string; moe: number[]; total: number; alwaysF32: number }> = [
    // MLA without q LoRA: q [96,64], kv_a [40,64], kv_a norm 32, kv_b [128,32], o [64,64]; 16 experts + 2 shared of 32.
    { name: 'tiny-v2', moe: [1, 2, 3], alwaysF32: 0, total: outer + 4 * (norms + 96 * H + 40 * H + 32 + 128 * 32 + H * H) + mlp(128) + 3 * (16 * H + 16 * mlp(32) + mlp(64)) },
    // MLA with q LoRA 32: q_a [32,64], q_a norm 32, q_b [96,32]; 3 dense layers of 80; 32 experts + 1 shared, bias [32].
    { name: 'tiny-v3', moe: [3, 4], alwaysF32: 2, total: outer + 5 * (norms + 32 * H + 32 + 96 * 32 + 40 * H + 32 + 128 * 32 + H * H) + 3 * mlp(80) + 2 * (32 * H + 32 + 32 * mlp(32) + mlp(32)) },
    // q [64,64], k and v [32,64] (2 kv heads of 16), o [64,64]; 8 experts of 48.
    { name: 'tiny-mixtral', moe: [0, 1, 2, 3], alwaysF32: 0, total: outer + 4 * (norms + 2 * H * H + 2 * 32 * H + 8 * H + 8 * mlp(48)) },
    // q/k/v/o [64,64] with q/k/v biases; layer 0 dense of 96; 16 experts of 32, shared of 64 and its gate [1,64].
    { name: 'tiny-qwen2-moe', moe: [1, 2, 3], alwaysF32: 0, total: outer + 4 * (norms + 4 * H * H + 3 * H) + mlp(96) + 3 * (16 * H + 16 * mlp(32) + mlp(64) + H) },
    // q/k/v/o [64,64], q_norm and k_norm [64]; 16 experts of 32.
    { name: 'tiny-olmoe', moe: [0, 1, 2, 3], alwaysF32: 0, total: outer + 4 * (norms + 4 * H * H + 2 * H + 16 * H + 16 * mlp(32)) },
  ];
  for (const preset of tinyPresets) {
    it(`${preset.name} synthesizes in f32 and bf16, parses, and info counts its parameters`, async () => {
      for (const dtype of ['f32', 'bf16'] as const) {
        const model = path.join(dir, `${preset.name}-${dtype}`);
        const result = await synthesize({ preset: preset.name, out: model, seed: 1, dtype });
        assert.ok(result.shards.length > 1, 'sharded');
        const config = parseModelConfig(JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8')), model);
        // With YaRN, max positions are factor x original as in the releases; 512 otherwise.
        const yarn = config.rope.yarn;
        assert.equal(config.maxPositionEmbeddings, yarn ? yarn.factor * yarn.originalMaxPositionEmbeddings : 512);
        assert.equal(config.raw.quantization_config, undefined, 'only fp8 checkpoints declare a quantization_config');
        const info = collectModelInfo(model);
        assert.deepEqual(info.layers.moe, preset.moe);
        assert.equal(info.parameters.total, preset.total);
        const tensors = checkpointTensors(config).length;
        if (dtype === 'f32') assert.equal(info.dtypes.F32.tensors, tensors);
        else assert.deepEqual([info.dtypes.BF16.tensors, info.dtypes.F32?.tensors ?? 0], [tensors - preset.alwaysF32, preset.alwaysF32]);
      }
    });
  }

  it('tiny-v2 YaRN blends some rope frequencies: low < high at dim 8 with original length 128', () => {
    const config = parseModelConfig(findPreset('tiny-v2').config(), 'preset');
    const yarn = config.rope.yarn!;
    // corr(r) = d ln(L0 / (2 pi r)) / (2 ln theta), architecture.md 4.4.
    const corr = (r: number) => (8 * Math.log(yarn.originalMaxPositionEmbeddings / (2 * Math.PI * r))) / (2 * Math.log(10000));
    const low = Math.max(Math.floor(corr(yarn.betaFast)), 0);
    const high = Math.min(Math.ceil(corr(yarn.betaSlow)), 7);
    assert.deepEqual([low, high], [0, 2]);
    assert.equal(config.maxPositionEmbeddings, 40 * 128);
  });

  // The planted mechanism at the gate: a token's normalised embedding, scored by the planted layer's router.
  for (const name of ['tiny-v3', 'tiny-mixtral', 'tiny-qwen2-moe']) {
    it(`--planted on ${name}: the planted layer's router sends digit and punctuation embeddings to their experts`, async () => {
      const model = path.join(dir, `${name}-planted`);
      const { planted, config } = await synthesize({ preset: name, out: model, seed: 4, dtype: 'bf16', planted: true });
      const vocab: Record<string, number> = JSON.parse(fs.readFileSync(path.join(model, 'tokenizer.json'), 'utf8')).model.vocab;
      const checkpoint = Checkpoint.open(model);
      try {
        const embedding = checkpoint.readFloat32('model.embed_tokens.weight');
        const chosenRate = (layer: number, cls: 'digit' | 'punct' | 'other') => {
          const prefix = config.modelType === 'mixtral' ? `model.layers.${layer}.block_sparse_moe.gate.` : `model.layers.${layer}.mlp.gate.`;
          const router = checkpoint.readFloat32(`${prefix}weight`);
          const bias = config.topkMethod === 'noaux_tc' ? Float64Array.from(checkpoint.readFloat32(`${prefix}e_score_correction_bias`)) : undefined;
          const targets = planted!.experts[cls === 'other' ? 'digit' : cls];
          let hits = 0, n = 0;
          for (const [token, id] of Object.entries(vocab)) {
            if (tokenClass(token) !== cls) continue;
            const x = rmsNormalized(embedding.subarray(id * H, (id + 1) * H));
            const logits = Float64Array.from({ length: config.nRoutedExperts }, (_, e) => x.reduce((sum, v, i) => sum + v * router[e * H + i], 0));
            const { ids } = gate(logits, config, bias);
            n++;
            if (targets.every((e) => ids.includes(e))) hits++;
          }
          assert.ok(n >= 10, `${n} ${cls} tokens in the vocabulary`);
          return hits / n;
        };
        const layer = planted!.fromLayer;
        assert.ok(chosenRate(layer, 'digit') > 0.9, 'digits reach the digit experts');
        assert.ok(chosenRate(layer, 'punct') > 0.9, 'punctuation reaches the punctuation experts');
        // A random token has both of two given experts in its top-K about K(K-1) / (E(E-1)) of the time.
        const chance = (config.topK * (config.topK - 1)) / (config.nRoutedExperts * (config.nRoutedExperts - 1));
        assert.ok(chosenRate(layer, 'other') < 3 * chance, 'other tokens reach the digit experts little more often than by chance');
        assert.ok(chosenRate(layer - 1, 'digit') < 0.5, 'the layer before is not planted');
      } finally {
        checkpoint.close();
      }
    });
  }
});

function tokenClass(token: string): 'digit' | 'punct' | 'other' {
  const text = token.replace(/^Ġ/, '');
  if (/^[0-9]+$/.test(text)) return 'digit';
  if (/^[!-/:-@[-`{-~]+$/.test(text)) return 'punct';
  return 'other';
}

function rmsNormalized(v: Float32Array): Float64Array {
  const rms = Math.sqrt(v.reduce((sum, x) => sum + x * x, 0) / v.length);
  return Float64Array.from(v, (x) => x / rms);
}

