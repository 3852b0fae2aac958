/**
 * What `moe-inspect info` reports about a model folder, from config.json and the safetensors headers only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Checkpoint } from '../loaders/checkpoint.js';
import { isMoeLayer, readModelConfig } from './config.js';
import { tensorNames } from './tensor-names.js';

export interface ModelInfo {
  dir: string;
  modelType: string;
  architectures: string[];
  layers: { total: number; dense: number[]; moe: number[] };
  attention: { kind: string; heads: number; kvHeads: number; headDim: number };
  experts: { routed: number; shared: number; perToken: number; intermediateSize: number };
  routing: { scoring: string; method: string; groups: number; topkGroup: number; normTopkProb: boolean; routedScalingFactor: number };
  hiddenSize: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  parameters: { total: number; activePerToken: number; routedExperts: number };
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
    for (const name of checkpoint.names()) {
      const info = checkpoint.info(name);
      // An FP8 weight's `<name>_scale_inv` holds its block scales: bytes on disk, but no parameters of the model.
      const isScale = name.endsWith('_scale_inv') && checkpoint.has(name.slice(0, -'_scale_inv'.length));
      if (!isScale) total += info.shape.reduce((a, b) => a * b, 1);
      const entry = (dtypes[info.dtype] ??= { tensors: 0, bytes: 0 });
      entry.tensors++;
      entry.bytes += info.byteLength;
    }
    const layers = Array.from({ length: config.numLayers }, (_, l) => l);
    const moe = layers.filter((l) => isMoeLayer(config, l));
    // A token runs K of the E routed experts of each MoE layer, and everything else.
    const expertParams = (l: number, e: number) => {
      const n = tensorNames(config).layer(l);
      return [n.expertGate(e), n.expertUp(e), n.expertDown(e)].reduce((sum, name) => sum + checkpoint.info(name).shape.reduce((a, b) => a * b, 1), 0);
    };
    const routedPerLayer = moe.map((l) => ({ l, perExpert: expertParams(l, 0) }));
    const routed = routedPerLayer.reduce((sum, { perExpert }) => sum + perExpert * config.nRoutedExperts, 0);
    const inactive = routedPerLayer.reduce((sum, { perExpert }) => sum + perExpert * (config.nRoutedExperts - config.topK), 0);
    return {
      dir: path.resolve(dir),
      modelType: config.modelType,
      architectures: (config.raw.architectures as string[] | undefined) ?? [],
      layers: { total: config.numLayers, dense: layers.filter((l) => !isMoeLayer(config, l)), moe },
      attention: { kind: config.attention.kind === 'mla' ? 'multi-head latent attention, interleaved RoPE' : 'multi-head attention, rotate-half RoPE', heads: config.attention.numHeads, kvHeads: config.attention.kind === 'mha' ? config.attention.numKvHeads : config.attention.numHeads, headDim: config.attention.kind === 'mha' ? config.attention.headDim : config.attention.vHeadDim },
      experts: { routed: config.nRoutedExperts, shared: config.nSharedExperts, perToken: config.topK, intermediateSize: config.moeIntermediateSize },
      routing: {
        scoring: config.scoringFunc,
        method: config.topkMethod,
        groups: config.nGroup,
        topkGroup: config.topkGroup,
        normTopkProb: config.normTopkProb,
        routedScalingFactor: config.routedScalingFactor,
      },
      hiddenSize: config.hiddenSize,
      vocabSize: config.vocabSize,
      maxPositionEmbeddings: config.maxPositionEmbeddings,
      parameters: { total, activePerToken: total - inactive, routedExperts: routed },
      dtypes,
      shards: checkpoint.shards.map((file) => ({ file: path.basename(file), bytes: fs.statSync(file).size })),
      bytesOnDisk: checkpoint.totalBytes,
    };
  } finally {
    checkpoint.close();
  }
}
