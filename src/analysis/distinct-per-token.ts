import type { RoutingAccumulator, RoutingBlock } from './routing-stream.js';

/**
 * How many distinct buckets (GPUs, nodes, expert groups) a token's K chosen experts touch, per layer: the
 * common core of "GPUs per token", "nodes per token" and "groups per token" (analyses.md).
 *
 * An expert may live in several buckets (replicas on several GPUs). Then its tokens go round robin: the
 * n-th token routed to expert i uses replica n mod c_i. That spreads an expert's load evenly over its
 * replicas, which is what balancedness assumes (a replica carries load_i / c_i), and it is deterministic,
 * so GPUs and nodes counted by two accumulators pick the same replica.
 */

/** Per layer and expert, the bucket of each replica: `buckets[layer][expert]` has at least one entry. */
export type ReplicaBuckets = number[][][];

/** Tokens per number of distinct buckets touched: `histogram[n]`, n = 0..K. */
export interface DistinctCount {
  mean: number;
  histogram: number[];
}

export class DistinctPerTokenCounter implements RoutingAccumulator {
  /** Per layer: CSR of each expert's replica buckets. */
  private readonly offsets: Int32Array[];
  private readonly buckets: Int32Array[];
  /** Per layer and expert: tokens routed so far (only used for experts with several replicas). */
  private readonly routed: Float64Array;
  private readonly histograms: Float64Array;
  private readonly picked: Int32Array;

  constructor(
    readonly layers: number,
    readonly k: number,
    readonly experts: number,
    replicaBuckets: ReplicaBuckets,
  ) {
    if (replicaBuckets.length !== layers) throw new RangeError(`DistinctPerTokenCounter: ${replicaBuckets.length} layers of buckets for ${layers} layers`);
    this.offsets = [];
    this.buckets = [];
    for (const perExpert of replicaBuckets) {
      if (perExpert.length !== experts || perExpert.some((list) => list.length === 0)) {
        throw new RangeError('DistinctPerTokenCounter: every expert needs at least one bucket');
      }
      const offsets = new Int32Array(experts + 1);
      perExpert.forEach((list, e) => (offsets[e + 1] = offsets[e] + list.length));
      this.offsets.push(offsets);
      this.buckets.push(Int32Array.from(perExpert.flat()));
    }
    this.routed = new Float64Array(layers * experts);
    this.histograms = new Float64Array(layers * (k + 1));
    this.picked = new Int32Array(k);
  }

  add({ tokens, ids }: RoutingBlock): void {
    const { layers, k, experts, routed, histograms, picked } = this;
    for (let t = 0; t < tokens; t++) {
      for (let l = 0; l < layers; l++) {
        const offsets = this.offsets[l];
        const buckets = this.buckets[l];
        const base = (t * layers + l) * k;
        let distinct = 0;
        for (let j = 0; j < k; j++) {
          const e = ids[base + j];
          const first = offsets[e];
          const replicas = offsets[e + 1] - first;
          let bucket = buckets[first];
          if (replicas > 1) {
            const n = routed[l * experts + e]++;
            bucket = buckets[first + (n % replicas)];
          }
          // K is small (at most 16 in practice): a linear scan beats any set.
          let seen = false;
          for (let m = 0; m < distinct; m++) if (picked[m] === bucket) seen = true;
          if (!seen) picked[distinct++] = bucket;
        }
        histograms[l * (k + 1) + distinct] += 1;
      }
    }
  }

  /** Layer l's histogram and mean. */
  layer(l: number): DistinctCount {
    const histogram = Array.from(this.histograms.subarray(l * (this.k + 1), (l + 1) * (this.k + 1)));
    return { mean: histogramMean(histogram), histogram };
  }
}

export function histogramMean(histogram: number[]): number {
  let tokens = 0;
  let sum = 0;
  histogram.forEach((count, n) => {
    tokens += count;
    sum += n * count;
  });
  return sum / tokens;
}

/**
 * Expected distinct buckets under uniformly random routing (K distinct experts of E), when each of the
 * E / perBucket buckets holds perBucket experts: buckets * (1 - C(E - perBucket, K) / C(E, K)).
 * The reference line for GPUs, nodes and groups per token.
 */
export function randomRoutingSpread(experts: number, perBucket: number, k: number): number {
  let untouched = 1;
  for (let i = 0; i < k; i++) untouched *= Math.max(0, experts - perBucket - i) / (experts - i);
  return (experts / perBucket) * (1 - untouched);
}
