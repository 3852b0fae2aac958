/**
 * `route --speculate` around the routing it records (the values themselves are held to the float64 reference in
 * route-parity.test.ts): it leaves the real routing untouched, marks layer 0 with -1, survives an interrupted
 * run (between chunks, and inside a layer-streamed pass, whose saved state must carry the FFN input the next
 * layer's speculative gate reads), and a resume may not switch it on or off.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { route, type RouteOptions } from '../src/route/route.js';
import { synthesize } from '../src/synth/synth.js';
import { openTrace } from '../src/trace.js';
import { runCli } from './helpers/cli.js';
import { tinyModelAndPrompts } from './helpers/route-fixture.js';
import { parityPrompts } from './helpers/route-parity.js';
import { tempDir } from './helpers/safetensors-bytes.js';

describe('route --speculate', () => {
  let dir: string;
  let model: string;
  let prompts: string;
  before(async () => {
    dir = tempDir('route-speculate');
    model = path.join(dir, 'mixtral');
    // Mixtral's layer 0 is a MoE layer, so the first recorded layer has no previous layer.
    await synthesize({ preset: 'tiny-mixtral', out: model, seed: 5, dtype: 'bf16' });
    prompts = path.join(dir, 'prompts.txt');
    fs.writeFileSync(prompts, [...parityPrompts, ...parityPrompts.map((p) => p.toUpperCase())].join('\n'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const run = (out: string, options: Partial<RouteOptions> = {}) => route({ prompts, model, out: path.join(dir, out), device: 'cpu', batchTokens: 40, ...options });

  it('records spec_topk_ids beside an unchanged routing, -1 exactly at layer 0', async () => {
    await run('plain.trace.safetensors');
    await run('speculating.trace.safetensors', { speculate: true });
    const [plain, speculating] = [openTrace(path.join(dir, 'plain.trace.safetensors')), openTrace(path.join(dir, 'speculating.trace.safetensors'))];
    try {
      assert.equal(plain.hasSpeculative, false);
      assert.equal(speculating.hasSpeculative, true);
      assert.deepEqual(speculating.readTopkIds(0, speculating.nTokens), plain.readTopkIds(0, plain.nTokens));
      assert.deepEqual(speculating.readTopkWeights(0, speculating.nTokens), plain.readTopkWeights(0, plain.nTokens));
      const { k: K, layers } = speculating;
      assert.equal(layers[0], 0);
      const spec = speculating.readSpecTopkIds(0, speculating.nTokens);
      for (let t = 0; t < speculating.nTokens; t++) {
        layers.forEach((layer, slot) => {
          const ids = Array.from(spec.subarray((t * layers.length + slot) * K, (t * layers.length + slot + 1) * K));
          if (layer === 0) assert.deepEqual(ids, new Array(K).fill(-1), `token ${t}: layer 0 has no previous layer`);
          else assert.equal(new Set(ids.filter((e) => e >= 0)).size, K, `token ${t} layer ${layer}: K distinct experts ${ids}`);
        });
      }
    } finally {
      plain.close();
      speculating.close();
    }
  });

  it('an interrupted speculating run resumes to the same trace; switching --speculate on resume is refused', async () => {
    let passes = 0;
    // Stop during the fourth pass (one chunk each: the tiny model's layers stay loaded), after three chunks are saved.
    const interrupt: RouteOptions['onTiming'] = (timing) => {
      if (timing.phase === 'run' && timing.layer === 0 && ++passes === 4) throw new Error('interrupted');
    };
    await assert.rejects(run('resumed.trace.safetensors', { speculate: true, onTiming: interrupt }), /interrupted/);
    const partial = path.join(dir, 'resumed.trace.safetensors.partial');
    assert.equal(fs.readdirSync(partial).filter((f) => f.startsWith('chunk-')).length, 3);

    await assert.rejects(run('resumed.trace.safetensors', { resume: true }), /cannot resume: speculate was true and is now false/);
    const result = await run('resumed.trace.safetensors', { speculate: true, resume: true });
    assert.equal(result.resumedChunks, 3);

    const [whole, resumed] = [openTrace(path.join(dir, 'speculating.trace.safetensors')), openTrace(path.join(dir, 'resumed.trace.safetensors'))];
    try {
      assert.deepEqual(resumed.readSpecTopkIds(0, resumed.nTokens), whole.readSpecTopkIds(0, whole.nTokens));
      assert.deepEqual(resumed.readTopkIds(0, resumed.nTokens), whole.readTopkIds(0, whole.nTokens));
    } finally {
      whole.close();
      resumed.close();
    }
  });

  it('a layer-streamed speculating pass interrupted after layer 2 resumes to the same bytes', async () => {
    const streamedDir = path.join(dir, 'streamed');
    fs.mkdirSync(streamedDir);
    const { model: tiny, prompts: demo } = await tinyModelAndPrompts(streamedDir);
    const args = (out: string) => ['route', demo, '--model', tiny, '--out', out, '--speculate', '--weight-memory', '0', '--batch-tokens', '64', '--device', 'cpu'];
    const whole = path.join(streamedDir, 'whole.trace.safetensors');
    assert.equal(runCli(args(whole)).code, 0);
    const out = path.join(streamedDir, 'resumed.trace.safetensors');
    // Layer 3's speculative gate reads layer 2's FFN input, which only the saved pass state can give it.
    const interrupted = runCli(args(out), { env: { MOE_INSPECT_TEST_INTERRUPT: 'after-layer:2:SIGINT' } });
    assert.equal(interrupted.code, 130, interrupted.stderr);
    const resumed = runCli([...args(out), '--resume']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /resumed pass 1 of 1 after layer 2/);
    assert.ok(fs.readFileSync(out).equals(fs.readFileSync(whole)), 'the resumed trace is byte-identical to the uninterrupted one');
  });
});
