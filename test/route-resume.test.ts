/**
 * Resume of a layer-streamed pass: `--weight-memory 0` makes the tiny model (4 layers: 0 dense, 1-3 MoE) load its
 * layers one at a time, so all chunks run as one pass that saves its state after every layer. The run is
 * interrupted at a chosen layer through MOE_INSPECT_TEST_INTERRUPT (src/route/test-interrupt.ts: a real signal
 * the process sends itself, or a hard kill in the middle of a save), resumed, and held to an uninterrupted run
 * byte for byte, counting which layers the resumed run ran.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InputError } from '../src/errors.js';
import { writeSafetensors } from '../src/loaders/safetensors-writer.js';
import { route, type Timing } from '../src/route/route.js';
import { runCli, spawnCli } from './helpers/cli.js';
import { signalAfterChunks, tinyModelAndPrompts } from './helpers/route-fixture.js';
import { tempDir } from './helpers/safetensors-bytes.js';


describe('route --resume of a layer-streamed pass', () => {
  let dir: string;
  let model: string;
  let prompts: string;
  let whole: Buffer;
  const streamed = ['--weight-memory', '0', '--batch-tokens', '64', '--device', 'cpu'];
  const routeArgs = (out: string) => ['route', prompts, '--model', model, '--out', out, ...streamed];

  before(async () => {
    dir = tempDir('route-resume');
    ({ model, prompts } = await tinyModelAndPrompts(dir));
    const out = path.join(dir, 'whole.trace.safetensors');
    const uninterrupted = runCli(routeArgs(out));
    assert.equal(uninterrupted.code, 0, uninterrupted.stderr);
    whole = fs.readFileSync(out);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Resumes in this process, returning the model layers it ran and the line saying what it resumed. */
  async function resumeCounting(out: string): Promise<{ layersRun: number[]; notes: string[] }> {
    const layersRun: number[] = [];
    const notes: string[] = [];
    const onTiming = (timing: Timing) => {
      if (timing.phase === 'run') layersRun.push(timing.layer);
    };
    await route({ prompts, model, out, device: 'cpu', batchTokens: 64, weightBudgetBytes: 0, resume: true, onTiming, note: (line) => notes.push(line) });
    return { layersRun, notes };
  }

  it('SIGINT after layer 2 saves the pass, exits 130 with one line; --resume runs only layer 3 and gives the same bytes', async () => {
    const out = path.join(dir, 'sigint.trace.safetensors');
    const killed = runCli(routeArgs(out), { env: { MOE_INSPECT_TEST_INTERRUPT: 'after-layer:2:SIGINT' } });
    assert.equal(killed.code, 130, killed.stderr);
    assert.deepEqual(killed.stderr.trim().split('\n'), [`moe-inspect: interrupted: saved pass 1 of 1 after layer 2 and 0 of 66 chunks in ${out}.partial; run again with --resume to continue`]);
    assert.ok(!fs.existsSync(out), 'no trace from the interrupted run');
    assert.ok(fs.existsSync(path.join(`${out}.partial`, 'pass.safetensors')));

    const again = runCli(routeArgs(out));
    assert.equal(again.code, 1, 'a rerun without --resume refuses to overwrite the interrupted run');

    const { layersRun, notes } = await resumeCounting(out);
    assert.deepEqual(notes, ['resumed pass 1 of 1 after layer 2 (0 of 66 chunks finished before it)']);
    assert.deepEqual(layersRun, [3], 'layers 0 to 2 are not run again');
    assert.ok(fs.readFileSync(out).equals(whole), 'the resumed trace is byte-identical to the uninterrupted one');
    assert.ok(!fs.existsSync(`${out}.partial`), 'the work folder is removed once the trace is complete');
  });

  it('SIGTERM exits 143; the CLI says what it resumed', () => {
    const out = path.join(dir, 'sigterm.trace.safetensors');
    const killed = runCli(routeArgs(out), { env: { MOE_INSPECT_TEST_INTERRUPT: 'after-layer:1:SIGTERM' } });
    assert.equal(killed.code, 143, killed.stderr);
    assert.match(killed.stderr, /saved pass 1 of 1 after layer 1 .*run again with --resume/);
    const resumed = runCli([...routeArgs(out), '--resume']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /^moe-inspect: resumed pass 1 of 1 after layer 1 /);
    assert.match(resumed.stdout, /\(0 of 66 chunks from the interrupted run, and pass 1 of 1 after layer 1\)/);
    assert.ok(fs.readFileSync(out).equals(whole));
  });

  it('a second signal exits at once, losing only the layer in progress', async () => {
    const out = path.join(dir, 'twice.trace.safetensors');
    const killed = runCli(routeArgs(out), { env: { MOE_INSPECT_TEST_INTERRUPT: 'after-layer:2:SIGINT:2' } });
    assert.equal(killed.code, 130, killed.stderr);
    assert.match(killed.stderr, /interrupted again: stopped at once/);
    const { layersRun, notes } = await resumeCounting(out);
    assert.match(notes[0], /^resumed pass 1 of 1 after layer 1 /, 'layer 2 was in progress (its state not saved yet)');
    assert.deepEqual(layersRun, [2, 3]);
    assert.ok(fs.readFileSync(out).equals(whole));
  });

  it('a kill during the save of a layer leaves the previous layer\'s state, which resumes to the same bytes', async () => {
    const out = path.join(dir, 'in-save.trace.safetensors');
    const killed = runCli(routeArgs(out), { env: { MOE_INSPECT_TEST_INTERRUPT: 'during-save:2' } });
    assert.equal(killed.code, -1, 'killed by SIGKILL');
    const left = fs.readdirSync(`${out}.partial`);
    assert.ok(left.some((f) => f.startsWith('.pass.safetensors.') && f.endsWith('.tmp')), `the save was cut short: ${left}`);
    const { layersRun, notes } = await resumeCounting(out);
    assert.match(notes[0], /^resumed pass 1 of 1 after layer 1 /);
    assert.deepEqual(layersRun, [2, 3]);
    assert.ok(fs.readFileSync(out).equals(whole));
  });

  it('a model whose layers stay loaded: SIGINT stops after the chunk in progress, which --resume skips', async () => {
    const out = path.join(dir, 'chunks.trace.safetensors');
    const partial = `${out}.partial`;
    const args = ['route', prompts, '--model', model, '--out', out, '--batch-tokens', '64', '--device', 'cpu'];
    const child = spawnCli(args);
    let stderr = '';
    child.stderr!.on('data', (data) => (stderr += data));
    const code = await signalAfterChunks(child, partial, 3, 'SIGINT');
    assert.equal(code, 130, stderr);
    const [, saved] = /^moe-inspect: interrupted: saved (\d+) of 66 chunks in .*; run again with --resume to continue\n$/.exec(stderr) ?? [];
    assert.ok(saved, stderr);
    assert.equal(fs.readdirSync(partial).filter((f) => f.startsWith('chunk-')).length, Number(saved), 'the line says what is saved');
    const resumed = runCli([...args, '--resume']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(resumed.stderr, `moe-inspect: resumed after ${saved} of 66 chunks finished\n`);
    // Same chunks and numbers as the uninterrupted run; only the passes' grouping of chunks differs, which the trace does not record.
    assert.ok(fs.readFileSync(out).equals(whole));
  });

  it('refuses a saved pass state that is not one (one line naming the file), keeping the work folder', async () => {
    const out = path.join(dir, 'broken.trace.safetensors');
    assert.equal(runCli(routeArgs(out), { env: { MOE_INSPECT_TEST_INTERRUPT: 'after-layer:1:SIGINT' } }).code, 130);
    const state = path.join(`${out}.partial`, 'pass.safetensors');
    // A safetensors file without the pass's metadata, as another program or a damaged disk might leave.
    writeSafetensors(state, [{ name: 'x', dtype: 'F32', shape: [1], data: Float32Array.of(1) }]);
    await assert.rejects(route({ prompts, model, out, device: 'cpu', batchTokens: 64, weightBudgetBytes: 0, resume: true, note: () => {} }), (error: unknown) => {
      assert.ok(error instanceof InputError && error.code === 'pass-state', String(error));
      assert.ok(error.message.startsWith(`${state}: `) && !error.message.includes('\n'));
      return true;
    });
    assert.ok(fs.existsSync(state), 'the folder is left for the user to inspect or delete');
  });

  it('says so when the interrupted run had saved nothing', async () => {
    const out = path.join(dir, 'nothing.trace.safetensors');
    // Killed while saving its first layer: the work folder holds the manifest and a cut-short temporary only.
    assert.equal(runCli(routeArgs(out), { env: { MOE_INSPECT_TEST_INTERRUPT: 'during-save:0' } }).code, -1);
    const { layersRun, notes } = await resumeCounting(out);
    assert.match(notes[0], /^nothing to resume: .* starting from the beginning/);
    assert.deepEqual(layersRun, [0, 1, 2, 3]);
    assert.ok(fs.readFileSync(out).equals(whole));
  });
});
