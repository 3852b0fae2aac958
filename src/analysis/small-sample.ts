/**
 * Honest small samples (analyses.md): a figure computed from fewer than 1,000 tokens (the tokens that figure
 * uses), or from fewer than 30 WiC pairs in a condition, says so next to it. This file holds the thresholds
 * and counts, per figure of a trace, the tokens it uses.
 */
import type { TokenRows } from './token-expert-counts.js';
import { tokenSpecializationDefaults } from './token-specialization.js';

export const smallSample = {
  tokens: 1000,
  wicPairs: 30,
};

/** The report's figures by the tokens they use (names as in SUMMARY.json's small_sample). */
export type SampledFigure = 'load' | 'same_token_overlap' | 'token_specialization' | 'domain_specialization';

/** A figure computed from fewer tokens than smallSample.tokens. */
export interface SmallSampleFlag {
  figure: SampledFigure;
  /** Tokens the figure uses. */
  tokens: number;
  threshold: number;
}

/**
 * Tokens each figure of a trace uses: every token for the load figures (load, imbalance, balancedness,
 * spread, co-activation, the bias counterfactual); the occurrences of ids seen at least twice (special
 * tokens left out) for same-token overlap; of ids seen at least 10 times for token specialization; the
 * labelled tokens for domain specialization (only where the trace has labels).
 */
export function tokensPerFigure(T: number, rows: TokenRows, labelledTokens: number | undefined): Record<SampledFigure, number | undefined> {
  let repeated = 0;
  let frequent = 0;
  for (const occurrences of rows.occurrences) {
    repeated += occurrences;
    if (occurrences >= tokenSpecializationDefaults.minOccurrences) frequent += occurrences;
  }
  return { load: T, same_token_overlap: repeated, token_specialization: frequent, domain_specialization: labelledTokens };
}

/** The figures made from some but fewer than smallSample.tokens tokens (one made from none is not shown at all), in the order of `tokensPerFigure`. */
export function smallSampleFlags(tokens: Record<SampledFigure, number | undefined>): SmallSampleFlag[] {
  return (Object.entries(tokens) as Array<[SampledFigure, number | undefined]>).flatMap(([figure, count]) =>
    count !== undefined && count > 0 && count < smallSample.tokens ? [{ figure, tokens: count, threshold: smallSample.tokens }] : [],
  );
}
