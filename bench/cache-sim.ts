/**
 * Speed target of the expert cache simulation (issue 15): 1,000,000 tokens x 27 MoE layers x top-6 of 64
 * experts, LRU, LFU and Belady, under 30 s. One stack pass per layer and policy gives every cache size at once
 * (analysis/expert-cache.ts); the table shows five of them. The routing is synthesised one layer at a time, as
 * report-scale.ts does: 60% of choices from a hash of a Zipf-distributed token id, the rest from a skewed
 * popularity table, so caching has locality to find. Only the simulation is timed, not the synthesis.
 *
 * The simulations run as the report runs them: one job per (layer, policy) on worker threads, one per core
 * (analysis/cache-threads.ts); THREADS 1 runs them on the main thread.
 *
 *   node dist/bench/cache-sim.js [TOKENS] [THREADS]     (or npm run bench -- cache)
 */
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Table from 'cli-table3';
import { cacheCurvesOnThreads, policiesCostliestFirst } from '../src/analysis/cache-threads.js';
import { accessOrder, cachePolicies, hitRate, stepSets, type CachePolicy, type StepSets } from '../src/analysis/expert-cache.js';
import { mulberry32 } from '../src/random.js';
import { gaussian, hash, pickCumulative } from './report-scale.js';

export interface CacheBenchResult {
  tokens: number;
  layers: number;
  k: number;
  experts: number;
  sizes: number[];
  /** Worker threads the simulations ran on (1: on the main thread). */
  threads: number;
  /** Seconds of simulation per policy, summed over layers, each measured on the thread that ran it. */
  seconds: Record<CachePolicy, number>;
  /** Wall seconds of every simulation, on `threads` threads, and the CPU seconds of the whole process meanwhile. */
  wallSeconds: number;
  cpuSeconds: number;
  /** The step sets, made on the main thread before the simulations. */
  setsSeconds: number;
  /** Mean over layers of the hit rate at each size. */
  meanRates: Record<CachePolicy, number[]>;
}

export async function cacheBench(tokens = 1_000_000, threads = os.availableParallelism(), layers = 27, k = 6, experts = 64, sizes = [8, 16, 24, 32, 48]): Promise<CacheBenchResult> {
  const random = mulberry32(4242);
  const promptTokens = 512;
  const promptOffsets = Array.from({ length: Math.ceil(tokens / promptTokens) + 1 }, (_, p) => Math.min(tokens, p * promptTokens));
  const tokenIds = Int32Array.from({ length: tokens }, () => Math.floor(1 / (1 - 0.999 * random()) ** 1.1));
  const order = accessOrder(promptOffsets, 1);
  let setsSeconds = 0;
  const sets: StepSets[] = [];
  for (let l = 0; l < layers; l++) {
    const popularity = Float64Array.from({ length: experts }, () => Math.exp(0.8 * gaussian(random)));
    for (let e = 1; e < experts; e++) popularity[e] += popularity[e - 1];
    const ids = new Int32Array(tokens * k);
    for (let t = 0; t < tokens; t++) {
      for (let j = 0; j < k; j++) {
        let e = random() < 0.6 ? hash(tokenIds[t], l, j) % experts : pickCumulative(popularity, random() * popularity[experts - 1]);
        for (let m = 0; m < j; m++) {
          if (ids[t * k + m] === e) {
            e = (e + 1) % experts;
            m = -1;
          }
        }
        ids[t * k + j] = e;
      }
    }
    const started = performance.now();
    sets.push(stepSets(order, experts, ids, k));
    setsSeconds += (performance.now() - started) / 1000;
  }

  // One job per layer and policy, costliest policy first within each layer, as the report runs them.
  const policies = policiesCostliestFirst.length;
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  const curves = await cacheCurvesOnThreads(layers * policies, (index) => ({ demand: sets[Math.floor(index / policies)], experts, policy: policiesCostliestFirst[index % policies] }), threads);
  const wallSeconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStarted);
  const seconds = { lru: 0, lfu: 0, belady: 0 };
  const meanRates = { lru: sizes.map(() => 0), lfu: sizes.map(() => 0), belady: sizes.map(() => 0) };
  curves.forEach(({ curve, seconds: jobSeconds }, index) => {
    const policy = policiesCostliestFirst[index % policies];
    seconds[policy] += jobSeconds;
    sizes.forEach((size, i) => (meanRates[policy][i] += hitRate(curve, size)! / layers));
  });
  const used = Math.min(threads, layers * policies);
  return { tokens, layers, k, experts, sizes, threads: used, seconds, wallSeconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, setsSeconds, meanRates };
}

export function formatCacheTable(result: CacheBenchResult): string {
  const blank = result.sizes.map(() => '');
  const table = new Table({ head: ['', 'seconds', ...result.sizes.map((c) => `hit rate C=${c}`)], style: { head: [], border: [] } });
  for (const policy of cachePolicies) table.push([`${policy} (thread s)`, result.seconds[policy].toFixed(1), ...result.meanRates[policy].map((r) => r.toFixed(3))]);
  table.push([`simulations, ${result.threads} thread${result.threads === 1 ? '' : 's'} (wall s)`, result.wallSeconds.toFixed(1), ...blank]);
  table.push(['  process cpu s meanwhile', result.cpuSeconds.toFixed(1), ...blank]);
  table.push(['step sets (wall s)', result.setsSeconds.toFixed(1), ...blank]);
  table.push(['total (wall s)', (result.setsSeconds + result.wallSeconds).toFixed(1), ...blank]);
  return table.toString();
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const result = await cacheBench(process.argv[2] ? Number(process.argv[2]) : undefined, process.argv[3] ? Number(process.argv[3]) : undefined);
  process.stdout.write(`cache simulation: ${result.tokens.toLocaleString('en-US')} tokens x ${result.layers} layers x top-${result.k} of ${result.experts} experts (target: under 30 s)\n${formatCacheTable(result)}\n`);
}
