/**
 * The offloading what-ifs of one trace (analyses.md "Expert caching and prefetch"), as `report --cache` and
 * `report --prefetch` show them: per MoE layer, the expert cache's hit rate under LRU, LFU and Belady at each
 * cache size and the sizes needed for 90/95/99%; the prefetch predictors' precision and recall and the hit rate
 * of cache + prefetch; and the top-1 transitions between consecutive MoE layers. They need every token of a
 * layer in order, so `LayerIdsCollector` gathers each layer's experts from the streamed blocks first.
 */
import { fileError, InputError } from '../errors.js';
import type { Trace } from '../trace.js';
import type { RoutingAccumulator, RoutingBlock } from './routing-stream.js';
import { cacheCurvesOnThreads, policiesCostliestFirst } from './cache-threads.js';
import { accessOrder, cachePolicies, hitRate, sizeNeeded, stepSets, type CacheCurve, type CachePolicy, type StepSets } from './expert-cache.js';
import { largestTransitions, topOneTransitions } from './layer-transitions.js';
import { historyPredictions, predictionQuality, speculativePredictions, trainingTokens, transitionCounts, type PredictionQuality, type PrefetchPredictor } from './prefetch.js';

export interface OffloadingOptions {
  /** --cache: the sizes to report (default every valid size) and the decoding batch B. */
  cache?: { sizes?: number[]; batch: number };
  /**
   * --prefetch: the predictors, the first of which also feeds cache + prefetch (default history, and speculative
   * where the trace records spec_topk_ids), and p (default K).
   */
  prefetch?: { predictors?: PrefetchPredictor[]; experts?: number };
}

export const hitRateTargets = [0.9, 0.95, 0.99] as const;

export interface LayerCache {
  layer: number;
  accesses: number;
  /** Hit rate per reported size, per policy; null below the smallest valid size. */
  rates: Record<CachePolicy, Array<number | null>>;
  /** Per policy, the smallest C in [K, E] reaching each of hitRateTargets (null where none does). */
  needed: Record<CachePolicy, Array<number | null>>;
  /** The same rates with the first predictor's experts prefetched at each step. */
  withPrefetch?: Record<CachePolicy, Array<number | null>>;
}

export interface CacheAnalysis {
  batch: number;
  sizes: number[];
  /** The predictor behind withPrefetch. */
  prefetchPredictor?: PrefetchPredictor;
  perLayer: LayerCache[];
}

export interface LayerPrefetch {
  layer: number;
  /** null where the predictor has nothing to go on (the first MoE layer; layer 0 for speculative). */
  history?: PredictionQuality | null;
  speculative?: PredictionQuality | null;
}

export interface LayerTransition {
  /** Layer l of the pair (l-1, l): the previous recorded MoE layer and this one. */
  layer: number;
  previousLayer: number;
  accuracy: number | null;
  chance: number | null;
  /** The most frequent top-1 pairs over all tokens. */
  largest: Array<{ from: number; to: number; tokens: number }>;
  /** tokens[i * E + j]: top-1 i at the previous layer and j at this one, over all tokens. */
  counts: Float64Array;
}

export interface PrefetchAnalysis {
  p: number;
  /** Prompts whose tokens train the history predictor and the transition guess. */
  trainingPrompts: number;
  perLayer: LayerPrefetch[];
  transitions: LayerTransition[];
}

export interface OffloadingAnalysis {
  cache?: CacheAnalysis;
  prefetch?: PrefetchAnalysis;
}

/** How many transitions of each layer pair the report lists. */
const largestShown = 10;

/** What the figures are computed from: each recorded layer's [T, K] experts, and the trace's prompts. */
export interface OffloadingInput {
  layers: number[];
  k: number;
  experts: number;
  promptOffsets: ArrayLike<number>;
  /** Per recorded layer, [T, K]. */
  ids: Int32Array[];
  /** Per recorded layer, the speculative gate's [T, K] (route --speculate), when the predictor is asked. */
  speculative?: Int32Array[];
}

/** The predictors and p a trace gets; refuses what it cannot give, before any work (a one-line error). */
export function resolveOffloading(trace: Trace, options: OffloadingOptions): { predictors: PrefetchPredictor[]; p: number } {
  const { k: K, nExperts: E } = trace;
  const predictors = options.prefetch ? (options.prefetch.predictors ?? (trace.hasSpeculative ? ['history', 'speculative'] : ['history'])) : [];
  const p = options.prefetch?.experts ?? K;
  if (!Number.isInteger(p) || p < 1 || p > E) throw new InputError(`invalid --prefetch-experts: ${p} (expected 1 to the ${E} experts)`, 'usage-prefetch-experts');
  if (predictors.includes('speculative')) {
    if (!trace.hasSpeculative) throw fileError(trace.file, 'trace-no-speculative', '--prefetch speculative needs the speculative gate: record the trace with route --speculate');
    if (p > K) throw new InputError(`--prefetch-experts ${p} is more than the ${K} experts the speculative gate records; use at most ${K} with speculative`, 'usage-prefetch-experts');
  }
  if (options.cache) {
    const smallest = Math.min(E, options.cache.batch * K);
    for (const size of options.cache.sizes ?? []) {
      if (!Number.isInteger(size) || size < smallest || size > E) {
        throw new InputError(`invalid --cache-sizes entry ${size}: a cache holds from min(E, B x K) = ${smallest} to E = ${E} experts`, 'usage-cache-sizes');
      }
    }
  }
  return { predictors, p };
}

/**
 * `predictors` and `p` as resolveOffloading gives them; `threads` for the cache simulations (default every core:
 * cache-threads.ts).
 */
export async function analyseOffloading(input: OffloadingInput, options: OffloadingOptions, predictors: PrefetchPredictor[], p: number, threads?: number): Promise<OffloadingAnalysis> {
  const { k: K, experts: E, layers, ids, speculative, promptOffsets } = input;
  const T = ids[0].length / K;
  const training = trainingTokens(promptOffsets);

  // Predictions per layer, [T, p]; undefined where the predictor has none.
  const predictions = (predictor: PrefetchPredictor, slot: number): Int32Array | undefined => {
    if (predictor === 'history') return slot === 0 ? undefined : historyPredictions(transitionCounts(ids[slot - 1], ids[slot], K, E, training), ids[slot - 1], K, E, p);
    return layers[slot] === 0 ? undefined : speculativePredictions(speculative![slot], K, p);
  };

  const result: OffloadingAnalysis = {};
  if (options.cache) {
    const { batch } = options.cache;
    const smallest = Math.min(E, batch * K);
    const sizes = options.cache.sizes ?? Array.from({ length: E - smallest + 1 }, (_, i) => smallest + i);
    const order = accessOrder(promptOffsets, batch);
    const prefetchPredictor = predictors[0];
    // Each layer's jobs: with prefetch (every policy on the priority stack), then without, costliest first.
    const layerJobs = [...(prefetchPredictor ? cachePolicies.map((policy) => ({ policy, prefetched: true })) : []), ...policiesCostliestFirst.map((policy) => ({ policy, prefetched: false }))];
    // The step sets of the layer whose jobs are being handed out: jobs come in order, so one layer's at a time.
    let current: { slot: number; demand: StepSets; prefetchSets?: StepSets } | undefined;
    const layerSets = (slot: number) => {
      if (current?.slot !== slot) {
        const demand = stepSets(order, E, ids[slot], K);
        const predicted = prefetchPredictor && predictions(prefetchPredictor, slot);
        const prefetchSets = prefetchPredictor ? (predicted ? stepSets(order, E, predicted, p) : noSets(demand)) : undefined;
        current = { slot, demand, prefetchSets };
      }
      return current;
    };
    const curves = await cacheCurvesOnThreads(
      layers.length * layerJobs.length,
      (index) => {
        const { demand, prefetchSets } = layerSets(Math.floor(index / layerJobs.length));
        const { policy, prefetched } = layerJobs[index % layerJobs.length];
        return { demand, experts: E, policy, ...(prefetched ? { prefetch: prefetchSets } : {}) };
      },
      threads,
    );
    const perLayer = layers.map((layer, slot): LayerCache => {
      const plain = {} as Record<CachePolicy, CacheCurve>;
      const prefetched = {} as Record<CachePolicy, CacheCurve>;
      layerJobs.forEach((job, j) => ((job.prefetched ? prefetched : plain)[job.policy] = curves[slot * layerJobs.length + j].curve));
      return {
        layer,
        accesses: plain.lru.accesses,
        rates: ratesAt(plain, sizes),
        needed: mapPolicies((policy) => hitRateTargets.map((target) => sizeNeeded(plain[policy], target, K))),
        ...(prefetchPredictor ? { withPrefetch: ratesAt(prefetched, sizes) } : {}),
      };
    });
    result.cache = { batch, sizes, ...(prefetchPredictor ? { prefetchPredictor } : {}), perLayer };
  }
  if (options.prefetch) {
    const perLayer = layers.map((layer, slot): LayerPrefetch => {
      const row: LayerPrefetch = { layer };
      for (const predictor of predictors) {
        const predicted = predictions(predictor, slot);
        // History is judged on the held-out prompts only; the speculative gate learns nothing, so on every token.
        const [from, to] = predictor === 'history' ? [training, T] : [0, T];
        row[predictor] = predicted ? predictionQuality(predicted, p, ids[slot], K, from, to) : null;
      }
      return row;
    });
    const transitions = layers.slice(1).map((layer, i): LayerTransition => {
      const { accuracy, chance, counts } = topOneTransitions(ids[i], ids[i + 1], K, E, training);
      return { layer, previousLayer: layers[i], accuracy, chance, largest: largestTransitions(counts, E, largestShown), counts };
    });
    const prompts = promptOffsets.length - 1;
    result.prefetch = { p, trainingPrompts: Math.floor(prompts / 2), perLayer, transitions };
  }
  return result;
}

/** Gathers each recorded layer's [T, K] experts from the streamed [tokens, L, K] blocks. */
export class LayerIdsCollector implements RoutingAccumulator {
  readonly ids: Int32Array[];

  constructor(
    tokens: number,
    private readonly layers: number,
    private readonly k: number,
  ) {
    this.ids = Array.from({ length: layers }, () => new Int32Array(tokens * k));
  }

  add({ start, tokens, ids }: RoutingBlock): void {
    splitLayers(ids, start, tokens, this.layers, this.k, this.ids);
  }
}

/** The speculative gate's [T, K] per layer, read from the trace block by block. */
export function speculativeIds(trace: Trace, blockTokens = 65536): Int32Array[] {
  const { nTokens: T, layers, k } = trace;
  const out = Array.from({ length: layers.length }, () => new Int32Array(T * k));
  for (let start = 0; start < T; start += blockTokens) {
    const end = Math.min(T, start + blockTokens);
    splitLayers(trace.readSpecTopkIds(start, end), start, end - start, layers.length, k, out);
  }
  return out;
}

/** Copies a block of [tokens, L, K] ids, starting at token `start`, into per-layer [T, K] arrays. */
function splitLayers(block: Int32Array, start: number, tokens: number, layers: number, k: number, out: Int32Array[]): void {
  for (let t = 0; t < tokens; t++) {
    for (let l = 0; l < layers; l++) out[l].set(block.subarray((t * layers + l) * k, (t * layers + l + 1) * k), (start + t) * k);
  }
}

function ratesAt(curves: Record<CachePolicy, CacheCurve>, sizes: number[]): Record<CachePolicy, Array<number | null>> {
  return mapPolicies((policy) => sizes.map((size) => hitRate(curves[policy], size)));
}

function mapPolicies<T>(make: (policy: CachePolicy) => T): Record<CachePolicy, T> {
  return Object.fromEntries(cachePolicies.map((policy) => [policy, make(policy)])) as Record<CachePolicy, T>;
}

/** No prediction at any step. */
function noSets(like: StepSets): StepSets {
  return { offsets: new Int32Array(like.offsets.length), experts: new Int32Array(0) };
}
