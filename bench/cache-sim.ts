/**
 * Speed target of the expert cache simulation (issue 15): 1,000,000 tokens x 27 MoE layers x top-6 of 64
 * experts, LRU, LFU and Belady, under 30 s. One stack pass per layer and policy gives every cache size at once
 * (analysis/expert-cache.ts); the table shows five of them. The routing is synthesised one layer at a time, as
 * report-scale.ts does: 60% of choices from a hash of a Zipf-distributed token id, the rest from a skewed
 * popularity table, so caching has locality to find. Only the simulation is timed, not the synthesis.
 *
 *   node dist/bench/cache-sim.js [TOKENS]     (or npm run bench -- cache)
 */
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import Table from 'cli-table3';
import { accessOrder, cacheCurve, cachePolicies, hitRate, stepSets, type CachePolicy } from '../src/analysis/expert-cache.js';
import { mulberry32 } from '../src/random.js';
import { gaussian, hash, pickCumulative } from './report-scale.js';

export interface CacheBenchResult {
  tokens: number;
  layers: number;
  k: number;
  experts: number;
  sizes: number[];
  /** Wall seconds of simulation per policy, summed over layers (step sets apart, in `setsSeconds`). */
  seconds: Record<CachePolicy, number>;
  /** The same in CPU seconds of this process, which a machine shared with other work inflates less. */
  cpuSeconds: Record<CachePolicy, number>;
  setsSeconds: number;
  setsCpuSeconds: number;
  /** Mean over layers of the hit rate at each size. */
  meanRates: Record<CachePolicy, number[]>;
}

export function cacheBench(tokens = 1_000_000, layers = 27, k = 6, experts = 64, sizes = [8, 16, 24, 32, 48]): CacheBenchResult {
  const random = mulberry32(4242);
  const promptTokens = 512;
  const promptOffsets = Array.from({ length: Math.ceil(tokens / promptTokens) + 1 }, (_, p) => Math.min(tokens, p * promptTokens));
  const tokenIds = Int32Array.from({ length: tokens }, () => Math.floor(1 / (1 - 0.999 * random()) ** 1.1));
  const order = accessOrder(promptOffsets, 1);
  const seconds = { lru: 0, lfu: 0, belady: 0 };
  const cpuSeconds = { lru: 0, lfu: 0, belady: 0 };
  let setsSeconds = 0;
  let setsCpuSeconds = 0;
  const cpuNow = () => process.cpuUsage().user / 1e6;
  const meanRates = { lru: sizes.map(() => 0), lfu: sizes.map(() => 0), belady: sizes.map(() => 0) };
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
    let started = performance.now();
    let cpuStarted = cpuNow();
    const sets = stepSets(order, experts, ids, k);
    setsSeconds += (performance.now() - started) / 1000;
    setsCpuSeconds += cpuNow() - cpuStarted;
    for (const policy of cachePolicies) {
      started = performance.now();
      cpuStarted = cpuNow();
      const curve = cacheCurve(sets, experts, policy);
      seconds[policy] += (performance.now() - started) / 1000;
      cpuSeconds[policy] += cpuNow() - cpuStarted;
      sizes.forEach((size, i) => (meanRates[policy][i] += hitRate(curve, size)! / layers));
    }
  }
  return { tokens, layers, k, experts, sizes, seconds, cpuSeconds, setsSeconds, setsCpuSeconds, meanRates };
}

export function formatCacheTable(result: CacheBenchResult): string {
  const total = (of: Record<CachePolicy, number>, sets: number) => sets + cachePolicies.reduce((sum, policy) => sum + of[policy], 0);
  const blank = result.sizes.map(() => '');
  const table = new Table({ head: ['policy', 'simulation s', 'cpu s', ...result.sizes.map((c) => `hit rate C=${c}`)], style: { head: [], border: [] } });
  for (const policy of cachePolicies) table.push([policy, result.seconds[policy].toFixed(1), result.cpuSeconds[policy].toFixed(1), ...result.meanRates[policy].map((r) => r.toFixed(3))]);
  table.push(['step sets', result.setsSeconds.toFixed(1), result.setsCpuSeconds.toFixed(1), ...blank]);
  table.push(['total', total(result.seconds, result.setsSeconds).toFixed(1), total(result.cpuSeconds, result.setsCpuSeconds).toFixed(1), ...blank]);
  return table.toString();
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const result = cacheBench(process.argv[2] ? Number(process.argv[2]) : undefined);
  process.stdout.write(`cache simulation: ${result.tokens.toLocaleString('en-US')} tokens x ${result.layers} layers x top-${result.k} of ${result.experts} experts (target: under 30 s)\n${formatCacheTable(result)}\n`);
}
