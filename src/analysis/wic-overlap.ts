import { kappa, overlap } from './overlap.js';
import { bootstrapInterval, resamplingDefaults } from './resampling.js';

/**
 * The Word-in-Context probe per MoE layer (analyses.md, "Overlap and specialization"): a target word in two
 * sentences, in the same sense or not. If the router follows word sense, the word's expert sets overlap
 * more for same-sense pairs than for different-sense pairs. Per layer: the mean overlap |S_a ∩ S_b| / K in
 * each condition, each mean's kappa (0 = chance K/E, 1 = identical), and the ROC AUC of overlap as a score
 * for "same sense" (0.5 = no separation). Each of these three comes with its 95% bootstrap interval
 * (analyses.md, "Honest small samples"): pairs resampled within each condition, seeded.
 */

export interface WicPairRouting {
  /** Gold label: same sense. */
  same: boolean;
  /** [L, K] experts of the word's token in sentence 1, and in sentence 2. */
  a: Int32Array;
  b: Int32Array;
}

/** Undefined where a condition has no pairs. */
export interface WicLayerFigures {
  overlapSame?: number;
  overlapDiff?: number;
  kappaSame?: number;
  kappaDiff?: number;
  auc?: number;
  /** 95% bootstrap intervals [lo, hi] of overlapSame, overlapDiff and auc. */
  overlapSameCi?: [number, number];
  overlapDiffCi?: [number, number];
  aucCi?: [number, number];
}

export interface WicOverlapOptions {
  /** Seed of the bootstrap (the same seed gives the same intervals); default 0. */
  seed?: number;
  /** Bootstrap draws; default 1,000. */
  draws?: number;
}

/** One entry per recorded layer (in the routing's layer order). */
export function wicOverlap(pairs: WicPairRouting[], layers: number, k: number, experts: number, options: WicOverlapOptions = {}): WicLayerFigures[] {
  const bootstrap = { seed: options.seed ?? resamplingDefaults.seed, draws: options.draws ?? resamplingDefaults.draws };
  return Array.from({ length: layers }, (_, l) => {
    const same: number[] = [];
    const diff: number[] = [];
    for (const { same: isSame, a, b } of pairs) {
      const value = overlap(a.subarray(l * k, (l + 1) * k), b.subarray(l * k, (l + 1) * k));
      (isSame ? same : diff).push(value);
    }
    const overlapSame = mean(same);
    const overlapDiff = mean(diff);
    return {
      overlapSame,
      overlapDiff,
      kappaSame: overlapSame === undefined ? undefined : kappa(overlapSame, k, experts),
      kappaDiff: overlapDiff === undefined ? undefined : kappa(overlapDiff, k, experts),
      auc: mannWhitneyAuc(same, diff),
      overlapSameCi: bootstrapInterval([same], ([s]) => mean(s), bootstrap),
      overlapDiffCi: bootstrapInterval([diff], ([d]) => mean(d), bootstrap),
      aucCi: bootstrapInterval([same, diff], ([s, d]) => mannWhitneyAuc(s, d), bootstrap),
    };
  });
}

/**
 * ROC AUC of a score for telling positives from negatives: the chance that a random positive scores above a
 * random negative, ties counting one half (the Mann-Whitney U statistic over n_pos * n_neg). Computed from
 * ranks with tied values sharing their mean rank; undefined without positives or negatives.
 */
export function mannWhitneyAuc(positives: number[], negatives: number[]): number | undefined {
  const nPos = positives.length;
  const nNeg = negatives.length;
  if (nPos === 0 || nNeg === 0) return undefined;
  const scores = [...positives.map((value) => ({ value, positive: true })), ...negatives.map((value) => ({ value, positive: false }))];
  scores.sort((x, y) => x.value - y.value);
  let positiveRankSum = 0;
  for (let start = 0; start < scores.length; ) {
    let end = start;
    while (end < scores.length && scores[end].value === scores[start].value) end++;
    // Ranks start + 1 .. end share their mean.
    const rank = (start + 1 + end) / 2;
    for (let i = start; i < end; i++) if (scores[i].positive) positiveRankSum += rank;
    start = end;
  }
  const u = positiveRankSum - (nPos * (nPos + 1)) / 2;
  return u / (nPos * nNeg);
}

function mean(values: number[]): number | undefined {
  return values.length === 0 ? undefined : values.reduce((sum, v) => sum + v, 0) / values.length;
}
