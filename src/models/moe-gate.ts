/**
 * The router of every DeepSeek family as ONNX nodes (architecture.md 5.1-5.3): logits in, chosen experts and
 * their weights out. It mirrors reference/moe-routing.ts, which tests hold it to. Both TopKs are ONNX TopK,
 * whose ties go to the lower index, as architecture.md section 7 asks.
 */
import { attr, type GraphBuilder } from '../runtime/graph-builder.js';
import { TensorType } from '../runtime/onnx-proto.js';
import type { GateSettings } from '../reference/moe-routing.js';

export interface GateNodes {
  /** Unbiased scores, softmax or sigmoid of the logits    (T, E) */
  scores: string;
  /** Chosen experts, best selection score first, int64    (T, K) */
  indices: string;
  /** Their weights: normalised if asked, then scaled      (T, K) */
  weights: string;
  /**
   * noaux_tc only: the experts chosen with the bias set to zero, groups chosen again from the unbiased
   * scores, best score first, int64 (T, K): what the balancing bias changed (analyses.md).
   */
  unbiasedIndices?: string;
}

/**
 * `logits` is (T, E) with E = `experts`; `bias` is the fp32 e_score_correction_bias (E), needed by noaux_tc,
 * which shifts the selection only.
 */
export function addGate(g: GraphBuilder, logits: string, experts: number, settings: GateSettings, bias?: string): GateNodes {
  const { topK: K, topkMethod } = settings;
  const scores = settings.scoringFunc === 'softmax' ? g.node('Softmax', [logits], { axis: attr.int(-1) }) : g.node('Sigmoid', [logits]);
  if (topkMethod === 'noaux_tc' && bias === undefined) throw new Error('addGate: noaux_tc needs e_score_correction_bias');
  const selection = topkMethod === 'noaux_tc' ? g.add(scores, bias!) : scores;
  const candidates = topkMethod === 'greedy' ? selection : maskToBestGroups(g, selection, experts, settings);

  const [selected, indices] = g.multiNode('TopK', [candidates, g.int64s([K])], 2, { axis: attr.int(-1), largest: attr.int(1), sorted: attr.int(1) });
  // Without a bias and a mask the selected values are the scores; otherwise gather the unbiased ones.
  let weights = candidates === scores ? selected : g.node('GatherElements', [scores, indices], { axis: attr.int(1) });
  if (settings.normTopkProb) {
    weights = g.node('Div', [weights, g.add(g.reduceSum(weights, [1], true), g.scalar(1e-20))]);
  }
  if (settings.routedScalingFactor !== 1) weights = g.mul(weights, g.scalar(settings.routedScalingFactor));
  if (topkMethod !== 'noaux_tc') return { scores, indices, weights };
  const unbiasedCandidates = maskToBestGroups(g, scores, experts, settings);
  const [, unbiasedIndices] = g.multiNode('TopK', [unbiasedCandidates, g.int64s([K])], 2, { axis: attr.int(-1), largest: attr.int(1), sorted: attr.int(1) });
  return { scores, indices, weights, unbiasedIndices };
}

/**
 * Keeps the topk_group best of the n_group contiguous groups and sets every other expert to -inf. A group's
 * score is its best expert (V2 group_limited_greedy) or the sum of its two best (V3 noaux_tc).
 */
function maskToBestGroups(g: GraphBuilder, selection: string, experts: number, settings: GateSettings): string {
  const G = settings.nGroup;
  const perGroup = experts / G;
  if (!Number.isInteger(perGroup)) throw new Error(`addGate: ${experts} experts do not split into ${G} groups`);
  const grouped = g.reshape(selection, [-1, G, perGroup]); // (T, G, E/G)
  let groupScores: string; // (T, G)
  if (settings.topkMethod === 'noaux_tc') {
    const best = Math.min(2, perGroup);
    const [top] = g.multiNode('TopK', [grouped, g.int64s([best])], 2, { axis: attr.int(-1), largest: attr.int(1), sorted: attr.int(1) });
    groupScores = g.reduceSum(top, [2], false);
  } else {
    groupScores = g.node('ReduceMax', [grouped, g.int64s([2])], { keepdims: attr.int(0) });
  }
  const [, keptGroups] = g.multiNode('TopK', [groupScores, g.int64s([settings.topkGroup])], 2, { axis: attr.int(-1), largest: attr.int(1), sorted: attr.int(1) });
  // keep[t, g] = 1 for kept groups, then broadcast over each group's experts.
  const zeros = g.node('Expand', [g.scalar(0), g.node('Shape', [groupScores])]);
  const ones = g.node('Expand', [g.scalar(1), g.node('Shape', [keptGroups])]);
  const keep = g.node('ScatterElements', [zeros, keptGroups, ones], { axis: attr.int(1) });
  const keepGrouped = g.node('Cast', [g.node('Unsqueeze', [keep, g.int64s([2])])], { to: attr.int(TensorType.bool) });
  const masked = g.node('Where', [keepGrouped, grouped, g.scalar(-Infinity)]);
  return g.reshape(masked, [-1, experts]);
}
