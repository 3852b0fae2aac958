import type { Figure } from '../figure.js';
import { loadSummary } from '../load-stats.js';
import type { LayerSummary } from '../layer-summary.js';

type LoadSummary = Pick<LayerSummary, 'maxvio' | 'cv' | 'entropy' | 'gini' | 'dead' | 'hot_share'>;

/** Load and imbalance per layer (analyses.md), from the load analyse counts in the first pass. */
export const expertLoadFigure: Figure<'expertLoad', LoadSummary[]> = {
  name: 'expertLoad',
  start: (_input, known) => ({ passes: 0, finish: () => known.load.map(loadSummary) }),
  summary: (result, l) => result[l],
};
