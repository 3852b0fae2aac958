/**
 * What `moe-inspect info` reports about a model folder, from config.json and the safetensors headers only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Checkpoint } from '../loaders/checkpoint.js';
import { isMoeLayer, moeLayers, readModelConfig, type MhaAttention, type MlaAttention, type ModelConfig, type RopeSettings } from '../models/config.js';
import { expertTensors } from '../models/tensor-names.js';
import { plural } from '../plural.js';

export interface ModelInfo {
  dir: string;
  modelType: string;
  architectures: string[];
  layers: { total: number; dense: number[]; moe: number[] };
  /** The family's attention, as config.json sets it up (MLA ranks and YaRN for DeepSeek V2/V3). */
  attention: (MhaAttention | MlaAttention) & { rope: RopeSettings; description: string };
  experts: { routed: number; shared: number; sharedWidth: number; sharedGated: boolean; perToken: number; intermediateSize: number };
  routing: {
    scoring: string;
    method: string;
    groups: number;
    topkGroup: number;
    normTopkProb: boolean;
    routedScalingFactor: number;
    /** V3: e_score_correction_bias shifts the selection (never the weights). */
    selectionBias: boolean;
    description: string;
  };
  /** quantization_config.weight_block_size of FP8 weights, null when not quantized. */
  fp8BlockSize: [number, number] | null;
  hiddenSize: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  /** notRun: parameters of layers past num_hidden_layers (V3's multi-token-prediction layer), which route skips. */
  parameters: { total: number; activePerToken: number; routedExperts: number; notRun: number };
  dtypes: Record<string, { tensors: number; bytes: number }>;
  shards: Array<{ file: string; bytes: number }>;
  bytesOnDisk: number;
}

export function collectModelInfo(dir: string): ModelInfo {
  const config = readModelConfig(dir);
  const checkpoint = Checkpoint.open(dir);
  try {
    const dtypes: ModelInfo['dtypes'] = {};
    let total = 0;
    let notRun = 0;
    for (const name of checkpoint.names()) {
      const info = checkpoint.info(name);
      // An FP8 weight's `<name>_scale_inv` holds its block scales: bytes on disk, but no parameters of the model.
      const isScale = name.endsWith('_scale_inv') && checkpoint.has(name.slice(0, -'_scale_inv'.length));
      const count = isScale ? 0 : info.shape.reduce((a, b) => a * b, 1);
      const layer = /^model\.layers\.(\d+)\./.exec(name);
      if (layer && Number(layer[1]) >= config.numLayers) notRun += count;
      else total += count;
      const entry = (dtypes[info.dtype] ??= { tensors: 0, bytes: 0 });
      entry.tensors++;
      entry.bytes += info.byteLength;
    }
    const layers = Array.from({ length: config.numLayers }, (_, l) => l);
    const moe = moeLayers(config);
    // A token runs K of the E routed experts of each MoE layer, and everything else.
    const expertParams = (l: number) => expertTensors(config, l, 0).reduce((sum, t) => sum + checkpoint.info(t.name).shape.reduce((a, b) => a * b, 1), 0);
    const routedPerLayer = moe.map((l) => ({ l, perExpert: expertParams(l) }));
    const routed = routedPerLayer.reduce((sum, { perExpert }) => sum + perExpert * config.nRoutedExperts, 0);
    const inactive = routedPerLayer.reduce((sum, { perExpert }) => sum + perExpert * (config.nRoutedExperts - config.topK), 0);
    return {
      dir: path.resolve(dir),
      modelType: config.modelType,
      architectures: (config.raw.architectures as string[] | undefined) ?? [],
      layers: { total: config.numLayers, dense: layers.filter((l) => !isMoeLayer(config, l)), moe },
      attention: { ...config.attention, rope: config.rope, description: describeAttention(config) },
      experts: {
        routed: config.nRoutedExperts,
        shared: config.nSharedExperts,
        sharedWidth: config.sharedIntermediateSize,
        sharedGated: config.sharedExpertGate,
        perToken: config.topK,
        intermediateSize: config.moeIntermediateSize,
      },
      routing: {
        scoring: config.scoringFunc,
        method: config.topkMethod,
        groups: config.nGroup,
        topkGroup: config.topkGroup,
        normTopkProb: config.normTopkProb,
        routedScalingFactor: config.routedScalingFactor,
        selectionBias: config.topkMethod === 'noaux_tc',
        description: describeRouting(config),
      },
      fp8BlockSize: config.fp8BlockSize,
      hiddenSize: config.hiddenSize,
      vocabSize: config.vocabSize,
      maxPositionEmbeddings: config.maxPositionEmbeddings,
      parameters: { total, activePerToken: total - inactive, routedExperts: routed, notRun },
      dtypes,
      shards: checkpoint.shards.map((file) => ({ file: path.basename(file), bytes: fs.statSync(file).size })),
      bytesOnDisk: checkpoint.totalBytes,
    };
  } finally {
    checkpoint.close();
  }
}

/** One line on the attention: MLA ranks and head widths, or heads and kv heads; the RoPE and the softmax scale. */
function describeAttention(config: ModelConfig): string {
  const { attention: att, rope } = config;
  const yarn = rope.yarn ? `, YaRN x${rope.yarn.factor} from ${rope.yarn.originalMaxPositionEmbeddings} (mscale ${rope.yarn.mscale}, mscale_all_dim ${rope.yarn.mscaleAllDim})` : '';
  const ropeText = `${rope.interleaved ? 'interleaved-pair' : 'rotate-half'} RoPE on ${rope.dim} dims, theta ${rope.theta}${yarn}`;
  const scale = `softmax scale ${att.softmaxScale.toFixed(6)}`;
  if (att.kind === 'mla') {
    const q = att.qLoraRank === null ? 'q_proj' : `q_lora_rank ${att.qLoraRank}`;
    return `multi-head latent attention: ${att.numHeads} heads, ${q}, kv_lora_rank ${att.kvLoraRank}, qk nope/rope ${att.qkNopeHeadDim}/${att.qkRopeHeadDim}, v ${att.vHeadDim}; ${ropeText}; ${scale}`;
  }
  const grouped = att.numKvHeads < att.numHeads ? `grouped-query, ${att.numKvHeads} kv heads` : `${att.numKvHeads} kv heads`;
  const extras = [att.qkvBias ? 'q/k/v biases' : '', att.qkNorm ? 'q/k RMSNorm' : ''].filter(Boolean).join(', ');
  return `multi-head attention: ${att.numHeads} heads of ${att.headDim} (${grouped})${extras ? `, ${extras}` : ''}; ${ropeText}; ${scale}`;
}

/** One line on the router, in the order it computes (architecture.md section 5). */
function describeRouting(config: ModelConfig): string {
  const steps = [`${config.scoringFunc} scores`];
  if (config.topkMethod === 'noaux_tc') steps.push('+ fp32 e_score_correction_bias for selection only');
  if (config.topkMethod === 'group_limited_greedy') steps.push(`best ${config.topkGroup} of ${plural(config.nGroup, 'group')} by their top score`);
  if (config.topkMethod === 'noaux_tc') steps.push(`best ${config.topkGroup} of ${plural(config.nGroup, 'group')} by the sum of their top-2 biased scores`);
  steps.push(`top-${config.topK} of ${config.nRoutedExperts}`);
  if (config.normTopkProb) steps.push('weights renormalised');
  if (config.routedScalingFactor !== 1) steps.push(`x${config.routedScalingFactor}`);
  return steps.join(', ');
}
