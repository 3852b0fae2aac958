import type { Placement } from './balancedness.js';
import type { ReplicaBuckets } from './distinct-per-token.js';

/**
 * GPUs (nodes) per token (analyses.md): how many distinct GPUs (nodes) a token's K experts live on under a
 * placement, which is how many all-to-all messages the token costs. GPU g holds slots g*R/D .. (g+1)*R/D-1
 * and node n holds GPUs n*D/N .. (n+1)*D/N-1. Counted by DistinctPerTokenCounter with these buckets.
 */

/** Per layer and expert: the GPU of each of its replicas. */
export function gpuBuckets(placements: Placement[], experts: number): ReplicaBuckets {
  return placements.map(({ phy2log, gpus }) => {
    const slotsPerGpu = phy2log.length / gpus;
    const perExpert: number[][] = Array.from({ length: experts }, () => []);
    phy2log.forEach((expert, slot) => perExpert[expert].push(Math.floor(slot / slotsPerGpu)));
    const missing = perExpert.findIndex((list) => list.length === 0);
    if (missing >= 0) throw new RangeError(`gpuBuckets: expert ${missing} has no slot in the placement`);
    return perExpert;
  });
}

/** The same replicas, each named by its GPU's node. */
export function nodeBuckets(gpu: ReplicaBuckets, gpus: number, nodes: number): ReplicaBuckets {
  if (gpus % nodes !== 0) throw new RangeError(`nodeBuckets: ${gpus} GPUs do not split over ${nodes} nodes`);
  const gpusPerNode = gpus / nodes;
  return gpu.map((perExpert) => perExpert.map((list) => list.map((g) => Math.floor(g / gpusPerNode))));
}
