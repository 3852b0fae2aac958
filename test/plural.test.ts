/**
 * Counts of one read in the singular ("1 prompt", "1 layer", "the busiest expert"), in the helper and in what the
 * commands print for a model with a single MoE layer routed on a single prompt.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { noun, plural } from '../src/plural.js';
import { synthesize } from '../src/synth/synth.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/safetensors-bytes.js';

describe('plural', () => {
  it('uses the singular for exactly one, the plural otherwise, and a given irregular plural', () => {
    assert.equal(plural(1, 'prompt'), '1 prompt');
    assert.equal(plural(0, 'prompt'), '0 prompts');
    assert.equal(plural(2, 'MoE layer'), '2 MoE layers');
    assert.equal(plural(1, 'was', 'were'), '1 was');
    assert.equal(noun(3, 'lives', 'live'), 'live');
  });
});

describe('what the commands print for counts of one', () => {
  let dir: string;
  let trace: string;
  before(async () => {
    dir = tempDir('plural');
    // tiny cut to 2 layers: dense layer 0 and one MoE layer; 16 experts, so ceil(E/10) = 2 busiest experts.
    const model = path.join(dir, 'model');
    await synthesize({ preset: 'tiny', out: model, layers: 2 });
    const prompts = path.join(dir, 'one.txt');
    fs.writeFileSync(prompts, 'a single prompt\n');
    trace = path.join(dir, 'one.trace.safetensors');
    const routed = runCli(['route', prompts, '--model', model, '--out', trace]);
    assert.equal(routed.code, 0, routed.stderr);
    assert.match(routed.stdout, /^routed \d+ tokens of 1 prompt on /);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('synth, balance and report', () => {
    const synth = runCli(['synth', '--preset', 'tiny', '--layers', '2', '--out', path.join(dir, 'again')]);
    assert.match(synth.stdout, /\(2 layers, 4 shards, /);
    const plan = runCli(['balance', trace, '--gpus', '2', '--replicas', '20', '--groups', '1', '--nodes', '1', '--out', path.join(dir, 'plan.json')]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stderr, /left out 1 layer with no load \(dense\): 0/);
    assert.match(plan.stdout, /plan for 1 layer, mean balancedness/);
    const html = path.join(dir, 'report.html');
    assert.equal(runCli(['report', trace, '--out', html, '--gpus', '2', '--nodes', '1']).code, 0);
    const page = fs.readFileSync(html, 'utf8');
    assert.match(page, /1 MoE layer \(1\.\.1\)/);
    assert.match(page, /2 GPUs on 1 node,/);
    assert.doesNotMatch(page, /\b1 (prompts|layers|MoE layers|nodes|experts|tokens|groups)\b/);
  });
});
