import { gpuBalancedness } from '../analysis/balancedness.js';
import { checkPlacementShape } from '../analysis/eplb.js';
import { InputError } from '../errors.js';
import type { LoadMatrix } from '../loaders/load-matrix.js';
import { planForLoad } from './simulate.js';

/**
 * Redundancy and EP-size sweep (analyses.md, "Serving what-ifs"): for each GPU count D and redundant-expert
 * count R - E, EPLB's balancedness after (mean over the MoE layers) against the expert memory each GPU
 * holds. N = D / gpus-per-node nodes (at least 1). The knee of a D is the smallest R - E reaching 0.99 of
 * that D's best; EPLB is greedy, so more redundancy can give less balance, and every such drop is listed.
 */
export interface SweepOptions {
  gpus: number[];
  redundant: number[];
  gpusPerNode: number;
  groups: number;
  expertBytes?: number;
}

export interface SweepPoint {
  gpus: number;
  redundant: number;
  balancedness: number;
  /** (R / D) x one expert's bytes; null when the bytes are unknown. */
  expert_bytes_per_gpu: number | null;
}

export interface SweepDrop {
  gpus: number;
  /** Going from this many redundant experts ... */
  from_redundant: number;
  /** ... to this many (the next larger value swept) lowered balancedness from `from` to `to`. */
  to_redundant: number;
  from: number;
  to: number;
}

export interface Sweep {
  points: SweepPoint[];
  /** Per D (as a string key): the knee's R - E. */
  knee: Record<string, number>;
  drops: SweepDrop[];
}

/** The fraction of the best balancedness that counts as reaching it. */
export const kneeShare = 0.99;

export function sweepPlacements(load: LoadMatrix, options: SweepOptions): Sweep {
  const rows = load.moeLayers.map((layer) => load.counts[layer]);
  const experts = rows[0].length;
  const redundantSorted = [...new Set(options.redundant)].sort((a, b) => a - b);
  const points: SweepPoint[] = [];
  const knee: Record<string, number> = {};
  const drops: SweepDrop[] = [];
  for (const gpus of [...new Set(options.gpus)].sort((a, b) => a - b)) {
    const nodes = Math.max(1, gpus / options.gpusPerNode);
    if (!Number.isInteger(nodes)) throw new InputError(`--sweep-gpus ${gpus} is not a multiple of --gpus-per-node ${options.gpusPerNode}`, 'sweep-shape');
    const line = redundantSorted.map((redundant) => {
      const replicas = experts + redundant;
      try {
        checkPlacementShape({ experts, replicas, groups: options.groups, nodes, gpus });
      } catch (error) {
        throw new InputError(`sweep point ${gpus} GPUs, ${redundant} redundant: ${(error as Error).message}`, 'sweep-shape');
      }
      const plans = planForLoad(rows, { replicas, groups: options.groups, nodes, gpus });
      const balancedness = rows.reduce((sum, row, i) => sum + gpuBalancedness(row, { phy2log: plans[i], gpus }), 0) / rows.length;
      const point = { gpus, redundant, balancedness, expert_bytes_per_gpu: options.expertBytes === undefined ? null : (replicas / gpus) * options.expertBytes };
      points.push(point);
      return point;
    });
    const best = Math.max(...line.map((point) => point.balancedness));
    knee[String(gpus)] = line.find((point) => point.balancedness >= kneeShare * best)!.redundant;
    line.forEach((point, i) => {
      if (i > 0 && point.balancedness < line[i - 1].balancedness) {
        drops.push({ gpus, from_redundant: line[i - 1].redundant, to_redundant: point.redundant, from: line[i - 1].balancedness, to: point.balancedness });
      }
    });
  }
  return { points, knee, drops };
}
