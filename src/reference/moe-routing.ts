/**
 * Float64 gate of every DeepSeek family (architecture.md 5.1-5.3), from router logits to chosen experts and
 * their weights. The reference forward pass and the route-parity tests compare the onnxruntime routing with it.
 * Ties, in the expert top-k and in the group top-k, go to the lower index (architecture.md section 7).
 */

export interface GateSettings {
  scoringFunc: 'softmax' | 'sigmoid';
  topkMethod: 'greedy' | 'group_limited_greedy' | 'noaux_tc';
  /** K: experts per token. */
  topK: number;
  /** G: the E experts form G contiguous groups of E / G. */
  nGroup: number;
  /** Groups a token may draw its experts from (group methods only). */
  topkGroup: number;
  normTopkProb: boolean;
  routedScalingFactor: number;
}

export interface GateDecision {
  /** Chosen experts, best selection score first. */
  ids: number[];
  /** Final weights of `ids`: unbiased scores, normalised if asked, then scaled. */
  weights: number[];
  /** Unbiased score of every expert (softmax or sigmoid of the logits). */
  scores: Float64Array;
  /** Selection score of the K-th choice minus the best excluded one; small means a near-tie. */
  margin: number;
  /** Groups kept by the group limit, ascending; every group when the method has none. */
  groups: number[];
  /** Score of the last kept group minus the best dropped one (Infinity without a group limit); small means a near-tie. */
  groupMargin: number;
}

/** Orders indices by descending value, lower index first on ties. */
function rankDescending(values: ArrayLike<number>): number[] {
  return Array.from({ length: values.length }, (_, i) => i).sort((i, j) => values[j] - values[i] || i - j);
}

/**
 * `bias` is e_score_correction_bias (noaux_tc only): it shifts which experts are chosen, never their weights.
 */
export function gate(logits: Float64Array, settings: GateSettings, bias?: Float64Array): GateDecision {
  const E = logits.length;
  const { topK: K, topkMethod } = settings;
  const scores = settings.scoringFunc === 'softmax' ? softmax(logits) : logits.map(sigmoid);
  if (topkMethod === 'noaux_tc' && bias === undefined) throw new Error('gate: noaux_tc needs e_score_correction_bias');
  const selection = topkMethod === 'noaux_tc' ? scores.map((s, e) => s + bias![e]) : scores;

  const G = topkMethod === 'greedy' ? 1 : settings.nGroup;
  if (E % G !== 0) throw new Error(`gate: ${E} experts do not split into ${G} groups`);
  const perGroup = E / G;
  const groupScores = Array.from({ length: G }, (_, g) => {
    const members = Array.from(selection.subarray(g * perGroup, (g + 1) * perGroup));
    // V2 ranks a group by its best expert, V3 by the sum of its two best (architecture.md 5.2 / 5.3 step 4).
    if (topkMethod !== 'noaux_tc') return Math.max(...members);
    const [first, second] = rankDescending(members);
    return members[first] + (second === undefined ? 0 : members[second]);
  });
  const groupOrder = rankDescending(groupScores);
  const keptGroups = G === 1 ? [0] : groupOrder.slice(0, settings.topkGroup).sort((a, b) => a - b);
  const groupMargin = settings.topkGroup < G && G > 1 ? groupScores[groupOrder[settings.topkGroup - 1]] - groupScores[groupOrder[settings.topkGroup]] : Infinity;
  const kept = new Set(keptGroups);

  // Experts outside the kept groups are masked with -inf (architecture.md 5.3 step 6).
  const masked = selection.map((c, e) => (kept.has(Math.floor(e / perGroup)) ? c : -Infinity));
  const order = rankDescending(masked);
  const ids = order.slice(0, K);
  const margin = K < E && Number.isFinite(masked[order[K]]) ? masked[order[K - 1]] - masked[order[K]] : Infinity;

  const groups = G === 1 ? Array.from({ length: settings.nGroup }, (_, g) => g) : keptGroups;
  return { ids, weights: gateWeights(ids, scores, settings), scores, margin, groups, groupMargin };
}

/** Weights of chosen experts: their unbiased scores, normalised if the config asks, then scaled. */
export function gateWeights(ids: number[], scores: Float64Array, settings: GateSettings): number[] {
  const weights = ids.map((e) => scores[e]);
  // (DeepSeek's HF-remote gate normalises only when top_k > 1: its configs are parsed to normTopkProb false then.)
  const sum = settings.normTopkProb ? weights.reduce((a, b) => a + b, 0) + 1e-20 : 1;
  return weights.map((w) => (w / sum) * settings.routedScalingFactor);
}

export function softmax(logits: Float64Array): Float64Array {
  // Subtracting the max changes nothing mathematically and keeps exp from overflowing.
  const max = Math.max(...logits);
  const exps = logits.map((z) => Math.exp(z - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / sum);
}

export function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}
