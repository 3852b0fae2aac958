/**
 * Holds `route` (onnxruntime, fp32) to the float64 TypeScript reference: at every token and MoE layer the
 * same set of experts, except at near-ties, and the same gate weights to 1e-4 relative; with --speculate, the
 * same set of speculative experts (the layer's gate on the previous layer's FFN input), except at near-ties,
 * and -1 where the layer has no previous layer.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Checkpoint } from '../../src/loaders/checkpoint.js';
import { readModelConfig, type ModelConfig } from '../../src/models/config.js';
import { referenceRoute, type ReferenceRouting } from '../../src/reference/reference-forward.js';
import { route, type RouteOptions } from '../../src/route/route.js';
import { openTrace } from '../../src/trace.js';

/** A reference decision closer than this, between experts or between groups, may go either way in fp32. */
export const NEAR_TIE = 1e-6;
export const WEIGHT_TOLERANCE = 1e-4;

export const parityPrompts = [
  'The quick brown fox jumps over the lazy dog.',
  'In 2023, revenue grew 14.5% to $3,210,000 (up from $2.8M).',
  'def add(a, b):     return a + b',
  '"Are you coming tonight?" she asked. "Maybe," he said.',
  'SELECT name, COUNT(*) FROM users GROUP BY name;',
  'Café au lait costs €4.50 — naïve pricing? 🚀',
  'x',
  'The bank of the river was muddy after the storm, so we walked along the road instead.',
];

export interface ParityResult {
  config: ModelConfig;
  /** Token-layer routings compared. */
  compared: number;
  nearTies: number;
  /** Token-layer speculative choices compared (0 without --speculate), and those skipped as near-ties. */
  speculativeCompared: number;
  speculativeNearTies: number;
  /** Token-layer choices without the balancing bias compared (models with e_score_correction_bias), and their near-ties. */
  unbiasedCompared: number;
  unbiasedNearTies: number;
  /** Of those compared, the token-layers where the bias changed the set of experts. */
  unbiasedChanged: number;
  /** The fast path's chosen experts, (tokens, MoE layers, K), and the trace's MoE layers. */
  topkIds: Int32Array;
  layers: number[];
  /** The trace route wrote. */
  trace: string;
}

/** Routes the parity prompts through `model` and compares every decision with the reference. */
export async function checkRouteParity(model: string, workDir: string, routeOptions: Partial<RouteOptions> = {}): Promise<ParityResult> {
  const promptsFile = path.join(workDir, 'prompts.txt');
  fs.writeFileSync(promptsFile, parityPrompts.join('\n'));
  const out = path.join(workDir, `trace-${path.basename(model)}.safetensors`);
  // A small batch so several chunks (and the packing of several prompts per chunk) are exercised.
  await route({ prompts: promptsFile, model, out, device: 'cpu', batchTokens: 40, ...routeOptions });

  const config = readModelConfig(model);
  const checkpoint = Checkpoint.open(model);
  const cache = new Map<string, Float64Array>();
  const weight = (name: string) => cache.get(name) ?? cache.set(name, checkpoint.readFloat64(name)).get(name)!;
  const trace = openTrace(out);
  const { topK: K } = config;
  const L = trace.layers.length;
  const ids = trace.readTopkIds(0, trace.nTokens);
  const weights = trace.readTopkWeights(0, trace.nTokens);
  const specIds = trace.hasSpeculative ? trace.readSpecTopkIds(0, trace.nTokens) : undefined;
  // Models with the balancing bias record the choice without it too, held to the reference the same way.
  const hasBias = config.topkMethod === 'noaux_tc';
  assert.equal(trace.hasUnbiased, hasBias, `unbiased_topk_ids recorded iff the model has e_score_correction_bias (${config.topkMethod})`);
  const unbiasedIds = hasBias ? trace.readUnbiasedTopkIds(0, trace.nTokens) : undefined;
  const isNearTie = (r: Pick<ReferenceRouting, 'margin' | 'groupMargin'>) => r.margin < NEAR_TIE || r.groupMargin < NEAR_TIE;

  let compared = 0;
  let nearTies = 0;
  let speculativeCompared = 0;
  let speculativeNearTies = 0;
  let unbiasedCompared = 0;
  let unbiasedNearTies = 0;
  let unbiasedChanged = 0;
  try {
    for (let p = 0; p < trace.nPrompts; p++) {
      const start = trace.promptOffsets[p];
      const tokenIds = Array.from(trace.tokenIds.subarray(start, trace.promptOffsets[p + 1]));
      const fastChoice = (layer: number, position: number) => {
        const at = ((start + position) * L + trace.layers.indexOf(layer)) * K;
        return Array.from(ids.subarray(at, at + K));
      };
      // At a near-tie the reference follows the fast path, so one tie does not spread to later layers.
      const reference = referenceRoute(config, weight, tokenIds, {
        overrideChoice: (layer, position, decision) => (isNearTie(decision) ? fastChoice(layer, position) : undefined),
      });
      reference.forEach((perLayer, position) => {
        perLayer.forEach((expected, slot) => {
          const at = ((start + position) * L + slot) * K;
          const got = Array.from(ids.subarray(at, at + K));
          const where = `prompt ${p} token ${position} layer ${expected.layer}`;
          if (specIds) {
            const gotSpeculative = Array.from(specIds.subarray(at, at + K));
            if (!expected.speculative) assert.deepEqual(gotSpeculative, new Array(K).fill(-1), `${where}: no previous layer, so no speculative choice`);
            else if (isNearTie(expected.speculative)) speculativeNearTies++;
            else {
              const sorted = (list: number[]) => [...list].sort((a, b) => a - b);
              assert.deepEqual(sorted(gotSpeculative), sorted(expected.speculative.ids), `${where}: speculative experts`);
              speculativeCompared++;
            }
          }
          if (unbiasedIds) {
            const unbiased = expected.unbiased!;
            if (isNearTie(unbiased)) unbiasedNearTies++;
            else {
              const gotUnbiased = Array.from(unbiasedIds.subarray(at, at + K)).sort((a, b) => a - b);
              assert.deepEqual(gotUnbiased, [...unbiased.ids].sort((a, b) => a - b), `${where}: experts without the bias`);
              unbiasedCompared++;
              if (gotUnbiased.join() !== Array.from(ids.subarray(at, at + K)).sort((a, b) => a - b).join()) unbiasedChanged++;
            }
          }
          if (isNearTie(expected)) {
            nearTies++;
            return;
          }
          assert.deepEqual([...got].sort((a, b) => a - b), [...expected.ids].sort((a, b) => a - b), `${where}: experts`);
          for (let j = 0; j < K; j++) {
            const want = expected.weights[expected.ids.indexOf(got[j])];
            const rel = Math.abs(weights[at + j] - want) / Math.abs(want);
            assert.ok(rel <= WEIGHT_TOLERANCE, `${where}: weight of expert ${got[j]} ${weights[at + j]} vs ${want}`);
          }
          compared++;
        });
      });
    }
  } finally {
    trace.close();
    checkpoint.close();
  }
  return { config, compared, nearTies, speculativeCompared, speculativeNearTies, unbiasedCompared, unbiasedNearTies, unbiasedChanged, topkIds: ids, layers: trace.layers, trace: out };
}
