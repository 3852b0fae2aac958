/**
 * Model shapes `synth` can generate. `tiny` is for tests; the others carry the real config.json of a
 * released checkpoint (assets/presets), so synthetic weights have the real shapes and tensor names.
 */
import fs from 'node:fs';
import { assetPath } from '../assets.js';
import { InputError } from '../errors.js';

export interface Preset {
  name: string;
  description: string;
  /** The config.json to write (vocab_size and token ids are set from the generated tokenizer when smaller). */
  config(): Record<string, unknown>;
  /** Largest shard in bytes; the tiny preset uses a small one so tests see sharded checkpoints. */
  shardBytes: number;
}

const tiny: Preset = {
  name: 'tiny',
  description: 'DeepSeekMoE v1 layout at toy width: 4 layers (1 dense), 16 routed + 2 shared experts, top-4, H=64',
  shardBytes: 256 * 1024,
  config: () => ({
    architectures: ['DeepseekForCausalLM'],
    model_type: 'deepseek',
    hidden_size: 64,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    num_key_value_heads: 4,
    intermediate_size: 128,
    moe_intermediate_size: 32,
    n_routed_experts: 16,
    n_shared_experts: 2,
    num_experts_per_tok: 4,
    first_k_dense_replace: 1,
    moe_layer_freq: 1,
    norm_topk_prob: false,
    scoring_func: 'softmax',
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    rope_scaling: null,
    max_position_embeddings: 512,
    vocab_size: 4096,
    attention_bias: false,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
  }),
};

const deepseekMoe16b: Preset = {
  name: 'deepseek-moe-16b',
  description: 'deepseek-moe-16b-base shapes and tensor names: 28 layers (1 dense), 64 routed + 2 shared experts, top-6, H=2048',
  shardBytes: 4 * 1024 ** 3,
  config: () => JSON.parse(fs.readFileSync(assetPath('presets', 'deepseek-moe-16b-base.config.json'), 'utf8')),
};

export const presets: Preset[] = [tiny, deepseekMoe16b];

export function findPreset(name: string): Preset {
  const preset = presets.find((p) => p.name === name);
  if (!preset) throw new InputError(`invalid --preset: ${name} (expected ${presets.map((p) => p.name).join(' | ')})`, 'usage-preset');
  return preset;
}
