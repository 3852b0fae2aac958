import { contiguousPlacement, type Placement } from './balancedness.js';
import { checkPlacementShape, rebalanceExperts } from './eplb.js';
import { plural } from '../plural.js';

/**
 * Where the report's figures put the experts: without replicas, contiguously E/D per GPU (analyses.md's
 * default); with `replicas`, DeepSeek's EPLB plan made from the input's own load. That plan is fitted to
 * the very traffic it is then measured on, so its balancedness is the best case, not a forecast.
 */
export interface ClusterOptions {
  /** D; default 8, or where 8 does not divide E the largest divisor of E below 8. */
  gpus?: number;
  /** N; default 1. */
  nodes?: number;
  /** R physical slots in all (EPLB's num_replicas); default none: no redundant experts, no EPLB. */
  replicas?: number;
  /** EPLB's num_groups; default 1. */
  groups?: number;
}

export interface Cluster {
  gpus: number;
  nodes: number;
  replicas?: number;
  groups: number;
  policy: 'contiguous' | 'hierarchical' | 'global';
}

export const clusterDefaults = { gpus: 8, nodes: 1, groups: 1 };

/** Checks the sizes against E; `problem` builds the error (so it can name the input file). Returns notes on defaults taken. */
export function resolveCluster(experts: number, options: ClusterOptions, problem: (text: string) => Error): { cluster: Cluster; notes: string[] } {
  const { nodes = clusterDefaults.nodes, replicas, groups = clusterDefaults.groups } = options;
  const notes: string[] = [];
  let gpus = options.gpus;
  if (replicas !== undefined) {
    gpus ??= clusterDefaults.gpus;
    const policy = checkPlacementShape({ experts, replicas, groups, nodes, gpus }, (error) => problem(error.message));
    return { cluster: { gpus, nodes, replicas, groups, policy }, notes };
  }
  if (gpus === undefined) {
    gpus = clusterDefaults.gpus;
    while (experts % gpus !== 0) gpus -= 1;
    if (gpus !== clusterDefaults.gpus) notes.push(`${clusterDefaults.gpus} GPUs do not split ${plural(experts, 'expert')} evenly, so the placement uses ${gpus} GPUs (set --gpus to choose)`);
  }
  if (experts % gpus !== 0) throw problem(`--gpus ${gpus} does not divide the ${experts} experts (without --replicas each GPU holds E/D contiguous experts)`);
  if (gpus % nodes !== 0) throw problem(`--gpus ${gpus} is not a multiple of --nodes ${nodes}`);
  return { cluster: { gpus, nodes, groups, policy: 'contiguous' }, notes };
}

/** One placement per layer of `load` ([layers][experts]). */
export function placeLayers(load: number[][], cluster: Cluster): Placement[] {
  const experts = load[0].length;
  if (cluster.replicas === undefined) return load.map(() => contiguousPlacement(experts, cluster.gpus));
  const plan = rebalanceExperts(load, cluster.replicas, cluster.groups, cluster.nodes, cluster.gpus);
  return plan.phy2log.map((phy2log) => ({ phy2log, gpus: cluster.gpus }));
}
