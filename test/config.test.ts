/**
 * parseModelConfig against the released DeepSeek configs (architecture.md section 2) and hand-written small
 * configs of the other families (section 6): the fields the forward pass and the router read, and the one-line
 * errors for configs the tool does not support.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { assetPath } from '../src/assets.js';
import { InputError } from '../src/errors.js';
import { parseModelConfig, type MhaAttention, type MlaAttention, type ModelConfig } from '../src/models/config.js';
import { findPreset } from '../src/synth/presets.js';

function presetRaw(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(assetPath('presets', file), 'utf8'));
}

const mla = (config: ModelConfig) => config.attention as MlaAttention;
const mha = (config: ModelConfig) => config.attention as MhaAttention;
const kinds = (dense: number[], total: number) => Array.from({ length: total }, (_, l) => (dense.includes(l) ? 'dense' : 'moe'));

describe('parseModelConfig: released DeepSeek configs', () => {
  it('reads DeepSeek-R1 (V3 architecture): MLA with q LoRA, sigmoid noaux_tc gate, YaRN, FP8 blocks', () => {
    const config = parseModelConfig(presetRaw('DeepSeek-R1.config.json'), 'DeepSeek-R1.config.json');
    assert.equal(config.modelType, 'deepseek_v3');
    const { softmaxScale, ...shape } = mla(config);
    assert.deepEqual(shape, { kind: 'mla', numHeads: 128, qLoraRank: 1536, kvLoraRank: 512, qkNopeHeadDim: 128, qkRopeHeadDim: 64, vHeadDim: 128 });
    assert.ok(Math.abs(softmaxScale - 0.135234) < 1e-6);
    assert.equal(config.scoringFunc, 'sigmoid');
    assert.equal(config.topkMethod, 'noaux_tc');
    assert.equal(config.nGroup, 8);
    assert.equal(config.topkGroup, 4);
    assert.equal(config.topK, 8);
    assert.equal(config.routedScalingFactor, 2.5);
    assert.equal(config.normTopkProb, true);
    assert.equal(config.numLayers, 61);
    assert.deepEqual(config.layerKinds, kinds([0, 1, 2], 61));
    assert.deepEqual(config.fp8BlockSize, [128, 128]);
    assert.equal(config.sharedIntermediateSize, 2048);
    assert.equal(config.sharedExpertGate, false);
    assert.deepEqual(config.rope, {
      dim: 64,
      theta: 10000,
      interleaved: true,
      yarn: { factor: 40, originalMaxPositionEmbeddings: 4096, betaFast: 32, betaSlow: 1, mscale: 1, mscaleAllDim: 1 },
    });
  });

  it('reads DeepSeek-V2-Lite: q straight from q_proj, greedy softmax gate, YaRN mscale 0.707', () => {
    const config = parseModelConfig(presetRaw('DeepSeek-V2-Lite.config.json'), 'DeepSeek-V2-Lite.config.json');
    assert.equal(mla(config).qLoraRank, null);
    assert.equal(mla(config).kvLoraRank, 512);
    assert.equal(config.topkMethod, 'greedy');
    assert.equal(config.scoringFunc, 'softmax');
    assert.equal(config.normTopkProb, false);
    assert.equal(config.rope.yarn?.mscale, 0.707);
    assert.equal(config.rope.yarn?.mscaleAllDim, 0.707);
    assert.deepEqual(config.layerKinds, kinds([0], 27));
    assert.equal(config.sharedIntermediateSize, 2 * 1408);
    assert.equal(config.fp8BlockSize, null);
  });

  it('derives the softmax scale: (dn + dr)^-1/2 · g(40, mscale_all_dim)² for MLA, 1/sqrt(head dim) otherwise', () => {
    // The values architecture.md 4.4 states for V3/R1 and V2/V2-Lite.
    assert.ok(Math.abs(mla(parseModelConfig(presetRaw('DeepSeek-R1.config.json'), 'r1')).softmaxScale - 0.135234) < 1e-6);
    assert.ok(Math.abs(mla(parseModelConfig(presetRaw('DeepSeek-V2-Lite.config.json'), 'v2-lite')).softmaxScale - 0.114721) < 1e-6);
    assert.equal(mha(parseModelConfig(presetRaw('deepseek-moe-16b-base.config.json'), 'v1')).softmaxScale, 1 / Math.sqrt(128));
    // The tiny synthetic V1: H = 64 over 4 heads.
    assert.equal(mha(parseModelConfig(findPreset('tiny').config(), 'tiny')).softmaxScale, 1 / Math.sqrt(16));
  });
});

const mixtralRaw = () => ({
  model_type: 'mixtral',
  hidden_size: 32,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 64,
  num_local_experts: 8,
  num_experts_per_tok: 2,
  max_position_embeddings: 32768,
  sliding_window: 4096,
  rope_theta: 1e6,
  rms_norm_eps: 1e-5,
  vocab_size: 100,
});

const qwenRaw = () => ({
  model_type: 'qwen2_moe',
  hidden_size: 32,
  num_hidden_layers: 6,
  num_attention_heads: 4,
  num_key_value_heads: 4,
  intermediate_size: 96,
  moe_intermediate_size: 16,
  shared_expert_intermediate_size: 48,
  num_experts: 8,
  num_experts_per_tok: 2,
  decoder_sparse_step: 2,
  mlp_only_layers: [3],
  norm_topk_prob: false,
  max_position_embeddings: 8192,
  use_sliding_window: false,
  sliding_window: 1024,
  vocab_size: 100,
});

const olmoeRaw = () => ({
  model_type: 'olmoe',
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 4,
  intermediate_size: 16,
  num_experts: 8,
  num_experts_per_tok: 4,
  max_position_embeddings: 4096,
  vocab_size: 100,
});

describe('parseModelConfig: Mixtral, Qwen2-MoE, OLMoE', () => {
  it('Mixtral: num_local_experts, every layer MoE, always renormalised, no shared expert, the window caps the prompt', () => {
    const config = parseModelConfig({ ...mixtralRaw(), norm_topk_prob: false }, 'mixtral');
    assert.equal(config.nRoutedExperts, 8);
    assert.equal(config.normTopkProb, true);
    assert.deepEqual(config.layerKinds, ['moe', 'moe', 'moe']);
    assert.equal(config.moeIntermediateSize, 64);
    assert.equal(config.sharedIntermediateSize, 0);
    assert.equal(config.maxPositionEmbeddings, 4096);
    assert.deepEqual({ ...mha(config) }, { kind: 'mha', numHeads: 4, numKvHeads: 2, headDim: 8, qkvBias: false, qkNorm: false, softmaxScale: 1 / Math.sqrt(8) });
    assert.deepEqual(config.rope, { dim: 8, theta: 1e6, interleaved: false, yarn: null });
    assert.equal(parseModelConfig({ ...mixtralRaw(), sliding_window: null }, 'mixtral').maxPositionEmbeddings, 32768);
  });

  it('Qwen2-MoE: decoder_sparse_step and mlp_only_layers pick the MoE layers; gated shared expert; q/k/v biases', () => {
    const config = parseModelConfig(qwenRaw(), 'qwen');
    // Sparse iff (l + 1) % 2 == 0 and l not in [3]: layers 1 and 5.
    assert.deepEqual(config.layerKinds, ['dense', 'moe', 'dense', 'dense', 'dense', 'moe']);
    assert.equal(config.sharedIntermediateSize, 48);
    assert.equal(config.sharedExpertGate, true);
    assert.equal(config.moeIntermediateSize, 16);
    assert.equal(config.intermediateSize, 96);
    assert.equal(mha(config).qkvBias, true);
    assert.equal(mha(config).qkNorm, false);
    // use_sliding_window false: the window does not apply.
    assert.equal(config.maxPositionEmbeddings, 8192);
  });

  it('OLMoE: q/k norms, no biases, no shared expert', () => {
    const config = parseModelConfig(olmoeRaw(), 'olmoe');
    assert.equal(mha(config).qkNorm, true);
    assert.equal(mha(config).qkvBias, false);
    assert.equal(config.nRoutedExperts, 8);
    assert.equal(config.sharedIntermediateSize, 0);
    assert.equal(config.rope.theta, 10000);
    assert.deepEqual(config.layerKinds, ['moe', 'moe']);
  });
});

describe('parseModelConfig: refusals are one line naming the source', () => {
  const refuses = (raw: Record<string, unknown>, problem: RegExp) => {
    const source = '/models/m/config.json';
    assert.throws(
      () => parseModelConfig(raw, source),
      (error: unknown) => {
        assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
        assert.ok(error.message.startsWith(`${source}: `), error.message);
        assert.ok(!error.message.includes('\n'), error.message);
        assert.match(error.message, problem);
        return true;
      },
    );
  };
  const r1 = () => presetRaw('DeepSeek-R1.config.json');

  it('unknown model_type', () => refuses({ ...mixtralRaw(), model_type: 'llama' }, /unknown model_type "llama"/));
  it('noaux_tc with softmax scoring', () => refuses({ ...r1(), scoring_func: 'softmax' }, /noaux_tc needs scoring_func sigmoid/));
  it('topk_group above n_group', () => refuses({ ...r1(), topk_group: 9 }, /topk_group 9 must be between 1 and n_group 8/));
  it('clip_qkv set', () => refuses({ ...olmoeRaw(), clip_qkv: 8 }, /clip_qkv 8 is not supported/));
  it('rope_scaling of another type', () => refuses({ ...r1(), rope_scaling: { type: 'linear', factor: 2 } }, /rope_scaling type "linear" is not supported/));
  it('attention_bias true in deepseek_v3', () => refuses({ ...r1(), attention_bias: true }, /attention_bias true is not part of the deepseek_v3 architecture/));
  it('a quantization other than block FP8', () => refuses({ ...r1(), quantization_config: { quant_method: 'gptq', bits: 4 } }, /quant_method "gptq" is not supported/));
  it('sigmoid scoring for DeepSeekMoE v1', () => refuses({ ...findPreset('tiny').config(), scoring_func: 'sigmoid' }, /scoring_func sigmoid is not supported by model_type "deepseek"/));
});

describe('parseModelConfig: defaults of the code each family runs with', () => {
  it('a transformers v5 native DeepSeek-V3 config (no gate fields, rope_parameters) reads as the released one', () => {
    const released = parseModelConfig(presetRaw('DeepSeek-R1.config.json'), 'r1');
    const native: Record<string, unknown> = presetRaw('DeepSeek-R1.config.json');
    for (const key of ['scoring_func', 'topk_method', 'n_group', 'topk_group', 'norm_topk_prob', 'routed_scaling_factor', 'rope_theta']) delete native[key];
    const { type, ...yarn } = native.rope_scaling as Record<string, unknown>;
    delete native.rope_scaling;
    native.rope_parameters = { rope_type: type, rope_theta: 10000, ...yarn };
    const parsed = parseModelConfig(native, 'native');
    for (const key of ['scoringFunc', 'topkMethod', 'nGroup', 'topkGroup', 'normTopkProb', 'routedScalingFactor', 'rope', 'attention'] as const) {
      assert.deepEqual(parsed[key], released[key], key);
    }
    assert.equal(parseModelConfig({ ...native, rope_interleave: false }, 'native').rope.interleaved, false);
  });

  it('DeepSeekMoE v1 routes greedy and unscaled whatever topk_method says (HF-remote MoEGate ignores it)', () => {
    const config = parseModelConfig({ ...findPreset('tiny').config(), topk_method: 'group_limited_greedy', n_group: 4, topk_group: 2, routed_scaling_factor: 16 }, 'v1');
    assert.deepEqual([config.topkMethod, config.nGroup, config.topkGroup, config.routedScalingFactor], ['greedy', 1, 1, 1]);
  });

  it('DeepSeek normalises the top-K weights only when K > 1; Mixtral always', () => {
    const v2 = (k: number) => parseModelConfig({ ...presetRaw('DeepSeek-V2-Lite.config.json'), norm_topk_prob: true, num_experts_per_tok: k }, 'v2');
    assert.equal(v2(2).normTopkProb, true);
    assert.equal(v2(1).normTopkProb, false);
    assert.equal(parseModelConfig({ ...mixtralRaw(), num_experts_per_tok: 1 }, 'mixtral').normTopkProb, true);
  });

  it('Qwen2-MoE without shared_expert_intermediate_size or rope_theta takes Qwen2MoeConfig defaults (5632, 10000)', () => {
    const raw: Record<string, unknown> = qwenRaw();
    delete raw.shared_expert_intermediate_size;
    delete raw.rope_theta;
    const config = parseModelConfig(raw, 'qwen');
    assert.equal(config.sharedIntermediateSize, 5632);
    assert.equal(config.rope.theta, 10000);
  });
});
