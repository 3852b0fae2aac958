import type { Figure } from '../figure.js';
import { analyseOffloading, LayerIdsCollector, resolveOffloading, speculativeIds, type OffloadingAnalysis } from '../offloading.js';

/**
 * The offloading what-ifs (`report --cache`, `--prefetch`; analysis/offloading.ts): only when asked. A trace
 * that cannot give what is asked (no spec_topk_ids for the speculative predictor) is refused at the start,
 * before any pass.
 */
export const offloadingFigure: Figure<'offloading', OffloadingAnalysis> = {
  name: 'offloading',
  start: ({ trace, offloading, layers, T, K, E }) => {
    if (!offloading || (!offloading.cache && !offloading.prefetch)) return undefined;
    const { predictors, p } = resolveOffloading(trace, offloading);
    const collector = new LayerIdsCollector(T, layers.length, K);
    return {
      passes: 1,
      accumulator: () => collector,
      finish: () => {
        const speculative = predictors.includes('speculative') ? speculativeIds(trace) : undefined;
        return analyseOffloading({ layers, k: K, experts: E, promptOffsets: trace.promptOffsets, ids: collector.ids, speculative }, offloading, predictors, p);
      },
    };
  },
};
