import { minimumCostAssignment } from './hungarian.js';

/**
 * Migration cost of moving from plan A to plan B (analyses.md, "Serving what-ifs"): a GPU keeps what it
 * already holds and loads the rest, so per GPU and layer it loads the multiset difference of B's experts
 * minus A's. Plans here are per-layer `phy2log` rows with the same GPU count; GPU g holds slots
 * g*R/D .. (g+1)*R/D-1 (R may differ between A and B).
 */

/**
 * Replicas GPU `toGpu` of B would make GPU `fromGpu` of A load, summed over the layers. With
 * toGpu = fromGpu this is the move without relabelling.
 */
export function replicasToLoad(from: number[][], to: number[][], gpus: number, fromGpu: number, toGpu: number): number {
  let moved = 0;
  const held = new Map<number, number>();
  from.forEach((fromRow, layer) => {
    held.clear();
    const fromPerGpu = fromRow.length / gpus;
    for (let slot = fromGpu * fromPerGpu; slot < (fromGpu + 1) * fromPerGpu; slot++) held.set(fromRow[slot], (held.get(fromRow[slot]) ?? 0) + 1);
    const toRow = to[layer];
    const toPerGpu = toRow.length / gpus;
    for (let slot = toGpu * toPerGpu; slot < (toGpu + 1) * toPerGpu; slot++) {
      const copies = held.get(toRow[slot]) ?? 0;
      if (copies > 0) held.set(toRow[slot], copies - 1);
      else moved += 1;
    }
  });
  return moved;
}

/** Per GPU g: the replicas it loads when it takes B's GPU gpuMap[g] (identity by default: no relabelling). */
export function movedReplicasPerGpu(from: number[][], to: number[][], gpus: number, gpuMap?: number[]): number[] {
  if (from.length !== to.length) throw new RangeError(`movedReplicasPerGpu: ${from.length} layers against ${to.length}`);
  return Array.from({ length: gpus }, (_, g) => replicasToLoad(from, to, gpus, g, gpuMap ? gpuMap[g] : g));
}

/**
 * The relabelling of B's GPUs that moves the fewest replicas while keeping the node structure (GPUs of one
 * node stay together on one node): for every pair (A's node m, B's node n) the best assignment of n's GPUs
 * to m's, then the best assignment of B's nodes to A's nodes over those costs, both by the Hungarian
 * method with ties to the lower index. Returns gpuMap: GPU g of A takes the experts of B's GPU gpuMap[g].
 */
export function relabelToMoveLeast(from: number[][], to: number[][], gpus: number, nodes: number): number[] {
  const perNode = gpus / nodes;
  if (!Number.isInteger(perNode)) throw new RangeError(`relabelToMoveLeast: ${gpus} GPUs do not split into ${nodes} nodes`);
  const cost = Array.from({ length: gpus }, (_, a) => Array.from({ length: gpus }, (_, b) => replicasToLoad(from, to, gpus, a, b)));
  const within = Array.from({ length: nodes }, (_, m) =>
    Array.from({ length: nodes }, (_, n) => minimumCostAssignment(Array.from({ length: perNode }, (_, a) => Array.from({ length: perNode }, (_, b) => cost[m * perNode + a][n * perNode + b])))),
  );
  const nodeMap = minimumCostAssignment(within.map((row) => row.map((best) => best.total))).assignment;
  const gpuMap = new Array<number>(gpus);
  nodeMap.forEach((n, m) => within[m][n].assignment.forEach((b, a) => (gpuMap[m * perNode + a] = n * perNode + b)));
  return gpuMap;
}
