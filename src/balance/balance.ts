import { gpuBalancedness, trivialPlacement } from '../analysis/balancedness.js';
import { checkPlacementShape, rebalanceExperts } from '../analysis/eplb.js';
import { fileError } from '../errors.js';
import { writeFileAtomically } from '../files.js';
import { readLoadMatrix, type LoadMatrix } from '../loaders/load-matrix.js';

/** The cluster `balance` places experts on (contract.md, `balance`). */
export interface ClusterShape {
  /** R: physical expert slots in all, EPLB's num_replicas (R - E are redundant). */
  replicas: number;
  /** G: expert groups (DeepSeek-V3: n_group = 8). */
  groups: number;
  /** N: server nodes. */
  nodes: number;
  /** D: GPUs in all. */
  gpus: number;
}

/** PLAN.json, key for key as contract.md gives it. */
export interface PlacementPlan {
  policy: 'hierarchical' | 'global';
  replicas: number;
  groups: number;
  nodes: number;
  gpus: number;
  layers: number[];
  phy2log: number[][];
  log2phy: number[][][];
  logcnt: number[][];
  balancedness_before: number[];
  balancedness_after: number[];
  eval?: { load: string; balancedness: number[] };
}

export interface BalanceResult {
  plan: PlacementPlan;
  /** Model layers left out because they carry no load (dense layers). */
  skippedLayers: number[];
}

/**
 * EPLB over the loaded layers of `load`. "Before" is the placement the engines use without EPLB for the same
 * slots (slot s holds expert s mod E; with R = E the contiguous split). With `evalLoad`, the plan made from
 * `load` is also measured on that other traffic.
 */
export function planPlacement(load: LoadMatrix, cluster: ClusterShape, evalLoad?: LoadMatrix): BalanceResult {
  const { replicas, groups, nodes, gpus } = cluster;
  const layers = load.moeLayers;
  const weights = layers.map((layer) => load.counts[layer]);
  const experts = weights[0].length;
  checkPlacementShape({ experts, ...cluster }, (error) => fileError(load.file, error.code, error.message));
  const eplb = rebalanceExperts(weights, replicas, groups, nodes, gpus);

  const before = trivialPlacement(experts, replicas, gpus);
  const plan: PlacementPlan = {
    policy: eplb.policy,
    replicas,
    groups,
    nodes,
    gpus,
    layers,
    phy2log: eplb.phy2log,
    log2phy: eplb.log2phy,
    logcnt: eplb.logcnt,
    balancedness_before: weights.map((row) => gpuBalancedness(row, before)),
    balancedness_after: weights.map((row, i) => gpuBalancedness(row, { phy2log: eplb.phy2log[i], gpus })),
  };
  if (evalLoad) {
    const balancedness = layers.map((layer, i) => gpuBalancedness(evalRow(evalLoad, layer, experts), { phy2log: eplb.phy2log[i], gpus }));
    plan.eval = { load: evalLoad.file, balancedness };
  }
  const skippedLayers = load.counts.flatMap((_, layer) => (layers.includes(layer) ? [] : [layer]));
  return { plan, skippedLayers };
}

function evalRow(evalLoad: LoadMatrix, layer: number, experts: number): number[] {
  const row = evalLoad.counts[layer];
  if (!row) throw fileError(evalLoad.file, 'eval-layer', `has ${evalLoad.counts.length} layers, the plan needs layer ${layer}`);
  if (row.length !== experts) throw fileError(evalLoad.file, 'eval-experts', `has ${row.length} experts per layer, the plan was made for ${experts}`);
  if (!row.some((count) => count > 0)) throw fileError(evalLoad.file, 'eval-no-load', `layer ${layer} has no load to measure the plan on`);
  return row;
}

/** PLAN.json text: one line per layer in the per-layer lists, so the file reads (and diffs) by layer. */
export function formatPlan(plan: PlacementPlan): string {
  const entries = Object.entries(plan).map(([key, value]) => {
    const perLayer = Array.isArray(value) && value.length > 0 && Array.isArray(value[0]);
    const text = perLayer ? `[\n    ${value.map((row: unknown) => JSON.stringify(row)).join(',\n    ')}\n  ]` : JSON.stringify(value);
    return `  ${JSON.stringify(key)}: ${text}`;
  });
  return `{\n${entries.join(',\n')}\n}\n`;
}

export interface BalanceOptions extends ClusterShape {
  out: string;
  eval?: string;
}

/** Reads LOAD (and the evaluation load), plans, and writes PLAN.json atomically. */
export function runBalance(loadFile: string, options: BalanceOptions): BalanceResult {
  const load = readLoadMatrix(loadFile);
  const evalLoad = options.eval === undefined ? undefined : readLoadMatrix(options.eval);
  const result = planPlacement(load, options, evalLoad);
  writeFileAtomically(options.out, formatPlan(result.plan));
  return result;
}
