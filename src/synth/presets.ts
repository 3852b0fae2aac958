/**
 * Model shapes `synth` can generate. The `tiny*` presets are for tests: one per family and attention kind, at
 * toy width, sharded small. The others carry the real config.json of a released checkpoint (assets/presets),
 * so synthetic weights have the real shapes and tensor names.
 */
import fs from 'node:fs';
import { assetPath } from '../assets.js';
import { InputError } from '../errors.js';

export interface Preset {
  name: string;
  description: string;
  /**
   * The config.json to write (token ids are set from the generated tokenizer). A `quantization_config` here
   * only chooses the FP8 block size: synth writes one when `--dtype fp8` and drops it otherwise.
   */
  config(): Record<string, unknown>;
  /** Largest shard in bytes; the tiny presets use a small one so tests see sharded checkpoints. */
  shardBytes: number;
  /** The pre-tokenizer the released family uses: byte-level BPE (DeepSeek, Qwen, OLMoE) or SentencePiece-style Metaspace (Mixtral). */
  tokenizer: 'byte-level' | 'metaspace';
}

const tinyShardBytes = 256 * 1024;

/** Fields every tiny preset shares: toy width, a 4096-token vocabulary like the trained tokenizer's, short context. */
const tinyCommon = {
  hidden_size: 64,
  num_attention_heads: 4,
  max_position_embeddings: 512,
  vocab_size: 4096,
  hidden_act: 'silu',
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
};

/** What the three tiny DeepSeek presets share: their generation's fixed fields at toy width. */
const tinyDeepseekCommon = {
  ...tinyCommon,
  num_key_value_heads: 4,
  moe_intermediate_size: 32,
  moe_layer_freq: 1,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  attention_bias: false,
};

/** MLA at toy width (V2 and V3): kv_lora 32 makes kv_a 40 rows; YaRN with max positions = factor x original. */
const tinyMla = (mscale: number) => ({
  kv_lora_rank: 32,
  qk_nope_head_dim: 16,
  qk_rope_head_dim: 8,
  v_head_dim: 16,
  // With an 8-wide rope slice and L0 = 128, YaRN's ramp runs from dim 0 to dim 2 (low < high): frequency 0
  // keeps its value, 1 is blended, 2 and 3 are divided by the factor, as in the released V2 at its width.
  rope_scaling: { type: 'yarn', factor: 40, original_max_position_embeddings: 128, beta_fast: 32, beta_slow: 1, mscale, mscale_all_dim: mscale },
  // factor x original, as in the releases (163840 = 40 x 4096): transformers' native classes derive the factor so.
  max_position_embeddings: 5120,
});

const tiny: Preset = {
  name: 'tiny',
  description: 'DeepSeekMoE v1 layout at toy width: 4 layers (1 dense), 16 routed + 2 shared experts, top-4, H=64',
  shardBytes: tinyShardBytes,
  tokenizer: 'byte-level',
  config: () => ({
    architectures: ['DeepseekForCausalLM'],
    model_type: 'deepseek',
    ...tinyDeepseekCommon,
    num_hidden_layers: 4,
    intermediate_size: 128,
    n_routed_experts: 16,
    n_shared_experts: 2,
    num_experts_per_tok: 4,
    first_k_dense_replace: 1,
    norm_topk_prob: false,
    scoring_func: 'softmax',
    rope_scaling: null,
  }),
};

const tinyV2: Preset = {
  name: 'tiny-v2',
  description: 'DeepSeek-V2 layout at toy width: MLA without q LoRA (V2-Lite q_proj), YaRN, 4 layers (1 dense), 16 routed + 2 shared experts, top-4 of 2 of 4 groups, H=64',
  shardBytes: tinyShardBytes,
  tokenizer: 'byte-level',
  config: () => ({
    architectures: ['DeepseekV2ForCausalLM'],
    model_type: 'deepseek_v2',
    ...tinyDeepseekCommon,
    ...tinyMla(0.707),
    num_hidden_layers: 4,
    q_lora_rank: null,
    intermediate_size: 128,
    n_routed_experts: 16,
    n_shared_experts: 2,
    num_experts_per_tok: 4,
    first_k_dense_replace: 1,
    scoring_func: 'softmax',
    topk_method: 'group_limited_greedy',
    n_group: 4,
    topk_group: 2,
    norm_topk_prob: false,
    routed_scaling_factor: 16,
  }),
};

const tinyV3: Preset = {
  name: 'tiny-v3',
  description: 'DeepSeek-V3 layout at toy width: MLA with q LoRA, YaRN, 5 layers (3 dense), 32 routed + 1 shared experts, sigmoid top-8 of 4 of 8 groups with bias, FP8 blocks 32x32, H=64',
  shardBytes: tinyShardBytes,
  tokenizer: 'byte-level',
  config: () => ({
    architectures: ['DeepseekV3ForCausalLM'],
    model_type: 'deepseek_v3',
    ...tinyDeepseekCommon,
    ...tinyMla(1.0),
    num_hidden_layers: 5,
    q_lora_rank: 32,
    // 80 is not a multiple of the 32-wide FP8 blocks, so the dense MLP has partial edge blocks along both axes.
    intermediate_size: 80,
    n_routed_experts: 32,
    n_shared_experts: 1,
    num_experts_per_tok: 8,
    first_k_dense_replace: 3,
    scoring_func: 'sigmoid',
    topk_method: 'noaux_tc',
    n_group: 8,
    topk_group: 4,
    norm_topk_prob: true,
    routed_scaling_factor: 2.5,
    // Declared as in the releases, but no MTP layer is generated (architecture.md 3.2: the forward pass skips it).
    num_nextn_predict_layers: 1,
    // Small blocks, so the tiny matrices hold several of them and kv_a [40, 64] ends in a half-full block row.
    quantization_config: { activation_scheme: 'dynamic', fmt: 'e4m3', quant_method: 'fp8', weight_block_size: [32, 32] },
  }),
};

const tinyMixtral: Preset = {
  name: 'tiny-mixtral',
  description: 'Mixtral layout at toy width: 4 layers, grouped-query attention (4 heads, 2 kv heads), 8 experts of width 48, top-2, H=64',
  shardBytes: tinyShardBytes,
  tokenizer: 'metaspace',
  config: () => ({
    architectures: ['MixtralForCausalLM'],
    model_type: 'mixtral',
    ...tinyCommon,
    num_hidden_layers: 4,
    num_key_value_heads: 2,
    intermediate_size: 48,
    num_local_experts: 8,
    num_experts_per_tok: 2,
    rope_theta: 1e6,
    rms_norm_eps: 1e-5,
    sliding_window: null,
  }),
};

const tinyQwen2Moe: Preset = {
  name: 'tiny-qwen2-moe',
  description: 'Qwen2-MoE layout at toy width: 4 layers (layer 0 dense), q/k/v biases, 16 experts of width 32 + a gated shared expert of width 64, top-4, H=64',
  shardBytes: tinyShardBytes,
  tokenizer: 'byte-level',
  config: () => ({
    architectures: ['Qwen2MoeForCausalLM'],
    model_type: 'qwen2_moe',
    ...tinyCommon,
    num_hidden_layers: 4,
    num_key_value_heads: 4,
    intermediate_size: 96,
    moe_intermediate_size: 32,
    shared_expert_intermediate_size: 64,
    num_experts: 16,
    num_experts_per_tok: 4,
    norm_topk_prob: false,
    decoder_sparse_step: 1,
    mlp_only_layers: [0],
    rope_theta: 1e6,
    rms_norm_eps: 1e-6,
    use_sliding_window: false,
  }),
};

const tinyOlmoe: Preset = {
  name: 'tiny-olmoe',
  description: 'OLMoE layout at toy width: 4 layers, q/k norms, 16 experts of width 32, top-4, H=64',
  shardBytes: tinyShardBytes,
  tokenizer: 'byte-level',
  config: () => ({
    architectures: ['OlmoeForCausalLM'],
    model_type: 'olmoe',
    ...tinyCommon,
    num_hidden_layers: 4,
    num_key_value_heads: 4,
    intermediate_size: 32,
    num_experts: 16,
    num_experts_per_tok: 4,
    norm_topk_prob: false,
    rope_theta: 10000,
    rms_norm_eps: 1e-5,
    clip_qkv: null,
  }),
};

/** A preset that is the released config.json in assets/presets. */
function releasedPreset(name: string, configFile: string, description: string): Preset {
  return {
    name,
    description,
    shardBytes: 4 * 1024 ** 3,
    tokenizer: 'byte-level',
    config: () => JSON.parse(fs.readFileSync(assetPath('presets', configFile), 'utf8')),
  };
}

const deepseekMoe16b = releasedPreset(
  'deepseek-moe-16b',
  'deepseek-moe-16b-base.config.json',
  'deepseek-moe-16b-base shapes and tensor names: 28 layers (1 dense), 64 routed + 2 shared experts, top-6, H=2048',
);

const deepseekV2Lite = releasedPreset(
  'deepseek-v2-lite',
  'DeepSeek-V2-Lite.config.json',
  'DeepSeek-V2-Lite shapes and tensor names: MLA without q LoRA, 27 layers (1 dense), 64 routed + 2 shared experts, top-6, H=2048',
);

const deepseekV3 = releasedPreset(
  'deepseek-v3',
  'DeepSeek-R1.config.json',
  'DeepSeek-V3/R1 shapes and tensor names (--dtype fp8: 128x128 blocks as released): 61 layers (3 dense), 256 routed + 1 shared experts, top-8, H=7168',
);

export const presets: Preset[] = [tiny, tinyV2, tinyV3, tinyMixtral, tinyQwen2Moe, tinyOlmoe, deepseekMoe16b, deepseekV2Lite, deepseekV3];

export function findPreset(name: string): Preset {
  const preset = presets.find((p) => p.name === name);
  if (!preset) throw new InputError(`invalid --preset: ${name} (expected ${presets.map((p) => p.name).join(' | ')})`, 'usage-preset');
  return preset;
}
