import { DomainCounter, type DomainSpecialization } from '../domain-specialization.js';
import type { Figure } from '../figure.js';
import type { Trace } from '../../trace.js';

export interface DomainFigure {
  labels: string[];
  /** Undefined for a layer without labelled load. */
  perLayer: Array<DomainSpecialization | undefined>;
}

/** Domain specialization: mutual information between prompt labels and experts; traces with labels only. */
export const domainFigure: Figure<'domain', DomainFigure> = {
  name: 'domain',
  start: ({ trace, L, K, E }) => {
    if (!trace.promptLabels || trace.labels.length === 0) return undefined;
    const counter = new DomainCounter(L, K, E, trace.labels.length, tokenLabels(trace));
    return {
      passes: 1,
      accumulator: () => counter,
      finish: () => {
        const perLayer = Array.from({ length: L }, (_, l) => counter.layer(l));
        return perLayer.some((d) => d !== undefined) ? { labels: trace.labels, perLayer } : undefined;
      },
    };
  },
};

/** The label index of every token: its prompt's. */
function tokenLabels(trace: Trace): Int32Array {
  const labels = new Int32Array(trace.nTokens);
  for (let p = 0; p < trace.nPrompts; p++) labels.fill(trace.promptLabels![p], trace.promptOffsets[p], trace.promptOffsets[p + 1]);
  return labels;
}
