/**
 * The offloading what-ifs of one trace (analyses.md "Expert caching and prefetch"), as `report --cache` and
 * `report --prefetch` show them: per MoE layer, the expert cache's hit rate under LRU, LFU and Belady at each
 * cache size and the sizes needed for 90/95/99%; the prefetch predictors' precision and recall and the hit rate
 * of cache + prefetch; and the top-1 transitions between consecutive MoE layers.
 */
import { fileError, InputError } from '../errors.js';
import type { Trace } from '../trace.js';
import { accessOrder, cacheCurve, cachePolicies, hitRate, sizeNeeded, stepSets, type CacheCurve, type CachePolicy, type StepSets } from './expert-cache.js';
import { largestTransitions, topOneTransitions } from './layer-transitions.js';
import { historyPredictions, predictionQuality, speculativePredictions, trainingTokens, transitionCounts, type PredictionQuality, type PrefetchPredictor } from './prefetch.js';

export interface OffloadingOptions {
  /** --cache: the sizes to report (default every valid size) and the decoding batch B. */
  cache?: { sizes?: number[]; batch: number };
  /** --prefetch: the predictors, the first of which also feeds cache + prefetch, and p (default K). */
  prefetch?: { predictors: PrefetchPredictor[]; experts?: number };
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

export function analyseOffloading(trace: Trace, options: OffloadingOptions): OffloadingAnalysis {
  const { k: K, nExperts: E, layers, nTokens: T } = trace;
  const predictors = options.prefetch?.predictors ?? [];
  const p = options.prefetch?.experts ?? K;
  if (!Number.isInteger(p) || p < 1 || p > E) throw new InputError(`invalid --prefetch-experts: ${p} (expected 1 to the ${E} experts)`, 'usage-prefetch-experts');
  if (predictors.includes('speculative')) {
    if (!trace.hasSpeculative) throw fileError(trace.file, 'trace-no-speculative', '--prefetch speculative needs the speculative gate: record the trace with route --speculate');
    if (p > K) throw new InputError(`--prefetch-experts ${p} is more than the ${K} experts the speculative gate records; use at most ${K} with speculative`, 'usage-prefetch-experts');
  }
  const ids = perLayerIds((start, end) => trace.readTopkIds(start, end), T, layers.length, K);
  const speculative = predictors.includes('speculative') ? perLayerIds((start, end) => trace.readSpecTopkIds(start, end), T, layers.length, K) : undefined;
  const training = trainingTokens(trace.promptOffsets);

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
    for (const size of sizes) {
      if (!Number.isInteger(size) || size < smallest || size > E) {
        throw new InputError(`invalid --cache-sizes entry ${size}: a cache holds from min(E, B x K) = ${smallest} to E = ${E} experts`, 'usage-cache-sizes');
      }
    }
    const order = accessOrder(trace.promptOffsets, batch);
    const prefetchPredictor = predictors[0];
    const perLayer = layers.map((layer, slot): LayerCache => {
      const demand = stepSets(order, E, ids[slot], K);
      const curves = policyCurves(demand, E);
      const predicted = prefetchPredictor && predictions(prefetchPredictor, slot);
      const prefetchSets = prefetchPredictor && (predicted ? stepSets(order, E, predicted, p) : noSets(demand));
      return {
        layer,
        accesses: curves.lru.accesses,
        rates: ratesAt(curves, sizes),
        needed: mapPolicies((policy) => hitRateTargets.map((target) => sizeNeeded(curves[policy], target, K))),
        ...(prefetchSets ? { withPrefetch: ratesAt(policyCurves(demand, E, prefetchSets), sizes) } : {}),
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
    const prompts = trace.promptOffsets.length - 1;
    result.prefetch = { p, trainingPrompts: Math.floor(prompts / 2), perLayer, transitions };
  }
  return result;
}

/** Splits a [T, L, K] tensor, read in blocks, into one [T, K] array per layer. */
function perLayerIds(read: (start: number, end: number) => Int32Array, tokens: number, layers: number, k: number, blockTokens = 65536): Int32Array[] {
  const out = Array.from({ length: layers }, () => new Int32Array(tokens * k));
  for (let start = 0; start < tokens; start += blockTokens) {
    const end = Math.min(tokens, start + blockTokens);
    const block = read(start, end);
    for (let t = start; t < end; t++) {
      for (let l = 0; l < layers; l++) out[l].set(block.subarray(((t - start) * layers + l) * k, ((t - start) * layers + l + 1) * k), t * k);
    }
  }
  return out;
}

function policyCurves(demand: StepSets, experts: number, prefetch?: StepSets): Record<CachePolicy, CacheCurve> {
  return mapPolicies((policy) => cacheCurve(demand, experts, policy, prefetch));
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
