import type { RoutingAccumulator, RoutingBlock } from './routing-stream.js';

/**
 * Domain specialization (analyses.md), for prompts that carry labels: per expert, the share of its load
 * from each label against that label's share of all labelled tokens (their ratio is the lift: above 1 the
 * expert prefers the label); per layer, the mutual information in bits between the label of a token and
 * an expert choice of it (each of the token's K choices counts once). 0 bits: experts ignore the label;
 * the most it can be is the label entropy (every label routed to its own experts).
 */
export interface DomainSpecialization {
  /** I(label; expert) in bits. */
  mutualInformation: number;
  /** H(label) in bits over the labelled tokens: the ceiling of the mutual information. */
  labelEntropy: number;
  /** Labelled tokens per label. */
  labelTokens: number[];
  /** [labels][E] expert choices of tokens with each label. */
  counts: number[][];
  /** [labels][E] (share of expert e's load from the label) / (label's share of labelled tokens); NaN for an expert no labelled token chose. */
  lift: number[][];
}

/** `counts` [labels * E] expert choices per label, `labelTokens` labelled tokens per label; undefined without labelled tokens. */
export function domainSpecialization(counts: ArrayLike<number>, labelTokens: ArrayLike<number>, experts: number): DomainSpecialization | undefined {
  const labels = labelTokens.length;
  const tokens = Array.from(labelTokens).reduce((a, b) => a + b, 0);
  if (tokens === 0) return undefined;
  const matrix = Array.from({ length: labels }, (_, l) => Array.from({ length: experts }, (_, e) => counts[l * experts + e]));
  const choices = matrix.flat().reduce((a, b) => a + b, 0);
  const expertTotal = Array.from({ length: experts }, (_, e) => matrix.reduce((sum, row) => sum + row[e], 0));

  let mutualInformation = 0;
  let labelEntropy = 0;
  for (let l = 0; l < labels; l++) {
    const pLabel = labelTokens[l] / tokens;
    if (pLabel > 0) labelEntropy -= pLabel * Math.log2(pLabel);
    for (let e = 0; e < experts; e++) {
      const joint = matrix[l][e] / choices;
      if (joint > 0) mutualInformation += joint * Math.log2(joint / (pLabel * (expertTotal[e] / choices)));
    }
  }
  const lift = matrix.map((row, l) => row.map((count, e) => (expertTotal[e] > 0 ? count / expertTotal[e] / (labelTokens[l] / tokens) : NaN)));
  return { mutualInformation, labelEntropy, labelTokens: Array.from(labelTokens), counts: matrix, lift };
}

/** Counts expert choices per label at every layer; tokens with label -1 are left out. */
export class DomainCounter implements RoutingAccumulator {
  /** Per layer: [labels * E]. */
  readonly counts: Float64Array[];
  readonly labelTokens: Float64Array;

  constructor(
    readonly layers: number,
    readonly k: number,
    readonly experts: number,
    readonly labels: number,
    /** Prompt index of every token of the trace. */
    readonly tokenPrompts: Int32Array,
    /** Label index of every prompt, -1 where none (shuffled copies share tokenPrompts). */
    readonly promptLabels: Int32Array,
  ) {
    this.counts = Array.from({ length: layers }, () => new Float64Array(labels * experts));
    this.labelTokens = new Float64Array(labels);
  }

  add({ start, tokens, ids }: RoutingBlock): void {
    const { layers, k, experts, counts, tokenPrompts, promptLabels } = this;
    for (let t = 0; t < tokens; t++) {
      const label = promptLabels[tokenPrompts[start + t]];
      if (label < 0) continue;
      this.labelTokens[label] += 1;
      for (let l = 0; l < layers; l++) {
        const base = (t * layers + l) * k;
        for (let j = 0; j < k; j++) counts[l][label * experts + ids[base + j]] += 1;
      }
    }
  }

  layer(l: number): DomainSpecialization | undefined {
    return domainSpecialization(this.counts[l], this.labelTokens, this.experts);
  }
}
