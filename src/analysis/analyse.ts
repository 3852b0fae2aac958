import { fileError } from '../errors.js';
import type { LoadMatrix } from '../loaders/load-matrix.js';
import type { Trace } from '../trace.js';
import { deviceBalanceLoss, expertBalanceLoss } from './balance-loss.js';
import { contiguousPlacement, gpuBalancedness, type Placement } from './balancedness.js';
import { coactivation, CoactivationCounter, type Coactivation } from './coactivation.js';
import { gpuBuckets, nodeBuckets } from './devices-per-token.js';
import { DistinctPerTokenCounter, type DistinctCount } from './distinct-per-token.js';
import { DomainCounter, type DomainSpecialization } from './domain-specialization.js';
import { groupBuckets, groupLimitFromConfig, groupsPerToken, type GroupLimit, type GroupsPerToken } from './groups-per-token.js';
import { ExpertLoadCounter, loadStats } from './load-stats.js';
import { placeLayers, resolveCluster, type Cluster, type ClusterOptions } from './placement.js';
import { streamRouting, type RoutingAccumulator } from './routing-stream.js';
import { sameTokenOverlap, type SameTokenOverlap } from './same-token-overlap.js';
import { layersPerPass, TokenExpertCounter, tokenRows, type TokenRows } from './token-expert-counts.js';
import { expertTopTokens, tokenSpecialization, type ExpertToken, type TokenExpertShare, type TokenSpecialization } from './token-specialization.js';
import { noun, plural } from '../plural.js';

/**
 * Every figure of analyses.md for one input of `report`: a trace (all figures) or a load count matrix
 * (the figures counts allow: load, imbalance, balancedness). Plain data: the HTML report, SUMMARY.json and
 * the terminal table are all rendered from it.
 */

/** One row of SUMMARY.json's per_layer, keys in contract.md's order; a key whose input is missing is absent. */
export interface LayerSummary {
  trace: string;
  layer: number;
  tokens?: number;
  maxvio: number;
  cv: number;
  entropy: number;
  gini: number;
  dead: number;
  hot_share: number;
  balancedness?: number;
  expert_balance_loss?: number;
  device_balance_loss?: number;
  same_token_overlap?: number;
  groups_per_token?: number;
  gpus_per_token?: number;
}

/** A token as the report shows it: its id and text (undefined where the trace has no token text). */
export interface TokenLabel {
  id: number;
  text?: string;
}

/** Figures kept for a few layers only, because they are E x E or per expert. */
export interface LayerDetail {
  layer: number;
  coactivation?: Coactivation;
  /** Per expert, the tokens it receives most. */
  topTokens?: Array<Array<ExpertToken & { token: TokenLabel }>>;
  mostSpecialized?: Array<TokenExpertShare & { token: TokenLabel }>;
}

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
  /** Model layer index of each analysed layer; every per-layer array below follows this order. */
  layers: number[];
  /** [layers][E] tokens per expert. */
  load: number[][];
  perLayer: LayerSummary[];
  cluster: Cluster;
  devices?: Array<{ gpus: DistinctCount; nodes: DistinctCount }>;
  groups?: { limit: GroupLimit; perLayer: GroupsPerToken[] };
  overlap?: Array<SameTokenOverlap | undefined>;
  tokenSpecialization?: Array<TokenSpecialization | undefined>;
  domain?: { labels: string[]; perLayer: Array<DomainSpecialization | undefined> };
  details: LayerDetail[];
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
  /** Tokens read so far out of the total over all passes. */
  onProgress?: (done: number, total: number) => void;
}

export function analyseTrace(trace: Trace, options: AnalysisOptions): InputAnalysis {
  const { name, blockTokens, tableBudgetBytes, onProgress } = options;
  const { nTokens: T, layers: modelLayers, k: K, nExperts: E } = trace;
  const L = modelLayers.length;
  if (T === 0) throw fileError(trace.file, 'trace-empty', 'trace has no tokens to analyse');
  if (L === 0) throw fileError(trace.file, 'trace-empty', 'trace records no MoE layers');
  const notes: string[] = [];
  const config = trace.modelConfig();
  const { cluster, notes: clusterNotes } = resolveCluster(E, { ...options, groups: options.groups ?? numberField(config, 'n_group') }, (text) => fileError(trace.file, 'placement-shape', text));
  notes.push(...clusterNotes);
  const detail = detailLayerIndices(modelLayers, options.detailLayers, trace.file);

  const special = trace.hasText ? specialTokens(trace) : undefined;
  if (!special) notes.push('the trace has no token text, so special tokens (BOS) cannot be told apart: they are counted in same-token overlap and token specialization');
  const rows = tokenRows(trace.tokenIds, special);
  const perPass = layersPerPass(rows, E, tableBudgetBytes);
  const tableBatches: number[][] = [];
  for (let l = 0; l < L; l += perPass) tableBatches.push(range(l, Math.min(L, l + perPass)));
  // Devices per token need the placement; an EPLB placement needs the load, so it waits for pass 2.
  const devicePass = cluster.replicas === undefined ? 0 : 1;
  const passes = Math.max(tableBatches.length, devicePass + 1);

  const loadCounter = new ExpertLoadCounter(L, K, E);
  const groupLimit = groupLimitOf(config, cluster, E, notes);
  const groupCounter = groupLimit && new DistinctPerTokenCounter(L, K, E, groupBuckets(L, E, groupLimit.nGroup));
  const coactivationCounter = new CoactivationCounter(L, K, E, detail);
  const domainCounter = trace.promptLabels && trace.labels.length > 0 ? new DomainCounter(L, K, E, trace.labels.length, tokenLabels(trace)) : undefined;
  const firstPass: RoutingAccumulator[] = [loadCounter, coactivationCounter];
  if (groupCounter) firstPass.push(groupCounter);
  if (domainCounter) firstPass.push(domainCounter);

  const overlap = new Array<SameTokenOverlap | undefined>(L);
  const specialization = new Array<TokenSpecialization | undefined>(L);
  const details: LayerDetail[] = detail.map((l) => ({ layer: modelLayers[l] }));
  const tokenLabel = (row: number): TokenLabel => ({ id: rows.ids[row], text: trace.hasText ? trace.tokenText(rows.firstToken[row]) : undefined });
  let placements: Placement[] = [];
  let deviceCounters: ReturnType<typeof placementCounters> | undefined;

  for (let pass = 0; pass < passes; pass++) {
    const accumulators: RoutingAccumulator[] = pass === 0 ? [...firstPass] : [];
    if (pass === devicePass) {
      placements = cluster.replicas === undefined ? range(0, L).map(() => contiguousPlacement(E, cluster.gpus)) : placeLayers(range(0, L).map((l) => loadCounter.layer(l)), cluster);
      deviceCounters = placementCounters(placements, L, K, E, cluster);
      accumulators.push(deviceCounters.gpus, deviceCounters.nodes);
    }
    const batch = tableBatches[pass] ?? [];
    const tableCounter = new TokenExpertCounter(rows, trace.tokenIds, special, L, K, E, batch);
    if (batch.length > 0) accumulators.push(tableCounter);
    streamRouting(trace, accumulators, { blockTokens, onBlock: (done) => onProgress?.(pass * T + done, passes * T) });

    batch.forEach((l, c) => {
      const counts = tableCounter.counts[c];
      overlap[l] = sameTokenOverlap(counts, rows, E, K);
      specialization[l] = tokenSpecialization(counts, rows, E);
      const d = detail.indexOf(l);
      if (d >= 0) {
        details[d].topTokens = expertTopTokens(counts, rows, loadCounter.layer(l), T).map((list) => list.map((entry) => ({ ...entry, token: tokenLabel(entry.row) })));
        details[d].mostSpecialized = specialization[l]?.mostSpecialized.map((entry) => ({ ...entry, token: tokenLabel(entry.row) }));
      }
    });
  }
  detail.forEach((l, d) => (details[d].coactivation = coactivation(coactivationCounter.both[d], E, T)));

  const load = range(0, L).map((l) => loadCounter.layer(l));
  const devices = range(0, L).map((l) => ({ gpus: deviceCounters!.gpus.layer(l), nodes: deviceCounters!.nodes.layer(l) }));
  const groups = groupLimit && { limit: groupLimit, perLayer: range(0, L).map((l) => groupsPerToken(groupCounter!.layer(l), groupLimit.topkGroup)) };
  if (groups?.limit.enforced) {
    const bad = groups.perLayer.flatMap((g, l) => (g.violations ? [`layer ${modelLayers[l]}: ${plural(g.violations, 'token')}`] : []));
    if (bad.length > 0) notes.push(`routing breaks the model's group limit (at most ${groups.limit.topkGroup} of ${plural(groups.limit.nGroup, 'group')} per token), which a correct V2/V3 trace never does: ${bad.join('; ')}`);
  }
  if (!trace.hasProbSum) notes.push('the trace has no router_prob_sum, so the DeepSeekMoE balance losses are left out');
  const canDeviceLoss = E % cluster.gpus === 0;
  if (trace.hasProbSum && !canDeviceLoss) notes.push(`${plural(cluster.gpus, 'GPU')} ${noun(cluster.gpus, 'does', 'do')} not split ${plural(E, 'expert')} evenly, so the device-level balance loss is left out`);

  const perLayer = load.map((row, l): LayerSummary => {
    const probSum = trace.routerProbSum?.subarray(l * E, (l + 1) * E);
    return {
      trace: name,
      layer: modelLayers[l],
      tokens: T,
      ...loadSummary(row),
      balancedness: gpuBalancedness(row, placements[l]),
      expert_balance_loss: probSum && expertBalanceLoss(row, probSum, T, K),
      device_balance_loss: probSum && canDeviceLoss ? deviceBalanceLoss(row, probSum, T, K, cluster.gpus) : undefined,
      same_token_overlap: overlap[l]?.overlap,
      groups_per_token: groups?.perLayer[l].mean,
      gpus_per_token: devices[l].gpus.mean,
    };
  });
  const domain = range(0, L).map((l) => domainCounter?.layer(l));
  if (overlap.every((o) => o === undefined)) notes.push('no token id occurs twice, so there is no same-token overlap');

  return {
    name,
    file: trace.file,
    kind: 'trace',
    experts: E,
    k: K,
    tokens: T,
    layers: modelLayers,
    load,
    perLayer: perLayer.map(dropUndefined),
    cluster,
    devices,
    groups,
    overlap,
    tokenSpecialization: specialization,
    domain: domain.some((d) => d !== undefined) ? { labels: trace.labels, perLayer: domain } : undefined,
    details,
    notes,
  };
}

/** A count matrix gives load, imbalance and balancedness for its layers with any load. */
export function analyseLoadMatrix(matrix: LoadMatrix, options: AnalysisOptions): InputAnalysis {
  const { name } = options;
  const load = matrix.moeLayers.map((layer) => matrix.counts[layer]);
  const E = load[0].length;
  const { cluster, notes } = resolveCluster(E, options, (text) => fileError(matrix.file, 'placement-shape', text));
  const placements = placeLayers(load, cluster);
  notes.push('a count matrix has no per-token routing: only load, imbalance and balancedness are shown for it');
  const perLayer = load.map((row, l): LayerSummary => ({ trace: name, layer: matrix.moeLayers[l], ...loadSummary(row), balancedness: gpuBalancedness(row, placements[l]) }));
  return { name, file: matrix.file, kind: 'load', experts: E, layers: matrix.moeLayers, load, perLayer, cluster, details: [], notes };
}

function loadSummary(load: number[]): Pick<LayerSummary, 'maxvio' | 'cv' | 'entropy' | 'gini' | 'dead' | 'hot_share'> {
  const stats = loadStats(load);
  return { maxvio: stats.maxvio, cv: stats.cv, entropy: stats.entropy, gini: stats.gini, dead: stats.dead, hot_share: stats.hotShare };
}

/** Layers to show in detail, as indices into the trace's layers: the asked model layers, or up to 4 spread over depth. */
export function detailLayerIndices(modelLayers: number[], asked: number[] | undefined, file: string): number[] {
  if (asked === undefined) {
    const picks = modelLayers.length <= 4 ? range(0, modelLayers.length) : [0, 1, 2, 3].map((q) => Math.round((q * (modelLayers.length - 1)) / 3));
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

function tokenLabels(trace: Trace): Int32Array {
  const labels = new Int32Array(trace.nTokens);
  for (let p = 0; p < trace.nPrompts; p++) labels.fill(trace.promptLabels![p], trace.promptOffsets[p], trace.promptOffsets[p + 1]);
  return labels;
}

/**
 * The model's own group limit (config.json n_group / topk_group), or else the `--groups` partition without
 * a limit, or nothing when neither splits the experts into several groups.
 */
function groupLimitOf(config: Record<string, unknown>, cluster: Cluster, experts: number, notes: string[]): GroupLimit | undefined {
  const limit = groupLimitFromConfig(config) ?? (cluster.groups > 1 ? { nGroup: cluster.groups, enforced: false } : undefined);
  if (limit && experts % limit.nGroup !== 0) {
    notes.push(`${plural(limit.nGroup, 'group')} ${noun(limit.nGroup, 'does', 'do')} not split ${plural(experts, 'expert')} evenly, so groups per token are left out`);
    return undefined;
  }
  return limit;
}

function placementCounters(placements: Placement[], L: number, K: number, E: number, cluster: Cluster) {
  const gpu = gpuBuckets(placements, E);
  return {
    gpus: new DistinctPerTokenCounter(L, K, E, gpu),
    nodes: new DistinctPerTokenCounter(L, K, E, nodeBuckets(gpu, cluster.gpus, cluster.nodes)),
  };
}

function numberField(config: Record<string, unknown>, key: string): number | undefined {
  const value = config[key];
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

function range(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, i) => start + i);
}

function dropUndefined<T extends object>(row: T): T {
  return Object.fromEntries(Object.entries(row).filter(([, value]) => value !== undefined)) as T;
}
