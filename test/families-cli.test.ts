/**
 * The newer families used as a user would: `synth`, `info`, `route` and `report` from the command line on
 * DeepSeek-V3 (FP8) and Mixtral (SentencePiece tokenizer) presets.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeSafetensors } from '../src/loaders/safetensors-writer.js';
import { openTrace } from '../src/trace.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/safetensors-bytes.js';

const prompts = [
  'The bank of the river was muddy after the storm.',
  'Revenue grew 14.5% to $3,210,000 in 2023!',
  '  Two leading spaces, a tab\tand café ☕ with €5.',
  'SELECT name, COUNT(*) FROM users;',
];

describe('newer families from the command line', () => {
  let dir: string;
  let promptsFile: string;
  before(() => {
    dir = tempDir('families-cli');
    promptsFile = path.join(dir, 'prompts.txt');
    fs.writeFileSync(promptsFile, prompts.join('\n'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const ok = (args: string[]) => {
    const result = runCli(args);
    assert.equal(result.code, 0, `moe-inspect ${args.join(' ')}: ${result.stderr}`);
    return result;
  };

  it('tiny-v3 in FP8: info shows MLA, YaRN, the bias-steered group router and the FP8 blocks', () => {
    const model = path.join(dir, 'v3');
    ok(['synth', '--preset', 'tiny-v3', '--dtype', 'fp8', '--out', model]);
    const config = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8'));
    const info = JSON.parse(ok(['info', model, '--json']).stdout);
    assert.equal(info.attention.kind, 'mla');
    assert.equal(info.attention.qLoraRank, config.q_lora_rank);
    assert.equal(info.attention.kvLoraRank, config.kv_lora_rank);
    assert.equal(info.attention.rope.interleaved, true);
    // architecture.md 4.4: (dn + dr)^-1/2 · (0.1 · mscale_all_dim · ln(factor) + 1)^2
    const mscale = 0.1 * config.rope_scaling.mscale_all_dim * Math.log(config.rope_scaling.factor) + 1;
    assert.ok(Math.abs(info.attention.softmaxScale - (mscale * mscale) / Math.sqrt(config.qk_nope_head_dim + config.qk_rope_head_dim)) < 1e-12);
    assert.deepEqual([info.routing.method, info.routing.groups, info.routing.topkGroup, info.routing.selectionBias], ['noaux_tc', config.n_group, config.topk_group, true]);
    assert.deepEqual(info.fp8BlockSize, config.quantization_config.weight_block_size);
    assert.ok(info.dtypes.F8_E4M3.tensors > 0 && info.dtypes.F32.tensors > 0);

    const text = ok(['info', model]).stdout;
    assert.match(text, /multi-head latent attention: 4 heads, q_lora_rank 32, kv_lora_rank 32/);
    assert.match(text, /YaRN x40/);
    assert.match(text, /sigmoid scores, \+ fp32 e_score_correction_bias for selection only, best 4 of 8 groups/);
    assert.match(text, /FP8 e4m3 weights, scale_inv per 32x32 block/);
  });

  it('tiny-v3: route then report, and no token is routed outside topk_group groups', () => {
    const model = path.join(dir, 'v3');
    const trace = path.join(dir, 'v3.trace.safetensors');
    ok(['route', promptsFile, '--model', model, '--out', trace]);
    const summaryFile = path.join(dir, 'v3-summary.json');
    ok(['report', trace, '--out', path.join(dir, 'v3.html'), '--json', summaryFile]);
    const summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8'));
    assert.deepEqual(summary.per_layer.map((row: { layer: number }) => row.layer), [3, 4]);
    for (const row of summary.per_layer) assert.ok(row.groups_per_token <= 4, `layer ${row.layer}: ${row.groups_per_token} groups per token`);
  });

  it('tiny-v3 with an MTP layer after num_hidden_layers: info counts it apart, route leaves it alone', () => {
    const model = path.join(dir, 'v3-mtp');
    fs.cpSync(path.join(dir, 'v3'), model, { recursive: true });
    // Layer 5 is one past num_hidden_layers, as model.layers.61 is in the V3/R1 releases (architecture.md 3.2).
    const mtp = [
      { name: 'model.layers.5.enorm.weight', dtype: 'BF16' as const, shape: [64], data: new Uint16Array(64).fill(0x3f80) },
      { name: 'model.layers.5.eh_proj.weight', dtype: 'BF16' as const, shape: [64, 128], data: new Uint16Array(64 * 128).fill(0x7fc0) },
    ];
    writeSafetensors(path.join(model, 'model-mtp.safetensors'), mtp);
    const indexPath = path.join(model, 'model.safetensors.index.json');
    const index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
    for (const tensor of mtp) index.weight_map[tensor.name] = 'model-mtp.safetensors';
    fs.writeFileSync(indexPath, JSON.stringify(index));

    const before = JSON.parse(ok(['info', path.join(dir, 'v3'), '--json']).stdout);
    const info = JSON.parse(ok(['info', model, '--json']).stdout);
    assert.equal(info.parameters.notRun, 64 + 64 * 128);
    assert.equal(info.parameters.total, before.parameters.total);
    assert.equal(info.parameters.activePerToken, before.parameters.activePerToken);
    assert.match(ok(['info', model]).stdout, /parameters, not run.*layers past num_hidden_layers 5 \(the MTP layer\)/);
    // eh_proj is all NaN: any use of it would poison the routing, so identical traces show it is not read.
    const [a, b] = [path.join(dir, 'v3-a.trace.safetensors'), path.join(dir, 'v3-b.trace.safetensors')];
    ok(['route', promptsFile, '--model', path.join(dir, 'v3'), '--out', a]);
    ok(['route', promptsFile, '--model', model, '--out', b]);
    const [ta, tb] = [openTrace(a), openTrace(b)];
    try {
      assert.deepEqual(tb.readTopkIds(0, tb.nTokens), ta.readTopkIds(0, ta.nTokens));
      assert.deepEqual(tb.readTopkWeights(0, tb.nTokens), ta.readTopkWeights(0, ta.nTokens));
    } finally {
      ta.close();
      tb.close();
    }
  });

  it('tiny-mixtral: routed through its SentencePiece tokenizer, every prompt byte is covered by its tokens', () => {
    const model = path.join(dir, 'mixtral');
    ok(['synth', '--preset', 'tiny-mixtral', '--out', model]);
    assert.match(ok(['info', model]).stdout, /grouped-query, 2 kv heads/);
    const out = path.join(dir, 'mixtral.trace.safetensors');
    ok(['route', promptsFile, '--model', model, '--out', out]);
    const trace = openTrace(out);
    try {
      assert.equal(trace.modelType, 'mixtral');
      for (let p = 0; p < trace.nPrompts; p++) {
        let text = '';
        for (let t = trace.promptOffsets[p]; t < trace.promptOffsets[p + 1]; t++) text += trace.tokenText(t);
        assert.equal(text, prompts[p], `prompt ${p}`);
      }
    } finally {
      trace.close();
    }
  });

  it('a V3 checkpoint with a wrong shape, a missing scale or a missing weight is refused before any routing, in one line', () => {
    const model = path.join(dir, 'v3-broken');
    fs.cpSync(path.join(dir, 'v3'), model, { recursive: true });
    const indexPath = path.join(model, 'model.safetensors.index.json');
    const drop = (tensor: string) => {
      const index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
      delete index.weight_map[tensor];
      fs.writeFileSync(indexPath, JSON.stringify(index));
    };
    const out = path.join(dir, 'v3-broken.trace.safetensors');
    const refused = (pattern: RegExp) => {
      const result = runCli(['route', promptsFile, '--model', model, '--out', out]);
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, pattern);
      assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('v3-broken.trace')), [], 'no output, no work folder');
    };
    const configPath = path.join(model, 'config.json');
    const config = fs.readFileSync(configPath, 'utf8');
    fs.writeFileSync(configPath, JSON.stringify({ ...JSON.parse(config), moe_intermediate_size: 48 }));
    refused(/tensor "model\.layers\.3\.mlp\.experts\.0\.gate_proj\.weight" has shape \[32,64\], config\.json implies \[48,64\]/);
    fs.writeFileSync(configPath, config);
    drop('model.layers.4.mlp.experts.7.up_proj.weight_scale_inv');
    refused(/tensor "model\.layers\.4\.mlp\.experts\.7\.up_proj\.weight" is FP8 but its "model\.layers\.4\.mlp\.experts\.7\.up_proj\.weight_scale_inv" is missing/);
    drop('model.layers.4.mlp.experts.7.up_proj.weight');
    refused(/v3-broken: checkpoint has no tensor "model\.layers\.4\.mlp\.experts\.7\.up_proj\.weight" \(layer 4 as config\.json describes it\)/);
  });

  it('an architecture it does not know is refused in one line naming config.json', () => {
    const model = path.join(dir, 'llama');
    fs.mkdirSync(model);
    fs.writeFileSync(path.join(model, 'config.json'), JSON.stringify({ model_type: 'llama', hidden_size: 64 }));
    const result = runCli(['route', promptsFile, '--model', model, '--out', path.join(dir, 'llama.trace.safetensors')]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^moe-inspect: .*llama\/config\.json: unknown model_type "llama" \(supported: deepseek, deepseek_v2, deepseek_v3, mixtral, qwen2_moe, olmoe\)\n$/);
  });
});
