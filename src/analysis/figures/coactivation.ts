import { coactivation, CoactivationCounter, type Coactivation } from '../coactivation.js';
import type { Figure } from '../figure.js';

/** Co-activation of expert pairs, for the layers shown in detail (it is E x E per layer). */
export const coactivationFigure: Figure<'coactivation', Array<{ layer: number; coactivation: Coactivation }>> = {
  name: 'coactivation',
  start: ({ layers, detail, L, K, E, T }) => {
    const counter = new CoactivationCounter(L, K, E, detail);
    return {
      passes: 1,
      accumulator: () => counter,
      finish: () => detail.map((l, d) => ({ layer: layers[l], coactivation: coactivation(counter.both[d], E, T) })),
    };
  },
};
