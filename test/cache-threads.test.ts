/**
 * The cache simulations on worker threads (analysis/cache-threads.ts) give exactly what the same simulations
 * give on the main thread, job by job and assembled into the report's offloading figure; a failing simulation
 * rejects in one line.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cacheCurvesOnThreads, type CacheJob } from '../src/analysis/cache-threads.js';
import { accessOrder, cacheCurve, cachePolicies, hitRate, stepSets } from '../src/analysis/expert-cache.js';
import { analyseOffloading, type OffloadingInput } from '../src/analysis/offloading.js';
import { InputError } from '../src/errors.js';
import { seededRandom } from './helpers/safetensors-bytes.js';

/** A seeded routing of `layers` layers, [T, K] each with K distinct experts, skewed, and random prompt lengths. */
function randomInput(seed: number, layers: number, tokens: number, k: number, experts: number): OffloadingInput {
  const random = seededRandom(seed);
  const ids = Array.from({ length: layers }, () => {
    const layer = new Int32Array(tokens * k);
    for (let t = 0; t < tokens; t++) {
      const chosen = new Set<number>();
      while (chosen.size < k) chosen.add(Math.floor(experts * random() * random()));
      layer.set([...chosen], t * k);
    }
    return layer;
  });
  const promptOffsets = [0];
  while (promptOffsets[promptOffsets.length - 1] < tokens) promptOffsets.push(Math.min(tokens, promptOffsets[promptOffsets.length - 1] + 1 + Math.floor(random() * 60)));
  return { layers: Array.from({ length: layers }, (_, l) => l + 1), k, experts, promptOffsets, ids };
}

describe('cache simulations on threads', () => {
  const input = randomInput(21, 5, 900, 3, 16);
  const order = accessOrder(input.promptOffsets, 2);
  const demand = input.ids.map((ids) => stepSets(order, input.experts, ids, input.k));
  // Every layer's sets under every policy, with and without the next layer's experts as a prefetch.
  const jobs: CacheJob[] = demand.flatMap((sets, l) =>
    cachePolicies.flatMap((policy) => [
      { demand: sets, experts: input.experts, policy },
      { demand: sets, experts: input.experts, policy, prefetch: demand[(l + 1) % demand.length] },
    ]),
  );

  it('each job gives the same hit counts on 3 threads, on 1, and from cacheCurve directly', async () => {
    const threaded = await cacheCurvesOnThreads(jobs.length, (i) => jobs[i], 3);
    const inline = await cacheCurvesOnThreads(jobs.length, (i) => jobs[i], 1);
    assert.deepEqual(
      threaded.map((r) => r.curve),
      inline.map((r) => r.curve),
    );
    jobs.forEach((job, i) => assert.deepEqual(threaded[i].curve, cacheCurve(job.demand, job.experts, job.policy, job.prefetch), `job ${i}`));
  });

  it("the offloading figure is the same on 2 threads as on 1, with rates from each layer's own simulation", async () => {
    const options = { cache: { batch: 2 }, prefetch: {} };
    const threaded = await analyseOffloading(input, options, ['history'], 3, 2);
    const inline = await analyseOffloading(input, options, ['history'], 3, 1);
    assert.deepEqual(threaded, inline);
    // Each job's result lands on its layer and policy: the rates without prefetch, simulated here layer by layer.
    const { sizes, perLayer } = threaded.cache!;
    for (const [l, sets] of demand.entries()) {
      for (const policy of cachePolicies) {
        const curve = cacheCurve(sets, input.experts, policy);
        assert.deepEqual(
          perLayer[l].rates[policy],
          sizes.map((size) => hitRate(curve, size)),
          `layer ${l} ${policy}`,
        );
      }
    }
    assert.ok(perLayer[1].withPrefetch, 'the history predictor prefetches from the second layer on');
  });

  it('a simulation that fails on a thread rejects the run in one line', async () => {
    const bad: CacheJob = { ...jobs[0], prefetch: { offsets: new Int32Array(3), experts: new Int32Array(0) } };
    await assert.rejects(
      cacheCurvesOnThreads(4, (i) => (i === 2 ? bad : jobs[i]), 2),
      (error: unknown) => error instanceof InputError && error.code === 'worker-failed' && /^a worker thread failed: cacheCurve: prefetch sets must have one set per step$/.test(error.message),
    );
  });
});
