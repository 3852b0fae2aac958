/**
 * The foundation: `route` (onnxruntime, fp32) must choose the same experts as the float64 TypeScript
 * reference at every token and MoE layer, except at near-ties (reference margin below 1e-6), and give the
 * same gate weights to 1e-4 relative: for every family, in f32, bf16 and FP8 storage (sharded checkpoints), with
 * all layers kept loaded or one loaded at a time, and with all experts loaded at once or streamed one at a time.
 * Every case but one also records the speculative gate (route --speculate), held to the reference the same way.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { analyseTrace } from '../src/analysis/analyse.js';
import { synthesize, type SynthOptions } from '../src/synth/synth.js';
import { openTrace } from '../src/trace.js';
import { checkRouteParity } from './helpers/route-parity.js';
import { tempDir } from './helpers/safetensors-bytes.js';

interface ParityCase {
  preset: string;
  dtype: NonNullable<SynthOptions['dtype']>;
  /** Load routed experts one at a time (the path for layers too large for memory). */
  streamed?: boolean;
  /** Load one layer's weights at a time into shared buffers (the path of every real checkpoint). */
  layerByLayer?: boolean;
  /** All prompts in one chunk, so its attention runs in several groups of similar length. */
  oneChunk?: boolean;
  /** Route without --speculate (the graphs then have no x_previous input). */
  plain?: boolean;
}

const cases: ParityCase[] = [
  { preset: 'tiny', dtype: 'f32', plain: true },
  { preset: 'tiny', dtype: 'bf16' },
  { preset: 'tiny', dtype: 'bf16', streamed: true },
  { preset: 'tiny-v2', dtype: 'f32' },
  { preset: 'tiny-v2', dtype: 'bf16' },
  { preset: 'tiny-v3', dtype: 'f32' },
  { preset: 'tiny-v3', dtype: 'bf16' },
  { preset: 'tiny-v3', dtype: 'fp8' },
  { preset: 'tiny-v3', dtype: 'fp8', streamed: true },
  { preset: 'tiny-v3', dtype: 'fp8', layerByLayer: true },
  { preset: 'tiny-mixtral', dtype: 'bf16' },
  { preset: 'tiny-mixtral', dtype: 'bf16', layerByLayer: true },
  { preset: 'tiny-mixtral', dtype: 'bf16', oneChunk: true },
  { preset: 'tiny-v3', dtype: 'fp8', oneChunk: true },
  { preset: 'tiny-qwen2-moe', dtype: 'bf16' },
  { preset: 'tiny-olmoe', dtype: 'bf16' },
];

let dir: string;
before(() => {
  dir = tempDir('parity');
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

for (const { preset, dtype, streamed = false, layerByLayer = false, oneChunk = false, plain = false } of cases) {
  const paths = [streamed ? 'experts streamed' : '', layerByLayer ? 'one layer loaded at a time' : '', oneChunk ? 'one chunk' : '', plain ? '' : 'speculating'].filter(Boolean);
  describe(`route matches the float64 reference (${[preset, dtype, ...paths].join(', ')})`, () => {
    it('picks the same experts at every token and layer, with the same weights', async () => {
      const model = path.join(dir, `${preset}-${dtype}`);
      if (!fs.existsSync(model)) await synthesize({ preset, out: model, seed: 7, dtype, planted: true });
      const work = fs.mkdtempSync(path.join(dir, 'run-'));
      const result = await checkRouteParity(model, work, {
        ...(streamed ? { expertBudgetBytes: 0 } : {}),
        ...(layerByLayer ? { weightBudgetBytes: 0 } : {}),
        ...(oneChunk ? { batchTokens: 100_000 } : {}),
        speculate: !plain,
      });
      assert.ok(result.compared > 100, `compared ${result.compared} token-layer routings`);
      assert.ok(result.nearTies <= result.compared / 100, `${result.nearTies} near-ties is suspiciously many`);
      if (plain) assert.equal(result.speculativeCompared, 0);
      else {
        assert.ok(result.speculativeCompared > 100, `compared ${result.speculativeCompared} speculative choices`);
        assert.ok(result.speculativeNearTies <= result.speculativeCompared / 100, `${result.speculativeNearTies} speculative near-ties is suspiciously many`);
      }
      if (result.config.topkMethod === 'noaux_tc') {
        assert.ok(result.unbiasedCompared > 100, `compared ${result.unbiasedCompared} choices without the bias`);
        assert.ok(result.unbiasedNearTies <= result.unbiasedCompared / 100, `${result.unbiasedNearTies} near-ties without the bias is suspiciously many`);
        // The comparison means something only if the bias changes some choices.
        assert.ok(result.unbiasedChanged > 0, 'the bias changed no choice: the unbiased comparison would not tell the two apart');
      }

      // analyses.md, groups per token: a group-limited router draws each token's experts from at most topk_group
      // groups. Counted here directly, and by the report's analysis, which must find no violation.
      const { config, topkIds } = result;
      if (config.topkMethod !== 'greedy') {
        const perGroup = config.nRoutedExperts / config.nGroup;
        for (let i = 0; i < topkIds.length; i += config.topK) {
          const groups = new Set(Array.from(topkIds.subarray(i, i + config.topK), (e) => Math.floor(e / perGroup)));
          assert.ok(groups.size <= config.topkGroup, `token-layer ${i / config.topK}: experts from ${groups.size} groups, topk_group ${config.topkGroup}`);
        }
        const trace = openTrace(result.trace);
        const analysis = await analyseTrace(trace, { name: preset });
        trace.close();
        assert.equal(analysis.figures.groups?.limit.enforced, true);
        for (const layer of analysis.figures.groups!.perLayer) {
          assert.equal(layer.violations, 0);
          assert.equal(layer.histogram.reduce((a, b) => a + b, 0), trace.nTokens);
        }
      }
    });
  });
}
