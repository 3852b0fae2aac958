import { fileError, InputError } from '../errors.js';
import type { LoadMatrix } from '../loaders/load-matrix.js';
import { parseMoeConfig, type MoeConfig } from '../models/config.js';
import type { Trace } from '../trace.js';
import { contiguousPlacement, gpuBalancedness } from './balancedness.js';
import type { Figure, FigureRun, Known, TraceInput } from './figure.js';
import type { OffloadingOptions } from './offloading.js';
import { traceFigures, type FigureResults } from './figures/index.js';
import { orderedRow, type LayerSummary } from './layer-summary.js';
import { ExpertLoadCounter, loadSummary } from './load-stats.js';
import { resamplingDefaults } from './resampling.js';
import { placeLayers, resolveCluster, type Cluster, type ClusterOptions } from './placement.js';
import { streamRouting, type RoutingAccumulator } from './routing-stream.js';
import { tokenRows } from './token-expert-counts.js';

/**
 * Every figure of analyses.md for one input of `report`: a trace (every figure of figures/index.ts) or a
 * load count matrix (the figures counts allow: load, imbalance, balancedness). Plain data: the HTML
 * report, SUMMARY.json and the terminal table are all rendered from it.
 */
export interface InputAnalysis {
  /** How the report names this input. */
  name: string;
  file: string;
  kind: 'trace' | 'load';
  experts: number;
  /** K; traces only. */
  k?: number;
  /** T; traces only. */
  tokens?: number;
  /** Model layer index of each analysed layer; every per-layer array follows this order. */
  layers: number[];
  /** [layers][E] tokens per expert. */
  load: number[][];
  perLayer: LayerSummary[];
  cluster: Cluster;
  /** Model layers shown in detail (co-activation, top tokens); none for a count matrix. */
  detailLayers: number[];
  /** The trace figures, by name (figures/index.ts); none for a count matrix. */
  figures: FigureResults;
  /** What was left out or assumed, and why: shown in the report and on stderr. */
  notes: string[];
}

export interface AnalysisOptions extends ClusterOptions {
  name: string;
  /** Model layers to show in detail (co-activation, top tokens); default: up to 4 spread over depth. */
  detailLayers?: number[];
  blockTokens?: number;
  /** Memory for the per-token-id tables of one pass over the trace. */
  tableBudgetBytes?: number;
  /** Seed of the resampling (shuffled labels); default 0. */
  seed?: number;
  /** Tokens read so far out of the total over all passes. */
  onProgress?: (done: number, total: number) => void;
  /** --cache and --prefetch: the offloading figure, when asked. */
  offloading?: OffloadingOptions;
}

/**
 * Runs every figure of the list over the trace. The first pass counts the expert load (once, for every
 * figure); with EPLB the placement is made from it, so figures that need the placement stream one pass
 * later. Each pass streams the trace once to every figure that reads it in that pass.
 */
export async function analyseTrace(trace: Trace, options: AnalysisOptions): Promise<InputAnalysis> {
  const { name, blockTokens, tableBudgetBytes, onProgress, offloading, seed = resamplingDefaults.seed } = options;
  const { nTokens: T, layers: modelLayers, k: K, nExperts: E } = trace;
  const L = modelLayers.length;
  if (T === 0) throw fileError(trace.file, 'trace-empty', 'trace has no tokens to analyse');
  if (L === 0) throw fileError(trace.file, 'trace-empty', 'trace records no MoE layers');
  const notes: string[] = [];
  const config = traceMoeConfig(trace, notes);
  const { cluster, notes: clusterNotes } = resolveCluster(E, { ...options, groups: options.groups ?? config?.nGroup }, (text) => fileError(trace.file, 'placement-shape', text));
  notes.push(...clusterNotes);
  const detail = detailLayerIndices(modelLayers, options.detailLayers, trace.file);
  const special = trace.hasText ? specialTokens(trace) : undefined;
  if (!special) notes.push('the trace has no token text, so special tokens (BOS) cannot be told apart: they are counted in same-token overlap and token specialization');
  const input: TraceInput = { trace, layers: modelLayers, T, L, K, E, config, cluster, detail, special, rows: tokenRows(trace.tokenIds, special), tableBudgetBytes, offloading, seed, note: (text) => notes.push(text) };

  const loadCounter = new ExpertLoadCounter(L, K, E);
  const known: Known = { load: [], placements: [] };
  const placeByLoad = cluster.replicas !== undefined;
  if (!placeByLoad) known.placements = modelLayers.map(() => contiguousPlacement(E, cluster.gpus));
  const placementPass = placeByLoad ? 1 : 0;

  // Figures start in list order; one that needs the placement starts when it is known.
  const runs: Array<{ firstPass: number; run?: FigureRun<unknown> }> = figureList.map((figure) => ({
    firstPass: figure.needsPlacement ? placementPass : 0,
    run: figure.needsPlacement && placeByLoad ? undefined : figure.start(input, known),
  }));
  // A figure that needs the placement streams at least once, so the total is known before it starts.
  const passes = Math.max(1, ...runs.map(({ firstPass, run }) => firstPass + (run ? run.passes : 1)));

  for (let pass = 0; pass < passes; pass++) {
    if (pass === placementPass && placeByLoad) {
      figureList.forEach((figure, i) => {
        if (figure.needsPlacement) runs[i].run = figure.start(input, known);
      });
    }
    const active = runs.filter(({ firstPass, run }) => run && pass >= firstPass && pass < firstPass + run.passes);
    const accumulators: RoutingAccumulator[] = pass === 0 ? [loadCounter] : [];
    for (const { firstPass, run } of active) accumulators.push(run!.accumulator!(pass - firstPass));
    streamRouting(trace, accumulators, { blockTokens, onBlock: (done) => onProgress?.(pass * T + done, passes * T) });
    if (pass === 0) {
      known.load = modelLayers.map((_, l) => loadCounter.layer(l));
      if (placeByLoad) known.placements = placeLayers(known.load, cluster);
    }
    for (const { firstPass, run } of active) run!.endPass?.(pass - firstPass);
  }

  const figures: Record<string, unknown> = {};
  for (const [i, { run }] of runs.entries()) {
    const result = await run?.finish();
    if (result !== undefined) figures[figureList[i].name] = result;
  }
  const perLayer = modelLayers.map((layer, l) => {
    const row: Partial<LayerSummary> = { trace: name, layer, tokens: T };
    for (const figure of figureList) {
      const result = figures[figure.name];
      if (result !== undefined && figure.summary) Object.assign(row, figure.summary(result, l));
    }
    return orderedRow(row);
  });

  return {
    name,
    file: trace.file,
    kind: 'trace',
    experts: E,
    k: K,
    tokens: T,
    layers: modelLayers,
    load: known.load,
    perLayer,
    cluster,
    detailLayers: detail.map((l) => modelLayers[l]),
    figures: figures as FigureResults,
    notes,
  };
}

/** The list, each figure with its own result type forgotten: analyse only passes results back to their figure. */
const figureList: ReadonlyArray<Figure<string, unknown>> = traceFigures;

/** A count matrix gives load, imbalance and balancedness for its layers with any load. */
export function analyseLoadMatrix(matrix: LoadMatrix, options: AnalysisOptions): InputAnalysis {
  const { name } = options;
  const load = matrix.moeLayers.map((layer) => matrix.counts[layer]);
  const E = load[0].length;
  const { cluster, notes } = resolveCluster(E, options, (text) => fileError(matrix.file, 'placement-shape', text));
  const placements = placeLayers(load, cluster);
  notes.push('a count matrix has no per-token routing: only load, imbalance and balancedness are shown for it');
  const perLayer = load.map((row, l) => orderedRow({ trace: name, layer: matrix.moeLayers[l], ...loadSummary(row), balancedness: gpuBalancedness(row, placements[l]) }));
  return { name, file: matrix.file, kind: 'load', experts: E, layers: matrix.moeLayers, load, perLayer, cluster, detailLayers: [], figures: {}, notes };
}

/** Layers to show in detail, as indices into the trace's layers: the asked model layers, or up to 4 spread over depth. */
export function detailLayerIndices(modelLayers: number[], asked: number[] | undefined, file: string): number[] {
  if (asked === undefined) {
    const picks = modelLayers.length <= 4 ? modelLayers.map((_, i) => i) : [0, 1, 2, 3].map((q) => Math.round((q * (modelLayers.length - 1)) / 3));
    return [...new Set(picks)];
  }
  return asked.map((layer) => {
    const index = modelLayers.indexOf(layer);
    if (index < 0) throw fileError(file, 'usage-layers', `--layers asks for layer ${layer}, but the trace records MoE layers ${modelLayers.join(', ')}`);
    return index;
  });
}

/** special[t] = 1 where token t covers no prompt text: BOS and other added tokens (contract.md, token_text). */
function specialTokens(trace: Trace): Uint8Array {
  const special = new Uint8Array(trace.nTokens);
  for (let t = 0; t < trace.nTokens; t++) if (trace.tokenBytes(t).length === 0) special[t] = 1;
  return special;
}

/**
 * The model's routing as route reads it, from the config.json the trace carries (models/config.ts); undefined,
 * with a note, where that cannot be read (a trace made by hand or by another tool).
 */
function traceMoeConfig(trace: Trace, notes: string[]): MoeConfig | undefined {
  try {
    return parseMoeConfig(trace.modelConfig(), `${trace.file}: metadata "model_config"`);
  } catch (error) {
    if (!(error instanceof InputError) || error.code === 'trace-model-config') throw error;
    notes.push(`the model's config.json recorded in the trace cannot be read (${error.message}), so its expert groups and group limit are unknown`);
    return undefined;
  }
}
