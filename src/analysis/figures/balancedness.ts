import { gpuBalancedness } from '../balancedness.js';
import type { Figure } from '../figure.js';

/** GPU balancedness per layer: mean / max GPU load under the report's placement. */
export const balancednessFigure: Figure<'balancedness', number[]> = {
  name: 'balancedness',
  start: (_input, known) => ({ passes: 0, finish: () => known.load.map((row, l) => gpuBalancedness(row, known.placements[l])) }),
  summary: (result, l) => ({ balancedness: result[l] }),
};
