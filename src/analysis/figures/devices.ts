import { gpuBuckets, nodeBuckets } from '../devices-per-token.js';
import { DistinctPerTokenCounter, type DistinctCount } from '../distinct-per-token.js';
import type { Figure } from '../figure.js';
import type { RoutingAccumulator } from '../routing-stream.js';

/** Per layer: distinct GPUs and nodes each token's experts live on. */
export type DevicesPerToken = Array<{ gpus: DistinctCount; nodes: DistinctCount }>;

/** GPUs and nodes per token under the report's placement (all-to-all fan-out). */
export const devicesFigure: Figure<'devices', DevicesPerToken> = {
  name: 'devices',
  needsPlacement: true,
  start: ({ cluster, L, K, E }, known) => {
    const gpu = gpuBuckets(known.placements, E);
    const gpus = new DistinctPerTokenCounter(L, K, E, gpu);
    const nodes = new DistinctPerTokenCounter(L, K, E, nodeBuckets(gpu, cluster.gpus, cluster.nodes));
    const both: RoutingAccumulator = {
      add(block) {
        gpus.add(block);
        nodes.add(block);
      },
    };
    return {
      passes: 1,
      accumulator: () => both,
      finish: () => Array.from({ length: L }, (_, l) => ({ gpus: gpus.layer(l), nodes: nodes.layer(l) })),
    };
  },
  summary: (result, l) => ({ gpus_per_token: result[l].gpus.mean }),
};
