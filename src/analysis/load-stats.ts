import type { LayerSummary } from './layer-summary.js';
import type { RoutingAccumulator, RoutingBlock } from './routing-stream.js';

/**
 * Load and imbalance of one MoE layer (analyses.md, "Load and imbalance"). load_i = tokens that picked
 * expert i; over a layer the loads sum to T*K.
 */
export interface LoadStats {
  /** max load / mean load - 1 (Wang et al. 2024, Eq. 4): 0 is perfectly balanced. */
  maxvio: number;
  /** Population standard deviation of load / mean load. */
  cv: number;
  /** -sum p_i ln p_i / ln E with p_i = load_i / total: 1 is perfectly even. */
  entropy: number;
  /** sum_i sum_j |load_i - load_j| / (2 E^2 mean): 0 even, (E-1)/E when one expert takes everything. */
  gini: number;
  /** Experts with load 0. */
  dead: number;
  /** Share of the load carried by the ceil(E/10) busiest experts. */
  hotShare: number;
}

export function loadStats(load: ArrayLike<number>): LoadStats {
  const E = load.length;
  const sorted = Float64Array.from(load).sort();
  const total = sorted.reduce((sum, x) => sum + x, 0);
  if (!(total > 0)) throw new RangeError('loadStats: the layer has no load');
  const mean = total / E;

  let squares = 0;
  let entropy = 0;
  let giniSum = 0;
  for (let i = 0; i < E; i++) {
    const x = sorted[i];
    squares += (x - mean) ** 2;
    if (x > 0) entropy -= (x / total) * Math.log(x / total);
    // With loads sorted ascending, sum_i sum_j |x_i - x_j| = 2 sum_i (2i - E + 1) x_i (0-based i).
    giniSum += (2 * i - E + 1) * x;
  }
  const hot = Math.ceil(E / 10);
  let hotLoad = 0;
  for (let i = E - hot; i < E; i++) hotLoad += sorted[i];

  return {
    maxvio: sorted[E - 1] / mean - 1,
    cv: Math.sqrt(squares / E) / mean,
    entropy: E > 1 ? entropy / Math.log(E) : 1,
    gini: giniSum / (E * total),
    dead: sorted.filter((x) => x === 0).length,
    hotShare: hotLoad / total,
  };
}

/** A layer's load figures under SUMMARY.json's names. */
export function loadSummary(load: number[]): Pick<LayerSummary, 'maxvio' | 'cv' | 'entropy' | 'gini' | 'dead' | 'hot_share'> {
  const stats = loadStats(load);
  return { maxvio: stats.maxvio, cv: stats.cv, entropy: stats.entropy, gini: stats.gini, dead: stats.dead, hot_share: stats.hotShare };
}

/** Counts load_i per recorded layer while streaming: `load[l * E + i]`. */
export class ExpertLoadCounter implements RoutingAccumulator {
  readonly load: Float64Array;
  tokens = 0;

  constructor(
    readonly layers: number,
    readonly k: number,
    readonly experts: number,
  ) {
    this.load = new Float64Array(layers * experts);
  }

  add({ tokens, ids }: RoutingBlock): void {
    const { layers, k, experts, load } = this;
    for (let t = 0; t < tokens; t++) {
      for (let l = 0; l < layers; l++) {
        const base = (t * layers + l) * k;
        for (let j = 0; j < k; j++) load[l * experts + ids[base + j]] += 1;
      }
    }
    this.tokens += tokens;
  }

  /** Layer l's loads as a plain array. */
  layer(l: number): number[] {
    return Array.from(this.load.subarray(l * this.experts, (l + 1) * this.experts));
  }
}
