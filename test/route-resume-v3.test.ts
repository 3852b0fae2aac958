/**
 * Resume keeps unbiased_topk_ids: a DeepSeek-V3 layout (tiny-v3: layers 0-2 dense, 3-4 MoE, with
 * e_score_correction_bias) streamed layer by layer, interrupted after MoE layer 3 and resumed, gives the same
 * bytes as an uninterrupted run, so the choice without the bias at layer 3 came back from the saved pass state.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { route } from '../src/route/route.js';
import { synthesize } from '../src/synth/synth.js';
import { openTrace } from '../src/trace.js';
import { repoRoot, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/safetensors-bytes.js';

describe('route --resume of a DeepSeek-V3 layout keeps unbiased_topk_ids', () => {
  let dir: string;
  let model: string;
  let prompts: string;
  const streamed = ['--weight-memory', '0', '--batch-tokens', '64', '--device', 'cpu'];
  const routeArgs = (out: string) => ['route', prompts, '--model', model, '--out', out, ...streamed];

  before(async () => {
    dir = tempDir('route-resume-v3');
    model = path.join(dir, 'model');
    await synthesize({ preset: 'tiny-v3', out: model, seed: 5, dtype: 'bf16' });
    prompts = path.join(dir, 'prompts.txt');
    fs.writeFileSync(prompts, fs.readFileSync(path.join(repoRoot(), 'assets', 'prompts', 'demo.txt'), 'utf8').split('\n').slice(0, 30).join('\n'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('interrupted after layer 3, resumed: byte-identical to an uninterrupted run, with the tensor present', async () => {
    const whole = path.join(dir, 'whole.trace.safetensors');
    const uninterrupted = runCli(routeArgs(whole));
    assert.equal(uninterrupted.code, 0, uninterrupted.stderr);
    const trace = openTrace(whole);
    try {
      assert.ok(trace.hasUnbiased, 'route records unbiased_topk_ids for a model with the bias');
    } finally {
      trace.close();
    }

    const out = path.join(dir, 'resumed.trace.safetensors');
    const killed = runCli(routeArgs(out), { env: { MOE_INSPECT_TEST_INTERRUPT: 'after-layer:3:SIGINT' } });
    assert.equal(killed.code, 130, killed.stderr);
    await route({ prompts, model, out, device: 'cpu', batchTokens: 64, weightBudgetBytes: 0, resume: true });
    assert.ok(fs.readFileSync(out).equals(fs.readFileSync(whole)), 'the resumed trace is byte-identical to the uninterrupted one');
  });
});
