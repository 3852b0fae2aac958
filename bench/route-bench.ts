/**
 * Routing benchmarks: `route` on checkpoints with real widths cut to a few layers, with the bundled demo prompts.
 *  - deepseek-moe-16b, 4 layers (1 dense, 3 MoE), bf16, at 512 and 2048 tokens per chunk (issues 2 and 13);
 *  - deepseek-v3, 5 layers (3 dense, 2 MoE of 256 FP8 experts, ~28 GB on disk, ~45 GB in fp32 each), whose
 *    MoE layers are streamed one expert at a time; at 2048 tokens per chunk on the first prompts (issues 3
 *    and 13: routing never needs the last MoE layer's experts, so two MoE layers keep one expert layer run).
 * Figures are ratios measured in one run: achieved GFLOP/s over the f32 MatMul ceiling measured by the same
 * process, and peak RSS against the target.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assetPath } from '../src/assets.js';
import { isMoeLayer, readModelConfig, type ModelConfig } from '../src/models/config.js';
import { attentionTensors } from '../src/models/tensor-names.js';
import { routeDefaults } from '../src/route/route.js';
import { readPrompts } from '../src/loaders/prompts.js';
import { PromptTokenizer } from '../src/loaders/tokenizer.js';
import { ffnKindOf, layersToRun, layerWeightBytes, routedExpertValues, type FfnKind } from '../src/runtime/layer-weights.js';
import { openTrace } from '../src/trace.js';
import { synthesize, type SynthOptions } from '../src/synth/synth.js';

export interface RouteScenario {
  name: string;
  preset: string;
  layers: number;
  dtype: NonNullable<SynthOptions['dtype']>;
  batchTokens: number[];
  /** Chunk sizes routed again with --speculate, to show what its extra router product per MoE layer costs. */
  speculate?: number[];
  /** Demo prompts used, from the first (all when undefined). */
  promptCount?: number;
  /** Peak RSS the run must stay under. */
  rssTargetBytes(config: ModelConfig): number;
}

export const routeScenarios: RouteScenario[] = [
  {
    name: 'deepseek-moe-16b shapes, 4 layers (1 dense + 3 MoE), bf16',
    preset: 'deepseek-moe-16b',
    layers: 4,
    dtype: 'bf16',
    batchTokens: [512, 2048],
    speculate: [2048],
    // Two layers' fp32 weights (the one running and the one loading) and 1 GB for activations.
    rssTargetBytes: (config) => 2 * layerWeightBytes(config, config.firstKDenseReplace, 'moe') + 1e9,
  },
  {
    name: 'deepseek-v3 shapes, 5 layers (3 dense + 2 MoE of 256 experts, streamed), FP8',
    preset: 'deepseek-v3',
    layers: 5,
    dtype: 'fp8',
    batchTokens: [2048],
    promptCount: 100,
    rssTargetBytes: () => 8e9,
  },
];

export interface RouteBenchRow {
  batchTokens: number;
  speculate: boolean;
  tokens: number;
  tokensPerSecond: number;
  gflops: number;
  ceilingGflops: number;
  ratio: number;
  wallSeconds: number;
  /** The route process's own time from its start to the end of routing. */
  processSeconds: number;
  loadSeconds: number;
  openSeconds: number;
  /** fp32 values produced per second by loading and converting weights. */
  loadGValuesPerSecond: number;
  peakRssBytes: number;
  rssTargetBytes: number;
}

/** The PyTorch eager fp32 forward of the same model and tokens (bench/torch-baseline.py), or why it did not run. */
export type TorchBaseline =
  | { skipped: string }
  | { processSeconds: number; forwardSeconds: number; batch: [number, number]; tokens: number; peakRssBytes: number; routingAgreement: number };

export async function routeBench(
  workDir: string,
  scenario: RouteScenario,
  log: (line: string) => void,
): Promise<{ rows: RouteBenchRow[]; diskBytes: number; model: string; torch: TorchBaseline }> {
  const model = path.join(workDir, `${scenario.preset}-${scenario.layers}l-${scenario.dtype}`);
  if (!fs.existsSync(path.join(model, 'config.json'))) {
    log(`synthesizing ${model} (${scenario.preset}, ${scenario.layers} layers, ${scenario.dtype}) ...`);
    await synthesize({ preset: scenario.preset, out: model, layers: scenario.layers, dtype: scenario.dtype, seed: 1, force: true });
  }
  const config = readModelConfig(model);
  const prompts = path.join(workDir, `prompts-${scenario.promptCount ?? 'all'}.txt`);
  const demo = fs.readFileSync(assetPath('prompts', 'demo.txt'), 'utf8').split('\n').filter((line) => line.trim() !== '');
  fs.writeFileSync(prompts, `${demo.slice(0, scenario.promptCount ?? demo.length).join('\n')}\n`);
  const kindOf = ffnKindOf(config, routeDefaults.expertBudgetBytes);

  const rows: RouteBenchRow[] = [];
  let torch: TorchBaseline = { skipped: 'not run' };
  let diskBytes = folderBytes(model);
  const runs = [...scenario.batchTokens.map((batchTokens) => ({ batchTokens, speculate: false })), ...(scenario.speculate ?? []).map((batchTokens) => ({ batchTokens, speculate: true }))];
  for (const { batchTokens, speculate } of runs) {
    log(`routing ${path.basename(prompts)} at ${batchTokens} tokens per chunk${speculate ? ', speculating' : ''} ...`);
    const out = path.join(workDir, `bench-${batchTokens}.trace.safetensors`);
    fs.rmSync(out, { force: true });
    fs.rmSync(`${out}.partial`, { recursive: true, force: true });
    const started = performance.now();
    const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'route-child.js');
    const output = execFileSync(process.execPath, [child, model, prompts, String(batchTokens), out, ...(speculate ? ['--speculate'] : [])], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const wallSeconds = (performance.now() - started) / 1000;
    const result = JSON.parse(output.trim().split('\n').pop()!);
    if (!speculate && batchTokens === scenario.batchTokens[scenario.batchTokens.length - 1]) diskBytes += fs.statSync(out).size;

    // Every layer's run counts, the first of each kind with its session's one-time set-up (small next to a layer).
    const layerRuns = result.runs as Array<{ layer: number; tokens: number; attentionPairs: number; seconds: number }>;
    const seconds = layerRuns.reduce((sum, r) => sum + r.seconds, 0);
    // The useful work only: a speculating run's extra router product counts as cost, not as FLOP/s.
    const flops = layerRuns.reduce((sum, r) => sum + layerFlops(config, kindOf(r.layer), r.layer, r.tokens, r.attentionPairs), 0);
    const routedTokens = layerRuns.reduce((sum, r) => sum + r.tokens, 0) / layersToRun(config);
    const passes = layerRuns.filter((r) => r.layer === 0).length;
    // Streamed experts are loaded once per pass, like every other weight.
    const layerValues = (l: number) => layerWeightBytes(config, l, kindOf(l)) / 4 + (kindOf(l) === 'moe-streamed' ? routedExpertValues(config) : 0);
    const loadedValues = passes * Array.from({ length: layersToRun(config) }, (_, l) => layerValues(l)).reduce((a, b) => a + b, 0);
    const gflops = flops / seconds / 1e9;
    // Measured by the same process right after routing, so both figures see the same machine load.
    const ceilingGflops: number = result.ceilingGflops;
    rows.push({
      batchTokens,
      speculate,
      tokens: result.tokens,
      tokensPerSecond: routedTokens / seconds,
      gflops,
      ceilingGflops,
      ratio: gflops / ceilingGflops,
      wallSeconds,
      processSeconds: result.processSeconds,
      loadSeconds: result.load,
      openSeconds: result.open,
      loadGValuesPerSecond: loadedValues / result.load / 1e9,
      peakRssBytes: result.maxRssBytes,
      rssTargetBytes: scenario.rssTargetBytes(config),
    });
    if (!speculate && batchTokens === scenario.batchTokens[scenario.batchTokens.length - 1]) torch = torchBaseline(model, prompts, out, workDir, log);
    fs.rmSync(out, { force: true });
  }
  return { rows, diskBytes, model, torch };
}

/**
 * Runs bench/torch-baseline.py on the model and the same tokens as `route` (same tokenizer, BOS added), timing the
 * whole process from outside, and compares its chosen experts with the trace `route` wrote.
 */
function torchBaseline(model: string, prompts: string, trace: string, workDir: string, log: (line: string) => void): TorchBaseline {
  const python = ['python3', '/usr/bin/python3'].find((exe) => spawnSync(exe, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0);
  if (!python) return { skipped: 'no python3 with torch and numpy (Debian: apt-get install python3-torch)' };
  const tokenizer = PromptTokenizer.load(model);
  const ids = readPrompts(prompts).map((p) => tokenizer.encode(p.text, { addBos: true }).ids);
  const tokensFile = path.join(workDir, 'torch-tokens.json');
  fs.writeFileSync(tokensFile, JSON.stringify(ids));
  log(`PyTorch baseline (${python}) on the same ${ids.length} prompts ...`);
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'torch-baseline.py');
  const started = performance.now();
  const run = spawnSync(python, [script, model, tokensFile], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const processSeconds = (performance.now() - started) / 1000;
  if (run.status !== 0) return { skipped: `torch-baseline.py failed: ${(run.stderr ?? '').trim().split('\n').pop()}` };
  const result = JSON.parse(run.stdout.trim().split('\n').pop()!);
  if (result.skipped) return { skipped: result.skipped };

  // Same set of experts at every real token and MoE layer: how often.
  const opened = openTrace(trace);
  const K = opened.k;
  const ours = opened.readTopkIds(0, opened.nTokens);
  const L = opened.layers.length;
  let agree = 0;
  (result.topkIds as number[][][]).forEach((perToken, slot) =>
    perToken.forEach((theirs, t) => {
      const mine = Array.from(ours.subarray((t * L + slot) * K, (t * L + slot + 1) * K)).sort((a, b) => a - b);
      if ([...theirs].sort((a, b) => a - b).every((e, j) => e === mine[j])) agree++;
    }),
  );
  opened.close();
  return { processSeconds, forwardSeconds: result.forwardSeconds, batch: result.batch, tokens: result.tokens, peakRssBytes: result.maxRssBytes, routingAgreement: agree / (L * opened.nTokens) };
}

/**
 * The floating-point work routing needs of one layer on a chunk (multiply-adds count 2): attention projections,
 * causal attention over the pairs each prompt needs, router, and dense or routed + shared expert MLPs (none
 * for the last MoE layer, whose router alone runs).
 */
export function layerFlops(config: ModelConfig, kind: FfnKind, layer: number, tokens: number, attentionPairs: number): number {
  const { hiddenSize: H, intermediateSize: I, moeIntermediateSize: Im, nRoutedExperts: E, sharedIntermediateSize: S, topK: K, attention: att } = config;
  const projectionWeights = attentionTensors(config, layer).filter((t) => t.shape.length === 2).reduce((sum, t) => sum + t.shape[0] * t.shape[1], 0);
  const projections = 2 * projectionWeights * tokens;
  // q·k over the key width, then p·v over the value width, per head and (query, key) pair.
  const [keyWidth, valueWidth] = att.kind === 'mha' ? [att.headDim, att.headDim] : [att.qkNopeHeadDim + att.qkRopeHeadDim, att.vHeadDim];
  const attention = 2 * att.numHeads * (keyWidth + valueWidth) * attentionPairs;
  const ffn = kind === 'router' ? 2 * H * E * tokens : isMoeLayer(config, layer) ? (2 * H * E + 3 * 2 * H * (Im * K + S)) * tokens : 3 * 2 * H * I * tokens;
  return projections + attention + ffn;
}

function folderBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((sum, name) => sum + fs.statSync(path.join(dir, name)).size, 0);
}

