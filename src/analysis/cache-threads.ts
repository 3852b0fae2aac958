/**
 * The expert cache simulations of a trace (expert-cache.ts) on worker threads (worker-pool.ts): every layer and
 * policy is one independent stack pass, so each (layer, policy) pair is one job, and idle threads take the
 * next. Step sets live in shared memory (stepSets allocates them so), so the threads read them without a copy;
 * only the hit counts come back. The same jobs give the same numbers on any number of threads.
 */
import { cacheCurve, type CacheCurve, type CachePolicy, type StepSets } from './expert-cache.js';
import { runJobs } from '../worker-pool.js';

/** One stack pass: cacheCurve's arguments. */
export interface CacheJob {
  demand: StepSets;
  experts: number;
  policy: CachePolicy;
  prefetch?: StepSets;
}

export interface TimedCurve {
  curve: CacheCurve;
  /** Wall seconds of the pass on its thread (the bench shows them per policy). */
  seconds: number;
}

/**
 * The policies, costliest first. Plain LRU compares no priorities and takes about half the time of the others,
 * so each layer's LRU job goes last: short jobs at the end of the queue fill the gaps while a thread finishes.
 */
export const policiesCostliestFirst: readonly CachePolicy[] = ['belady', 'lfu', 'lru'];

export function runCacheJob({ demand, experts, policy, prefetch }: CacheJob): TimedCurve {
  const started = performance.now();
  const curve = cacheCurve(demand, experts, policy, prefetch);
  return { curve, seconds: (performance.now() - started) / 1000 };
}

/**
 * Runs jobs 0 .. count-1 (made by `jobAt` in order, when a thread takes them) on `threads` threads (default:
 * every core; one runs them here); results in job order.
 */
export function cacheCurvesOnThreads(count: number, jobAt: (index: number) => CacheJob, threads?: number): Promise<TimedCurve[]> {
  return runJobs(count, jobAt, { worker: new URL('./cache-worker.js', import.meta.url), run: runCacheJob, threads });
}
