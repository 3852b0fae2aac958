import { DomainCounter, type DomainSpecialization } from '../domain-specialization.js';
import type { Figure } from '../figure.js';
import { resamplingDefaults, seededShuffles } from '../resampling.js';
import type { Trace } from '../../trace.js';

export interface DomainFigure {
  labels: string[];
  /** Undefined for a layer without labelled load. */
  perLayer: Array<DomainSpecialization | undefined>;
  /**
   * Per layer, the mutual information with the labels shuffled among the labelled prompts, the mean of
   * `resamplingDefaults.shuffles` seeded shuffles (analyses.md, "Honest small samples"): what a sample this
   * size shows when labels and routing are unrelated. Undefined where perLayer is.
   */
  shuffledMutualInformation: Array<number | undefined>;
}

/**
 * Domain specialization: mutual information between prompt labels and experts; traces with labels only.
 * The shuffled baseline counts the same pass once more per shuffle.
 */
export const domainFigure: Figure<'domain', DomainFigure> = {
  name: 'domain',
  start: ({ trace, L, K, E, seed }) => {
    if (!trace.promptLabels || trace.labels.length === 0) return undefined;
    const prompts = tokenPrompts(trace);
    const real = new DomainCounter(L, K, E, trace.labels.length, prompts, trace.promptLabels);
    const shuffled = shuffledPromptLabels(trace.promptLabels, seed).map((labels) => new DomainCounter(L, K, E, trace.labels.length, prompts, labels));
    const counters = [real, ...shuffled];
    return {
      passes: 1,
      accumulator: () => ({ add: (block) => counters.forEach((counter) => counter.add(block)) }),
      finish: () => {
        const perLayer = Array.from({ length: L }, (_, l) => real.layer(l));
        if (perLayer.every((d) => d === undefined)) return undefined;
        const shuffledMutualInformation = perLayer.map((d, l) =>
          d === undefined ? undefined : shuffled.reduce((sum, counter) => sum + counter.layer(l)!.mutualInformation, 0) / shuffled.length,
        );
        return { labels: trace.labels, perLayer, shuffledMutualInformation };
      },
    };
  },
};

/** The prompt labels with the labels of labelled prompts permuted among them (unlabelled prompts stay -1). */
export function shuffledPromptLabels(promptLabels: Int32Array, seed: number, shuffles = resamplingDefaults.shuffles): Int32Array[] {
  const labelled = Array.from(promptLabels.keys()).filter((p) => promptLabels[p] >= 0);
  return seededShuffles(labelled.map((p) => promptLabels[p]), shuffles, seed).map((permuted) => {
    const labels = Int32Array.from(promptLabels);
    labelled.forEach((p, i) => (labels[p] = permuted[i]));
    return labels;
  });
}

/** The prompt index of every token. */
function tokenPrompts(trace: Trace): Int32Array {
  const prompts = new Int32Array(trace.nTokens);
  for (let p = 0; p < trace.nPrompts; p++) prompts.fill(p, trace.promptOffsets[p], trace.promptOffsets[p + 1]);
  return prompts;
}
