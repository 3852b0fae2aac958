/**
 * Routing benchmark (issue 2): `route` on a deepseek-moe-16b-shaped checkpoint cut to 3 layers (1 dense,
 * 2 MoE, real widths, bf16) with the bundled demo prompts, at 512 and 2048 tokens per chunk.
 * Figures are ratios measured in this one run: achieved GFLOP/s over the f32 MatMul ceiling measured here.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assetPath } from '../src/assets.js';
import { isMoeLayer, readModelConfig, type ModelConfig } from '../src/models/config.js';
import { attentionTensors } from '../src/models/tensor-names.js';
import { routeDefaults } from '../src/route/route.js';
import { ffnKindOf, layerWeightBytes } from '../src/runtime/layer-weights.js';
import { synthesize } from '../src/synth/synth.js';

export interface RouteBenchRow {
  batchTokens: number;
  tokens: number;
  tokensPerSecond: number;
  gflops: number;
  ceilingGflops: number;
  ratio: number;
  wallSeconds: number;
  loadSeconds: number;
  openSeconds: number;
  loadGBps: number;
  peakRssBytes: number;
  rssTargetBytes: number;
}

export async function routeBench(workDir: string, log: (line: string) => void): Promise<{ rows: RouteBenchRow[]; diskBytes: number; model: string }> {
  const model = path.join(workDir, 'deepseek-moe-16b-3l-bf16');
  if (!fs.existsSync(path.join(model, 'config.json'))) {
    log(`synthesizing ${model} (deepseek-moe-16b, 3 layers, bf16) ...`);
    await synthesize({ preset: 'deepseek-moe-16b', out: model, layers: 3, dtype: 'bf16', seed: 1, force: true });
  }
  const config = readModelConfig(model);
  const prompts = assetPath('prompts', 'demo.txt');

  const rows: RouteBenchRow[] = [];
  let diskBytes = folderBytes(model);
  for (const batchTokens of [512, 2048]) {
    log(`routing the demo prompts at ${batchTokens} tokens per chunk ...`);
    const out = path.join(workDir, `bench-${batchTokens}.trace.safetensors`);
    fs.rmSync(out, { force: true });
    fs.rmSync(`${out}.partial`, { recursive: true, force: true });
    const started = performance.now();
    const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'route-child.js');
    const output = execFileSync(process.execPath, [child, model, prompts, String(batchTokens), out], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const wallSeconds = (performance.now() - started) / 1000;
    const result = JSON.parse(output.trim().split('\n').pop()!);
    if (batchTokens === 2048) diskBytes += fs.statSync(out).size;

    // Steady state: the first layer of each kind pays onnxruntime's one-time set-up of its sessions, so it is left out.
    const kindOf = ffnKindOf(config, routeDefaults.expertBudgetBytes);
    const seen = new Set<string>();
    const steady = (result.runs as Array<{ layer: number; tokens: number; attentionPairs: number; seconds: number }>).filter((r) => {
      if (seen.has(kindOf(r.layer))) return true;
      seen.add(kindOf(r.layer));
      return false;
    });
    const seconds = steady.reduce((sum, r) => sum + r.seconds, 0);
    const flops = steady.reduce((sum, r) => sum + layerFlops(config, r.layer, r.tokens, r.attentionPairs), 0);
    const steadyTokens = steady.reduce((sum, r) => sum + r.tokens, 0) / config.numLayers;
    const loadedBytes = Array.from({ length: config.numLayers }, (_, l) => layerWeightBytes(config, l, kindOf(l)) / 2).reduce((a, b) => a + b, 0);
    const gflops = flops / seconds / 1e9;
    // Measured by the same process right after routing, so both figures see the same machine load.
    const ceilingGflops: number = result.ceilingGflops;
    rows.push({
      batchTokens,
      tokens: result.tokens,
      tokensPerSecond: steadyTokens / seconds,
      gflops,
      ceilingGflops,
      ratio: gflops / ceilingGflops,
      wallSeconds,
      loadSeconds: result.load,
      openSeconds: result.open,
      loadGBps: loadedBytes / result.load / 1e9,
      peakRssBytes: result.maxRssBytes,
      rssTargetBytes: 2 * layerWeightBytes(config, config.firstKDenseReplace, kindOf(config.firstKDenseReplace)) + 1e9,
    });
    fs.rmSync(out, { force: true });
  }
  return { rows, diskBytes, model };
}

/**
 * The real floating-point work of one layer on a chunk (multiply-adds count 2): attention projections,
 * causal attention over the pairs each prompt needs, router, and dense or routed + shared expert MLPs.
 */
export function layerFlops(config: ModelConfig, layer: number, tokens: number, attentionPairs: number): number {
  const { hiddenSize: H, intermediateSize: I, moeIntermediateSize: Im, nRoutedExperts: E, sharedIntermediateSize: S, topK: K, attention: att } = config;
  const projectionWeights = attentionTensors(config, layer).filter((t) => t.shape.length === 2).reduce((sum, t) => sum + t.shape[0] * t.shape[1], 0);
  const projections = 2 * projectionWeights * tokens;
  // q·k over the key width, then p·v over the value width, per head and (query, key) pair.
  const [keyWidth, valueWidth] = att.kind === 'mha' ? [att.headDim, att.headDim] : [att.qkNopeHeadDim + att.qkRopeHeadDim, att.vHeadDim];
  const attention = 2 * att.numHeads * (keyWidth + valueWidth) * attentionPairs;
  const ffn = isMoeLayer(config, layer) ? (2 * H * E + 3 * 2 * H * (Im * K + S)) * tokens : 3 * 2 * H * I * tokens;
  return projections + attention + ffn;
}

function folderBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((sum, name) => sum + fs.statSync(path.join(dir, name)).size, 0);
}

