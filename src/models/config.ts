import fs from 'node:fs';
import path from 'node:path';
import { fileError, InputError } from '../errors.js';

/**
 * The hyperparameters the forward pass and the routing need, read from a Hugging Face config.json.
 * Field names follow the DeepSeek configs; architecture.md section 2 lists the released values.
 */
export interface ModelConfig {
  /** config.json `model_type`. */
  modelType: ModelType;
  /** Width of the residual stream, H. */
  hiddenSize: number;
  /** Number of decoder layers (the V3 MTP layer is not counted). */
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** Per-head width of q/k/v in standard multi-head attention (H / numHeads). */
  headDim: number;
  /** Width of the dense MLP layers. */
  intermediateSize: number;
  /** Width of one routed expert, Im. */
  moeIntermediateSize: number;
  /** E: routed experts per MoE layer. */
  nRoutedExperts: number;
  /** Ns: shared experts, fused into one MLP of width Ns * Im. */
  nSharedExperts: number;
  /** K: routed experts per token. */
  topK: number;
  /** Layers below this index are dense. */
  firstKDenseReplace: number;
  moeLayerFreq: number;
  scoringFunc: 'softmax' | 'sigmoid';
  topkMethod: 'greedy' | 'group_limited_greedy' | 'noaux_tc';
  nGroup: number;
  topkGroup: number;
  normTopkProb: boolean;
  routedScalingFactor: number;
  rmsNormEps: number;
  ropeTheta: number;
  maxPositionEmbeddings: number;
  vocabSize: number;
  /** The config.json as read, kept for traces (`model_config`). */
  raw: Record<string, unknown>;
}

export const supportedModelTypes = ['deepseek'] as const;
export type ModelType = (typeof supportedModelTypes)[number];

/** Families architecture.md describes that this version cannot route yet: named so the error says so. */
const knownButUnsupported = ['deepseek_v2', 'deepseek_v3', 'mixtral', 'qwen2_moe', 'olmoe'];

export function readModelConfig(modelDir: string): ModelConfig {
  const file = path.join(modelDir, 'config.json');
  if (!fs.existsSync(file)) throw fileError(file, 'config-missing', 'no config.json in the model folder');
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw fileError(file, 'config-json', `not valid JSON (${(error as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw fileError(file, 'config-json', 'expected a JSON object');
  }
  return parseModelConfig(raw as Record<string, unknown>, file);
}

/** Validates and normalises a config.json object; `source` names it in errors. */
export function parseModelConfig(raw: Record<string, unknown>, source: string): ModelConfig {
  const modelType = raw.model_type;
  if (typeof modelType !== 'string') throw fileError(source, 'config-field', 'field "model_type" is missing');
  if (!(supportedModelTypes as readonly string[]).includes(modelType)) {
    const why = knownButUnsupported.includes(modelType)
      ? `model_type "${modelType}" is not supported by this version yet`
      : `unknown model_type "${modelType}"`;
    throw fileError(source, 'config-model-type', `${why} (supported: ${supportedModelTypes.join(', ')})`);
  }

  const int = (key: string, fallback?: number): number => {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw fileError(source, 'config-field', `field "${key}" must be a non-negative integer, found ${JSON.stringify(raw[key])}`);
    }
    return value;
  };
  const num = (key: string, fallback?: number): number => {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw fileError(source, 'config-field', `field "${key}" must be a number, found ${JSON.stringify(raw[key])}`);
    }
    return value;
  };

  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const config: ModelConfig = {
    modelType: modelType as ModelType,
    hiddenSize,
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads: int('num_key_value_heads', numHeads),
    headDim: hiddenSize / numHeads,
    intermediateSize: int('intermediate_size'),
    moeIntermediateSize: int('moe_intermediate_size'),
    nRoutedExperts: int('n_routed_experts'),
    nSharedExperts: int('n_shared_experts', 0),
    topK: int('num_experts_per_tok'),
    firstKDenseReplace: int('first_k_dense_replace', 0),
    moeLayerFreq: int('moe_layer_freq', 1),
    scoringFunc: keyword(raw.scoring_func ?? 'softmax', 'scoring_func', ['softmax', 'sigmoid'] as const, source),
    topkMethod: keyword(raw.topk_method ?? 'greedy', 'topk_method', ['greedy', 'group_limited_greedy', 'noaux_tc'] as const, source),
    nGroup: int('n_group', 1),
    topkGroup: int('topk_group', 1),
    normTopkProb: Boolean(raw.norm_topk_prob ?? false),
    routedScalingFactor: num('routed_scaling_factor', 1),
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta: num('rope_theta', 10000),
    maxPositionEmbeddings: int('max_position_embeddings'),
    vocabSize: int('vocab_size'),
    raw,
  };

  if (!Number.isInteger(config.headDim) || config.headDim % 2 !== 0) {
    throw fileError(source, 'config-field', `hidden_size ${hiddenSize} is not an even multiple of num_attention_heads ${numHeads}`);
  }
  if (config.numKvHeads === 0 || numHeads % config.numKvHeads !== 0) {
    throw fileError(source, 'config-field', `num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${config.numKvHeads}`);
  }
  if (config.topK < 1 || config.topK > config.nRoutedExperts) {
    throw fileError(source, 'config-field', `num_experts_per_tok ${config.topK} must be between 1 and n_routed_experts ${config.nRoutedExperts}`);
  }
  // The v1 MoE graph (models/deepseek.ts) routes with softmax, plain top-K and raw weights; any other gate
  // setting under model_type "deepseek" would be silently ignored, so it is refused instead.
  const v1Gate = config.scoringFunc === 'softmax' && config.topkMethod === 'greedy' && !config.normTopkProb && config.routedScalingFactor === 1;
  if (!v1Gate) {
    const found = `scoring_func ${config.scoringFunc}, topk_method ${config.topkMethod}, norm_topk_prob ${config.normTopkProb}, routed_scaling_factor ${config.routedScalingFactor}`;
    throw fileError(source, 'config-field', `model_type "${modelType}" routes with scoring_func softmax, topk_method greedy, norm_topk_prob false, routed_scaling_factor 1; found ${found}`);
  }
  if (raw.rope_scaling != null) {
    throw fileError(source, 'config-field', `rope_scaling ${JSON.stringify(raw.rope_scaling)} is not supported for model_type "${modelType}"`);
  }
  return config;
}

function keyword<T extends string>(value: unknown, name: string, allowed: readonly T[], source: string): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new InputError(`${source}: invalid ${name}: ${JSON.stringify(value)} (expected ${allowed.join(' | ')})`, 'config-field');
}

/** architecture.md section 1, layer type rule: MoE iff l >= first_k_dense_replace and l % moe_layer_freq == 0. */
export function isMoeLayer(config: ModelConfig, layer: number): boolean {
  return config.nRoutedExperts > 0 && layer >= config.firstKDenseReplace && layer % config.moeLayerFreq === 0;
}

export function moeLayers(config: ModelConfig): number[] {
  return Array.from({ length: config.numLayers }, (_, l) => l).filter((l) => isMoeLayer(config, l));
}
