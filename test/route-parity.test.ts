/**
 * The foundation: `route` (onnxruntime, fp32) must choose the same experts as the float64 TypeScript
 * reference at every token and MoE layer, except at near-ties (reference margin below 1e-6), and give the
 * same gate weights to 1e-4 relative; on synthetic tiny checkpoints stored in f32 and in bf16.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Checkpoint } from '../src/loaders/checkpoint.js';
import { PromptTokenizer } from '../src/loaders/tokenizer.js';
import { readModelConfig } from '../src/models/config.js';
import { referenceRoute } from '../src/reference/reference-forward.js';
import { route } from '../src/route/route.js';
import { synthesize } from '../src/synth/synth.js';
import { openTrace } from '../src/trace.js';
import { tempDir } from './helpers/safetensors-bytes.js';

const NEAR_TIE = 1e-6;
const WEIGHT_TOLERANCE = 1e-4;

const prompts = [
  'The quick brown fox jumps over the lazy dog.',
  'In 2023, revenue grew 14.5% to $3,210,000 (up from $2.8M).',
  'def add(a, b):\n    return a + b',
  '"Are you coming tonight?" she asked. "Maybe," he said.',
  'SELECT name, COUNT(*) FROM users GROUP BY name;',
  'Café au lait costs €4.50 — naïve pricing? 🚀',
  'x',
  'The bank of the river was muddy after the storm, so we walked along the road instead.',
];

for (const dtype of ['f32', 'bf16'] as const) {
  describe(`route matches the float64 reference (tiny, ${dtype})`, () => {
    let dir: string;
    before(() => {
      dir = tempDir(`parity-${dtype}`);
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('picks the same experts at every token and layer, with the same weights', async () => {
      const model = path.join(dir, 'model');
      await synthesize({ preset: 'tiny', out: model, seed: 7, dtype, planted: true });
      const promptsFile = path.join(dir, 'prompts.txt');
      fs.writeFileSync(promptsFile, prompts.map((p) => p.replace(/\n/g, ' ')).join('\n'));
      const out = path.join(dir, 'trace.safetensors');
      // A small batch so several chunks (and the packing of several prompts per chunk) are exercised.
      await route({ prompts: promptsFile, model, out, device: 'cpu', batchTokens: 40 });

      const config = readModelConfig(model);
      const checkpoint = Checkpoint.open(model);
      const cache = new Map<string, Float64Array>();
      const weight = (name: string) => cache.get(name) ?? cache.set(name, checkpoint.readFloat64(name)).get(name)!;
      const tokenizer = PromptTokenizer.load(model);
      const trace = openTrace(out);
      const { topK: K } = config;
      const L = trace.layers.length;
      const ids = trace.readTopkIds(0, trace.nTokens);
      const weights = trace.readTopkWeights(0, trace.nTokens);

      let compared = 0;
      let nearTies = 0;
      for (let p = 0; p < trace.nPrompts; p++) {
        const start = trace.promptOffsets[p];
        const tokenIds = Array.from(trace.tokenIds.subarray(start, trace.promptOffsets[p + 1]));
        assert.deepEqual(tokenIds, tokenizer.encode(fs.readFileSync(promptsFile, 'utf8').split('\n')[p]).ids, `prompt ${p} token ids`);
        const fastChoice = (layer: number, position: number) => {
          const slot = trace.layers.indexOf(layer);
          const at = ((start + position) * L + slot) * K;
          return Array.from(ids.subarray(at, at + K));
        };
        // At a near-tie the reference follows the fast path, so one tie does not spread to later layers.
        const reference = referenceRoute(config, weight, tokenIds, {
          overrideChoice: (layer, position, scores) => {
            const sorted = Array.from(scores).sort((a, b) => b - a);
            return sorted[K - 1] - sorted[K] < NEAR_TIE ? fastChoice(layer, position) : undefined;
          },
        });
        reference.forEach((perLayer, position) => {
          perLayer.forEach((expected, slot) => {
            const at = ((start + position) * L + slot) * K;
            const got = Array.from(ids.subarray(at, at + K));
            if (expected.margin < NEAR_TIE) {
              nearTies++;
              return;
            }
            assert.deepEqual([...got].sort((a, b) => a - b), [...expected.ids].sort((a, b) => a - b), `prompt ${p} token ${position} layer ${expected.layer}: experts`);
            for (let j = 0; j < K; j++) {
              const want = expected.scores[got[j]];
              const rel = Math.abs(weights[at + j] - want) / Math.abs(want);
              assert.ok(rel <= WEIGHT_TOLERANCE, `prompt ${p} token ${position} layer ${expected.layer}: weight ${weights[at + j]} vs ${want}`);
            }
            compared++;
          });
        });
      }
      trace.close();
      checkpoint.close();
      assert.ok(compared > 100, `compared ${compared} token-layer routings`);
      assert.ok(nearTies <= compared / 100, `${nearTies} near-ties is suspiciously many`);
    });
  });
}
