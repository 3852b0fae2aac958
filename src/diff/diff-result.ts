/** What `diff` finds: the weights diff, the routing diff with where its traces came from, and DIFF.json. */
import type { RoutingDiff } from '../analysis/routing-diff.js';
import type { WeightsDiff } from '../analysis/weights-diff.js';

/** How one side's trace was obtained. */
export interface TraceSource {
  file: string;
  /** Reused from an earlier run rather than routed now. */
  reused: boolean;
}

/** The routing diff, with where its inputs came from. */
export type RoutingResult = RoutingDiff & { prompts: string; traces: { a: TraceSource; b: TraceSource } };

export interface DiffResult {
  modelA: string;
  modelB: string;
  layers: number[];
  nExperts: number;
  weights: WeightsDiff;
  routing?: RoutingResult;
  /** DIFF.json's content. */
  json: DiffJson;
}

/** DIFF.json, key for key as contract.md gives it. */
export interface DiffJson {
  same_architecture: true;
  weights: {
    experts_ranked: Array<{ layer: number; expert: number; rel_change: number; router_cosine: number }>;
    per_layer: Array<{ layer: number; mean_rel_change: number; router_rel_change: number }>;
  };
  routing?: { per_layer: Array<{ layer: number; overlap: number; top1_agreement: number; load_js_divergence: number }> };
}
