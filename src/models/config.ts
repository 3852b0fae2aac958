import fs from 'node:fs';
import path from 'node:path';
import type { ErrorCode } from '../error-codes.js';
import { fileError } from '../errors.js';
import { readJsonObject, type JsonFileCodes } from '../loaders/json-file.js';

/**
 * The hyperparameters the forward pass and the routing need, read from a Hugging Face config.json.
 * One shape serves every family architecture.md describes; `parseModelConfig` maps each family's field names
 * onto it (section 2 lists the released DeepSeek values, section 6 the others).
 */
export interface ModelConfig {
  /** config.json `model_type`. */
  modelType: ModelType;
  /** Width of the residual stream, H. */
  hiddenSize: number;
  /** Number of decoder layers (the V3 MTP layer is not counted). */
  numLayers: number;
  attention: MhaAttention | MlaAttention;
  rope: RopeSettings;
  /** Width of the dense MLP layers. */
  intermediateSize: number;
  /** Width of one routed expert, Im. */
  moeIntermediateSize: number;
  /** E: routed experts per MoE layer. */
  nRoutedExperts: number;
  /** DeepSeek's shared experts, fused into one MLP of width Ns * Im (Qwen2-MoE's one shared expert counts as 1). */
  nSharedExperts: number;
  /** Width of the shared-expert MLP, 0 when there is none. */
  sharedIntermediateSize: number;
  /** Qwen2-MoE: the shared expert's output is multiplied by sigmoid(x · w_shared_gate). */
  sharedExpertGate: boolean;
  /** K: routed experts per token. */
  topK: number;
  /** DeepSeek layer rule: layers below this index are dense. */
  firstKDenseReplace: number;
  moeLayerFreq: number;
  /** Per layer, whether it is a MoE layer (the family's layer-type rule, applied once). */
  layerKinds: Array<'dense' | 'moe'>;
  scoringFunc: 'softmax' | 'sigmoid';
  topkMethod: 'greedy' | 'group_limited_greedy' | 'noaux_tc';
  nGroup: number;
  topkGroup: number;
  normTopkProb: boolean;
  routedScalingFactor: number;
  rmsNormEps: number;
  /** Longest prompt the model allows: max_position_embeddings, or a smaller sliding window. */
  maxPositionEmbeddings: number;
  vocabSize: number;
  /** `quantization_config.weight_block_size` of FP8 weights (V3/R1, or any family synth stored in FP8), when quantized. */
  fp8BlockSize: [number, number] | null;
  /** The config.json as read, kept for traces (`model_config`). */
  raw: Record<string, unknown>;
}

/**
 * What routing is, as config.json declares it: which layers are MoE, E, K, the router's gate settings and the
 * FP8 blocks. Every command reads these through parseMoeConfig (route as part of parseModelConfig, import from
 * the model folder, report from the trace's `model_config`), so they cannot disagree about a model. It needs
 * only the routing fields, so it also reads the config of a model served elsewhere whose weights are not here.
 */
export type MoeConfig = Pick<
  ModelConfig,
  | 'modelType'
  | 'numLayers'
  | 'nRoutedExperts'
  | 'topK'
  | 'firstKDenseReplace'
  | 'moeLayerFreq'
  | 'layerKinds'
  | 'scoringFunc'
  | 'topkMethod'
  | 'nGroup'
  | 'topkGroup'
  | 'normTopkProb'
  | 'routedScalingFactor'
  | 'fp8BlockSize'
  | 'raw'
>;

/** Standard attention (V1, Mixtral, Qwen2-MoE, OLMoE): q/k/v projections, grouped-query when kv heads < heads. */
export interface MhaAttention {
  kind: 'mha';
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Qwen2-MoE: q, k and v projections carry biases. */
  qkvBias: boolean;
  /** OLMoE: RMSNorm over the whole projected q (H) and k (kv heads · head dim) before heads are split. */
  qkNorm: boolean;
  /** Multiplies q·k before the softmax: 1/sqrt(head dim). */
  softmaxScale: number;
}

/** Multi-head latent attention, DeepSeek V2/V3 (architecture.md 4.2). */
export interface MlaAttention {
  kind: 'mla';
  numHeads: number;
  /** null: q comes straight from q_proj (V2-Lite); otherwise q_a_proj, q_a_layernorm, q_b_proj. */
  qLoraRank: number | null;
  kvLoraRank: number;
  qkNopeHeadDim: number;
  qkRopeHeadDim: number;
  vHeadDim: number;
  /** (dn + dr)^-1/2, times the YaRN mscale_all_dim factor squared (architecture.md 4.4). */
  softmaxScale: number;
}

/** Rotary embedding: which dimensions rotate, how they pair, and at which frequencies. */
export interface RopeSettings {
  /** Width of the rotated part of each head (MHA: the head dim; MLA: qk_rope_head_dim). */
  dim: number;
  theta: number;
  /** true: pairs (2i, 2i+1), as DeepSeek V2/V3 store their rope slices; false: rotate-half pairs (i, i + dim/2). */
  interleaved: boolean;
  yarn: YarnScaling | null;
}

/** config.json `rope_scaling` of type "yarn" (architecture.md 4.4). */
export interface YarnScaling {
  factor: number;
  originalMaxPositionEmbeddings: number;
  betaFast: number;
  betaSlow: number;
  mscale: number;
  mscaleAllDim: number;
}

export const supportedModelTypes = ['deepseek', 'deepseek_v2', 'deepseek_v3', 'mixtral', 'qwen2_moe', 'olmoe'] as const;
export type ModelType = (typeof supportedModelTypes)[number];
export type Family = 'deepseek' | 'mixtral' | 'qwen2_moe' | 'olmoe';

/** The tensor-naming family of a model type: the three DeepSeek generations share their names. */
export function familyOf(modelType: ModelType): Family {
  return modelType.startsWith('deepseek') ? 'deepseek' : (modelType as Family);
}

export function readModelConfig(modelDir: string): ModelConfig {
  const { raw, file } = readConfigJson(modelDir);
  return parseModelConfig(raw, file);
}

/** The routing part of MODEL_DIR/config.json (import reads only this: the weights need not be there). */
export function readMoeConfig(modelDir: string): MoeConfig {
  const { raw, file } = readConfigJson(modelDir);
  return parseMoeConfig(raw, file);
}

/**
 * The FP8 block size MODEL_DIR/config.json declares (as parseMoeConfig reads it), or null without a config.json
 * or a quantization_config. Only that field is read: opening the weights needs nothing else of the model.
 */
export function readFp8BlockSize(modelDir: string): [number, number] | null {
  if (!fs.existsSync(path.join(modelDir, 'config.json'))) return null;
  const { raw, file } = readConfigJson(modelDir);
  return parseFp8BlockSize(raw.quantization_config as Fp8Quantization | undefined, file);
}

/** How reading a model's config.json fails, the same for every reader. */
const configJsonCodes: JsonFileCodes = { missing: 'config-missing', json: 'config-json', object: 'config-json' };

/** Says what is wrong with a model folder path itself (missing, or a file) before anything looks inside it. */
export function checkModelFolder(modelDir: string, code: ErrorCode): void {
  if (!fs.existsSync(modelDir)) throw fileError(modelDir, code, 'no such model folder');
  if (!fs.statSync(modelDir).isDirectory()) throw fileError(modelDir, code, 'is a file, not a model folder (config.json, safetensors, tokenizer.json)');
}

/** MODEL_DIR/config.json as a JSON object, with its path for errors. */
function readConfigJson(modelDir: string): { raw: Record<string, unknown>; file: string } {
  checkModelFolder(modelDir, 'config-missing');
  const file = path.join(modelDir, 'config.json');
  return { raw: readJsonObject(file, configJsonCodes, 'no config.json in the model folder'), file };
}

/** Typed access to config.json fields, each error naming the file and the field. */
function fieldReader(raw: Record<string, unknown>, source: string) {
  const fail = (key: string, expected: string) =>
    fileError(source, 'config-field', `field "${key}" must be ${expected}, found ${JSON.stringify(raw[key])}`);
  return {
    int(key: string, fallback?: number): number {
      const value = raw[key] ?? fallback;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw fail(key, 'a non-negative integer');
      return value;
    },
    /** An integer of at least 1: a layer period of 0 would make every index test divide by zero. */
    positiveInt(key: string, fallback?: number): number {
      const value = raw[key] ?? fallback;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw fail(key, 'an integer of at least 1');
      return value;
    },
    num(key: string, fallback?: number): number {
      const value = raw[key] ?? fallback;
      if (typeof value !== 'number' || !Number.isFinite(value)) throw fail(key, 'a number');
      return value;
    },
    bool(key: string, fallback: boolean): boolean {
      const value = raw[key] ?? fallback;
      if (typeof value !== 'boolean') throw fail(key, 'true or false');
      return value;
    },
    keyword<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
      const value = raw[key] ?? fallback;
      if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
      throw fail(key, allowed.map((a) => `"${a}"`).join(' or '));
    },
    intList(key: string): number[] {
      const value = raw[key] ?? [];
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'number' || !Number.isInteger(v))) throw fail(key, 'a list of integers');
      return value as number[];
    },
  };
}
type Fields = ReturnType<typeof fieldReader>;

/** Validates and normalises a config.json object for the forward pass and the routing; `source` names it in errors. */
export function parseModelConfig(raw: Record<string, unknown>, source: string): ModelConfig {
  const moe = parseMoeConfig(raw, source);
  const f = fieldReader(raw, source);
  const forward = familyOf(moe.modelType) === 'deepseek' ? parseDeepseek(raw, f, moe.modelType, source) : parseOtherFamily(raw, f, moe.modelType, source);
  const config: ModelConfig = { ...moe, ...forward };
  validateForward(config, source);
  return config;
}

/**
 * The routing of a config.json (MoeConfig): the family's layer-type rule, E, K, the gate settings with the
 * defaults of the code that runs each family, and the FP8 blocks. `source` names it in errors.
 */
export function parseMoeConfig(raw: Record<string, unknown>, source: string): MoeConfig {
  const modelType = raw.model_type;
  if (typeof modelType !== 'string') throw fileError(source, 'config-field', 'field "model_type" is missing');
  if (!(supportedModelTypes as readonly string[]).includes(modelType)) {
    throw fileError(source, 'config-model-type', `unknown model_type "${modelType}" (supported: ${supportedModelTypes.join(', ')})`);
  }
  const type = modelType as ModelType;
  const f = fieldReader(raw, source);
  const numLayers = f.int('num_hidden_layers');
  const topK = f.int('num_experts_per_tok');
  const layers = familyOf(type) === 'deepseek' ? deepseekLayers(f, numLayers) : otherFamilyLayers(f, type, numLayers);
  const gate = familyOf(type) === 'deepseek' ? deepseekGate(type, f, topK, source) : otherFamilyGate(f, type);
  const config: MoeConfig = {
    modelType: type,
    numLayers,
    topK,
    ...layers,
    ...gate,
    fp8BlockSize: parseFp8BlockSize(raw.quantization_config as Fp8Quantization | undefined, source),
    raw,
  };
  validateRouting(config, source);
  return config;
}

type LayerFields = Pick<ModelConfig, 'nRoutedExperts' | 'firstKDenseReplace' | 'moeLayerFreq' | 'layerKinds'>;

/** DeepSeek V1-V3: layers below first_k_dense_replace are dense, then every moe_layer_freq-th layer is MoE. */
function deepseekLayers(f: Fields, numLayers: number): LayerFields {
  const firstKDenseReplace = f.int('first_k_dense_replace', 0);
  const moeLayerFreq = f.positiveInt('moe_layer_freq', 1);
  const nRoutedExperts = f.int('n_routed_experts', 0);
  const layerKinds = Array.from({ length: numLayers }, (_, l) =>
    nRoutedExperts > 0 && l >= firstKDenseReplace && l % moeLayerFreq === 0 ? ('moe' as const) : ('dense' as const),
  );
  return { nRoutedExperts, firstKDenseReplace, moeLayerFreq, layerKinds };
}

/**
 * Mixtral and OLMoE: every layer is MoE. Qwen2-MoE: layer l is sparse iff it is not in mlp_only_layers and
 * (l + 1) % decoder_sparse_step == 0.
 */
function otherFamilyLayers(f: Fields, modelType: ModelType, numLayers: number): LayerFields {
  const nRoutedExperts = f.int(modelType === 'mixtral' ? 'num_local_experts' : 'num_experts');
  let layerKinds = Array.from({ length: numLayers }, () => (nRoutedExperts > 0 ? ('moe' as const) : ('dense' as const)));
  if (modelType === 'qwen2_moe') {
    const step = f.positiveInt('decoder_sparse_step', 1);
    const mlpOnly = new Set(f.intList('mlp_only_layers'));
    layerKinds = layerKinds.map((kind, l) => (kind === 'moe' && !mlpOnly.has(l) && (l + 1) % step === 0 ? 'moe' : 'dense'));
  }
  return { nRoutedExperts, firstKDenseReplace: 0, moeLayerFreq: 1, layerKinds };
}

type ForwardFields = Omit<ModelConfig, keyof MoeConfig>;

/** DeepSeek V1, V2 and V3 (architecture.md sections 1-5). */
function parseDeepseek(raw: Record<string, unknown>, f: Fields, modelType: ModelType, source: string): ForwardFields {
  const hiddenSize = f.int('hidden_size');
  const numHeads = f.int('num_attention_heads');
  if (f.bool('attention_bias', false)) throw fileError(source, 'config-field', `attention_bias true is not part of the ${modelType} architecture`);
  const moeIntermediateSize = f.int('moe_intermediate_size');
  const nSharedExperts = f.int('n_shared_experts', 0);

  let attention: MhaAttention | MlaAttention;
  let rope: RopeSettings;
  const theta = ropeTheta(raw, f, 10000, source);
  if (modelType === 'deepseek') {
    const headDim = hiddenSize / numHeads;
    attention = { kind: 'mha', numHeads, numKvHeads: f.int('num_key_value_heads', numHeads), headDim, qkvBias: false, qkNorm: false, softmaxScale: 1 / Math.sqrt(headDim) };
    if (ropeScaling(raw) != null) throw fileError(source, 'config-field', `rope_scaling ${JSON.stringify(ropeScaling(raw))} is not supported for model_type "deepseek"`);
    rope = { dim: headDim, theta, interleaved: false, yarn: null };
  } else {
    const qLoraRank = raw.q_lora_rank == null ? null : f.int('q_lora_rank');
    const qkNopeHeadDim = f.int('qk_nope_head_dim');
    const qkRopeHeadDim = f.int('qk_rope_head_dim');
    const yarn = parseYarn(ropeScaling(raw), source);
    // architecture.md 4.4: s = (dn + dr)^-1/2 · g(factor, mscale_all_dim)^2 when mscale_all_dim is set.
    const mscale = yarn && yarn.mscaleAllDim ? yarnMscale(yarn.factor, yarn.mscaleAllDim) : 1;
    attention = {
      kind: 'mla',
      numHeads,
      qLoraRank,
      kvLoraRank: f.int('kv_lora_rank'),
      qkNopeHeadDim,
      qkRopeHeadDim,
      vHeadDim: f.int('v_head_dim'),
      softmaxScale: (mscale * mscale) / Math.sqrt(qkNopeHeadDim + qkRopeHeadDim),
    };
    // The checkpoints store rope slices as interleaved pairs; transformers' native V3 config can say otherwise.
    rope = { dim: qkRopeHeadDim, theta, interleaved: f.bool('rope_interleave', true), yarn };
  }

  return {
    hiddenSize,
    attention,
    rope,
    intermediateSize: f.int('intermediate_size'),
    moeIntermediateSize,
    nSharedExperts,
    sharedIntermediateSize: nSharedExperts * moeIntermediateSize,
    sharedExpertGate: false,
    rmsNormEps: f.num('rms_norm_eps', 1e-6),
    maxPositionEmbeddings: f.int('max_position_embeddings'),
    vocabSize: f.int('vocab_size'),
  };
}

type GateFields = Pick<ModelConfig, 'scoringFunc' | 'topkMethod' | 'nGroup' | 'topkGroup' | 'normTopkProb' | 'routedScalingFactor'>;

/**
 * The router settings of a DeepSeek config, with the defaults of the code that runs each generation:
 *  - V1 (HF-remote MoEGate): softmax only, plain top-K whatever topk_method says, no scaling factor;
 *  - V2: softmax, greedy, no groups, raw weights, unless the config says otherwise;
 *  - V3: transformers' native DeepseekV3Config writes no scoring_func or topk_method (it always routes sigmoid +
 *    noaux_tc), so its defaults are V3's: 8 groups keep 4, normalised weights times 2.5.
 * HF-remote normalises the top-K weights only when K > 1.
 */
function deepseekGate(modelType: ModelType, f: Fields, topK: number, source: string): GateFields {
  const v3 = modelType === 'deepseek_v3';
  const scoringFunc = f.keyword('scoring_func', ['softmax', 'sigmoid'] as const, v3 ? 'sigmoid' : 'softmax');
  const normTopkProb = f.bool('norm_topk_prob', v3) && topK > 1;
  if (modelType === 'deepseek') {
    if (scoringFunc !== 'softmax') throw fileError(source, 'config-field', `scoring_func ${scoringFunc} is not supported by model_type "deepseek" (DeepSeekMoE scores with softmax)`);
    return { scoringFunc, topkMethod: 'greedy', nGroup: 1, topkGroup: 1, normTopkProb, routedScalingFactor: 1 };
  }
  return {
    scoringFunc,
    topkMethod: f.keyword('topk_method', ['greedy', 'group_limited_greedy', 'noaux_tc'] as const, v3 ? 'noaux_tc' : 'greedy'),
    nGroup: f.int('n_group', v3 ? 8 : 1),
    topkGroup: f.int('topk_group', v3 ? 4 : 1),
    normTopkProb,
    routedScalingFactor: f.num('routed_scaling_factor', v3 ? 2.5 : 1),
  };
}

/** Mixtral, Qwen2-MoE and OLMoE route with a softmax top-K; MixtralTopKRouter always renormalises the top-K weights. */
function otherFamilyGate(f: Fields, modelType: ModelType): GateFields {
  const normTopkProb = modelType === 'mixtral' ? true : f.bool('norm_topk_prob', false);
  return { scoringFunc: 'softmax', topkMethod: 'greedy', nGroup: 1, topkGroup: 1, normTopkProb, routedScalingFactor: 1 };
}

/** rope_theta, or transformers v5's rope_parameters.rope_theta. */
function ropeTheta(raw: Record<string, unknown>, f: Fields, fallback: number, source: string): number {
  if (raw.rope_theta != null) return f.num('rope_theta');
  const parameters = raw.rope_parameters as Record<string, unknown> | undefined;
  if (parameters?.rope_theta == null) return fallback;
  if (typeof parameters.rope_theta !== 'number') throw fileError(source, 'config-field', `field "rope_parameters.rope_theta" must be a number, found ${JSON.stringify(parameters.rope_theta)}`);
  return parameters.rope_theta;
}

/** rope_scaling, or transformers v5's rope_parameters unless its rope_type is "default" (no scaling). */
function ropeScaling(raw: Record<string, unknown>): unknown {
  if (raw.rope_scaling != null) return raw.rope_scaling;
  const parameters = raw.rope_parameters as Record<string, unknown> | undefined;
  return parameters == null || (parameters.rope_type ?? 'default') === 'default' ? null : parameters;
}

/** Mixtral, Qwen2-MoE and OLMoE (architecture.md section 6): standard attention, softmax routers. */
function parseOtherFamily(raw: Record<string, unknown>, f: Fields, modelType: ModelType, source: string): ForwardFields {
  const hiddenSize = f.int('hidden_size');
  const numHeads = f.int('num_attention_heads');
  const headDim = f.int('head_dim', hiddenSize / numHeads);
  const numKvHeads = f.int('num_key_value_heads', numHeads);
  if (ropeScaling(raw) != null) throw fileError(source, 'config-field', `rope_scaling ${JSON.stringify(ropeScaling(raw))} is not supported for model_type "${modelType}"`);
  if (raw.clip_qkv != null) throw fileError(source, 'config-field', `clip_qkv ${JSON.stringify(raw.clip_qkv)} is not supported`);

  let maxPositionEmbeddings = f.int('max_position_embeddings');
  // With a sliding window, a prompt no longer than the window sees exactly what full causal attention sees.
  const window = raw.sliding_window;
  const windowUsed = modelType === 'qwen2_moe' ? f.bool('use_sliding_window', false) : window != null;
  if (windowUsed && window != null) maxPositionEmbeddings = Math.min(maxPositionEmbeddings, f.int('sliding_window'));

  const attention: MhaAttention = {
    kind: 'mha',
    numHeads,
    numKvHeads,
    headDim,
    qkvBias: modelType === 'qwen2_moe' ? f.bool('qkv_bias', true) : false,
    qkNorm: modelType === 'olmoe',
    softmaxScale: 1 / Math.sqrt(headDim),
  };
  const common = {
    hiddenSize,
    attention,
    // The configuration classes' defaults: Mixtral 1e6, Qwen2-MoE and OLMoE 10000.
    rope: { dim: headDim, theta: ropeTheta(raw, f, modelType === 'mixtral' ? 1e6 : 10000, source), interleaved: false, yarn: null },
    rmsNormEps: f.num('rms_norm_eps', modelType === 'qwen2_moe' ? 1e-6 : 1e-5),
    maxPositionEmbeddings,
    vocabSize: f.int('vocab_size'),
  };
  if (modelType !== 'qwen2_moe') {
    // Mixtral's and OLMoE's experts are intermediate_size wide, and they have no shared expert.
    const width = f.int('intermediate_size');
    return { ...common, intermediateSize: width, moeIntermediateSize: width, nSharedExperts: 0, sharedIntermediateSize: 0, sharedExpertGate: false };
  }
  // Qwen2MoeConfig's default: a config without the field still has the shared expert.
  const sharedWidth = f.int('shared_expert_intermediate_size', 5632);
  return {
    ...common,
    intermediateSize: f.int('intermediate_size'),
    moeIntermediateSize: f.int('moe_intermediate_size'),
    nSharedExperts: sharedWidth > 0 ? 1 : 0,
    sharedIntermediateSize: sharedWidth,
    sharedExpertGate: sharedWidth > 0,
  };
}

function parseYarn(scaling: unknown, source: string): YarnScaling | null {
  if (scaling == null) return null;
  const s = scaling as Record<string, unknown>;
  const type = s.type ?? s.rope_type;
  if (type !== 'yarn') throw fileError(source, 'config-field', `rope_scaling type ${JSON.stringify(type)} is not supported (expected "yarn")`);
  const num = (key: string, fallback?: number): number => {
    const value = s[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value)) throw fileError(source, 'config-field', `field "rope_scaling.${key}" must be a number, found ${JSON.stringify(s[key])}`);
    return value;
  };
  return {
    factor: num('factor'),
    originalMaxPositionEmbeddings: num('original_max_position_embeddings'),
    betaFast: num('beta_fast', 32),
    betaSlow: num('beta_slow', 1),
    mscale: num('mscale', 1),
    mscaleAllDim: num('mscale_all_dim', 0),
  };
}

/** g(s, m) of architecture.md 4.4: 0.1 · m · ln s + 1, and 1 for s <= 1. */
export function yarnMscale(factor: number, mscale: number): number {
  return factor <= 1 ? 1 : 0.1 * mscale * Math.log(factor) + 1;
}

/** config.json `quantization_config`, as far as it is read. */
type Fp8Quantization = { weight_block_size?: unknown; quant_method?: unknown; fmt?: unknown };

/** quantization_config.weight_block_size: null without a quantization_config, [128, 128] when it names none. */
export function parseFp8BlockSize(quantization: Fp8Quantization | undefined, source: string): [number, number] | null {
  if (quantization == null) return null;
  // Only DeepSeek-V3's block FP8 is read; GPTQ, AWQ and the like store other tensors and would be misread.
  if (quantization.quant_method != null && quantization.quant_method !== 'fp8') {
    throw fileError(source, 'config-field', `quantization_config quant_method ${JSON.stringify(quantization.quant_method)} is not supported (only "fp8" with e4m3 blocks)`);
  }
  if (quantization.fmt != null && quantization.fmt !== 'e4m3') throw fileError(source, 'config-field', `quantization_config fmt ${JSON.stringify(quantization.fmt)} is not supported (only "e4m3")`);
  const block = quantization.weight_block_size ?? [128, 128];
  if (!Array.isArray(block) || block.length !== 2 || block.some((b) => typeof b !== 'number' || !Number.isInteger(b) || b < 1)) {
    throw fileError(source, 'config-field', `field "quantization_config.weight_block_size" must be two positive integers, found ${JSON.stringify(block)}`);
  }
  return [block[0], block[1]];
}

/** The forward pass's shapes: whole even head dims, query heads in whole groups per kv head. */
function validateForward(config: ModelConfig, source: string): void {
  const { attention, hiddenSize } = config;
  const fail = (problem: string) => fileError(source, 'config-field', problem);
  if (attention.kind === 'mha') {
    if (!Number.isInteger(attention.headDim) || attention.headDim % 2 !== 0) throw fail(`hidden_size ${hiddenSize} and num_attention_heads ${attention.numHeads} give an odd or fractional head dim ${attention.headDim}`);
    if (attention.numKvHeads === 0 || attention.numHeads % attention.numKvHeads !== 0) throw fail(`num_attention_heads ${attention.numHeads} is not a multiple of num_key_value_heads ${attention.numKvHeads}`);
  } else if (attention.qkRopeHeadDim % 2 !== 0) {
    throw fail(`qk_rope_head_dim ${attention.qkRopeHeadDim} must be even`);
  }
}

/** The router can pick K experts: K within E, sigmoid exactly with noaux_tc, groups that split E and hold K. */
function validateRouting(config: MoeConfig, source: string): void {
  const fail = (problem: string) => fileError(source, 'config-field', problem);
  if (config.nRoutedExperts > 0 && (config.topK < 1 || config.topK > config.nRoutedExperts)) {
    throw fail(`num_experts_per_tok ${config.topK} must be between 1 and the ${config.nRoutedExperts} routed experts`);
  }
  if (config.scoringFunc === 'sigmoid' && config.topkMethod !== 'noaux_tc') throw fail(`scoring_func sigmoid needs topk_method noaux_tc, found ${config.topkMethod}`);
  if (config.topkMethod === 'noaux_tc' && config.scoringFunc !== 'sigmoid') throw fail(`topk_method noaux_tc needs scoring_func sigmoid, found ${config.scoringFunc}`);
  if (config.topkMethod !== 'greedy') {
    const { nGroup: G, topkGroup } = config;
    if (G < 1 || config.nRoutedExperts % G !== 0) throw fail(`n_group ${G} does not divide n_routed_experts ${config.nRoutedExperts}`);
    if (topkGroup < 1 || topkGroup > G) throw fail(`topk_group ${topkGroup} must be between 1 and n_group ${G}`);
    if ((config.nRoutedExperts / G) * topkGroup < config.topK) throw fail(`topk_group ${topkGroup} groups of ${config.nRoutedExperts / G} experts hold fewer than num_experts_per_tok ${config.topK}`);
  }
}

export function isMoeLayer(config: MoeConfig, layer: number): boolean {
  return config.layerKinds[layer] === 'moe';
}

export function moeLayers(config: MoeConfig): number[] {
  return config.layerKinds.flatMap((kind, l) => (kind === 'moe' ? [l] : []));
}
