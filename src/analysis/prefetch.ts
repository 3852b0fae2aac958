/**
 * Prefetch predictors (analyses.md "Expert caching and prefetch"): before MoE layer l runs for a token, guess p
 * of the experts it will choose there, so they can be loaded early.
 *  - history: from the token's experts at the previous MoE layer, scored by how often each expert of layer l
 *    followed them on the training prompts (the first half), evaluated on the other prompts;
 *  - speculative: layer l's own router applied one layer early (`route --speculate`, the trace's
 *    spec_topk_ids), which needs no training.
 * Predictions are in descending order of score, ties to the lower expert index.
 */

export const prefetchPredictors = ['history', 'speculative'] as const;
export type PrefetchPredictor = (typeof prefetchPredictors)[number];

/** Tokens [0, trainingTokens) belong to the training prompts 0..floor(P/2)-1; the rest are held out. */
export function trainingTokens(promptOffsets: ArrayLike<number>): number {
  return promptOffsets[Math.floor((promptOffsets.length - 1) / 2)];
}

/** n[i * E + j]: tokens among [0, tokens) with expert i at the previous layer and j at this one. */
export function transitionCounts(previous: Int32Array, current: Int32Array, k: number, experts: number, tokens: number): Float64Array {
  const counts = new Float64Array(experts * experts);
  for (let t = 0; t < tokens; t++) {
    for (let a = t * k; a < (t + 1) * k; a++) {
      for (let b = t * k; b < (t + 1) * k; b++) counts[previous[a] * experts + current[b]]++;
    }
  }
  return counts;
}

/**
 * The history predictor's p experts for every token, [T, p]: score_j = Σ_{i ∈ S(l-1)} n(i -> j) over the
 * token's experts i at the previous layer (`previous`, [T, K]).
 */
export function historyPredictions(counts: Float64Array, previous: Int32Array, k: number, experts: number, p: number): Int32Array {
  const tokens = previous.length / k;
  const out = new Int32Array(tokens * p);
  const scores = new Float64Array(experts);
  for (let t = 0; t < tokens; t++) {
    scores.fill(0);
    for (let a = t * k; a < (t + 1) * k; a++) {
      const row = previous[a] * experts;
      for (let j = 0; j < experts; j++) scores[j] += counts[row + j];
    }
    topByScore(scores, p, out, t * p);
  }
  return out;
}

/** Writes the `count` best indices of `scores` (descending, ties to the lower index) to out[at..]. */
function topByScore(scores: Float64Array, count: number, out: Int32Array, at: number): void {
  let filled = 0;
  for (let j = 0; j < scores.length; j++) {
    // A later index enters the running best list only with a strictly higher score than its last entry.
    if (filled === count && !(scores[j] > scores[out[at + count - 1]])) continue;
    let i = filled < count ? filled++ : count - 1;
    for (; i > 0 && scores[j] > scores[out[at + i - 1]]; i--) out[at + i] = out[at + i - 1];
    out[at + i] = j;
  }
}

/** The speculative predictor's p first experts of each token, [T, p], from a layer's spec_topk_ids [T, K]. */
export function speculativePredictions(speculative: Int32Array, k: number, p: number): Int32Array {
  if (p > k) throw new Error(`speculativePredictions: p ${p} is more than the ${k} experts recorded`);
  const tokens = speculative.length / k;
  const out = new Int32Array(tokens * p);
  for (let t = 0; t < tokens; t++) out.set(speculative.subarray(t * k, t * k + p), t * p);
  return out;
}

export interface PredictionQuality {
  /** Mean over the evaluated tokens of |P ∩ S| / p. */
  precision: number;
  /** Mean over the evaluated tokens of |P ∩ S| / K. */
  recall: number;
  tokens: number;
}

/** Precision and recall of predictions [T, p] against the real choices [T, K] over tokens [from, to); null if none. */
export function predictionQuality(predicted: Int32Array, p: number, actual: Int32Array, k: number, from: number, to: number): PredictionQuality | null {
  if (to <= from) return null;
  let overlap = 0;
  for (let t = from; t < to; t++) {
    for (let a = t * p; a < (t + 1) * p; a++) {
      for (let b = t * k; b < (t + 1) * k; b++) if (predicted[a] === actual[b]) overlap++;
    }
  }
  const tokens = to - from;
  return { precision: overlap / (tokens * p), recall: overlap / (tokens * k), tokens };
}
