import { gpuBalancedness } from '../balancedness.js';
import type { Figure } from '../figure.js';
import { loadStats } from '../load-stats.js';
import { UnbiasedRoutingCounter } from '../unbiased-routing.js';

/** One layer of the bias counterfactual: with the bias is the real routing, without it the unbiased choice. */
export interface UnbiasedLayer {
  /** Model layer index. */
  layer: number;
  /** Share of (token, expert) choices the bias changed. */
  changedShare: number;
  maxvio: number;
  maxvioUnbiased: number;
  cv: number;
  cvUnbiased: number;
  /** Under the report's placement (the same for both). */
  balancedness: number;
  balancednessUnbiased: number;
}

/** The balancing bias at inference; traces with `unbiased_topk_ids` only (route, models with the bias). */
export const unbiasedFigure: Figure<'unbiased', UnbiasedLayer[]> = {
  name: 'unbiased',
  start: ({ trace, layers, L, K, E }, known) => {
    if (!trace.hasUnbiased) return undefined;
    const counter = new UnbiasedRoutingCounter(trace, L, K, E);
    return {
      passes: 1,
      accumulator: () => counter,
      finish: () =>
        layers.map((layer, l) => {
          const withBias = loadStats(known.load[l]);
          const unbiasedLoad = counter.layerLoad(l);
          const without = loadStats(unbiasedLoad);
          return {
            layer,
            changedShare: counter.changedShare(l),
            maxvio: withBias.maxvio,
            maxvioUnbiased: without.maxvio,
            cv: withBias.cv,
            cvUnbiased: without.cv,
            balancedness: gpuBalancedness(known.load[l], known.placements[l]),
            balancednessUnbiased: gpuBalancedness(unbiasedLoad, known.placements[l]),
          };
        }),
    };
  },
};
