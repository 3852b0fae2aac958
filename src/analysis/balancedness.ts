import { InputError } from '../errors.js';

/**
 * GPU balancedness as SGLang and vLLM log it (analyses.md, "Load and imbalance"): mean GPU load / max GPU
 * load, 1 when every GPU carries the same. A GPU's load is the sum over the replicas it holds, and a replica
 * of expert i carries load_i / c_i when expert i has c_i replicas (the engines spread an expert's tokens
 * over its replicas).
 */

/** Where one layer's experts sit: slot s holds expert phy2log[s]; GPU g holds slots g*R/D .. (g+1)*R/D-1. */
export interface Placement {
  phy2log: number[];
  gpus: number;
}

/**
 * The placement the engines use without EPLB (SGLang's "trivial" expert location, vLLM's initial map):
 * slot s holds expert s mod E. With as many slots as experts this is the contiguous split, E/D per GPU.
 */
export function trivialPlacement(experts: number, replicas: number, gpus: number): Placement {
  if (replicas < experts || replicas % gpus !== 0) {
    throw new InputError(`cannot place ${experts} experts in ${replicas} slots on ${gpus} GPUs (slots must cover the experts and split evenly)`, 'placement-shape');
  }
  return { phy2log: Array.from({ length: replicas }, (_, slot) => slot % experts), gpus };
}

/** analyses.md's default placement: experts split contiguously, E/D per GPU. */
export function contiguousPlacement(experts: number, gpus: number): Placement {
  if (experts % gpus !== 0) {
    throw new InputError(`${experts} experts do not split evenly over ${gpus} GPUs`, 'placement-shape');
  }
  return trivialPlacement(experts, experts, gpus);
}

/** Load carried by each GPU under `placement`, for one layer's per-expert `load`. */
export function gpuLoads(load: number[], { phy2log, gpus }: Placement): number[] {
  const replicas = new Array<number>(load.length).fill(0);
  for (const expert of phy2log) {
    if (!(expert >= 0 && expert < load.length)) {
      throw new InputError(`placement names expert ${expert}, but the load has ${load.length} experts`, 'placement-expert');
    }
    replicas[expert] += 1;
  }
  replicas.forEach((count, expert) => {
    if (count === 0 && load[expert] > 0) {
      throw new InputError(`expert ${expert} carries load ${load[expert]} but has no slot in the placement`, 'placement-missing-expert');
    }
  });
  const slotsPerGpu = phy2log.length / gpus;
  const perGpu = new Array<number>(gpus).fill(0);
  phy2log.forEach((expert, slot) => (perGpu[Math.floor(slot / slotsPerGpu)] += load[expert] / replicas[expert]));
  return perGpu;
}

/** Mean GPU load / max GPU load; NaN when the layer has no load at all (nothing to balance). */
export function gpuBalancedness(load: number[], placement: Placement): number {
  const perGpu = gpuLoads(load, placement);
  const max = Math.max(...perGpu);
  const mean = perGpu.reduce((a, b) => a + b, 0) / perGpu.length;
  return max > 0 ? mean / max : NaN;
}
