/**
 * `moe-inspect route` as a user runs it: bad input gets one line naming the file and exit code 1 with no
 * output file; a run killed mid-way resumes to a trace identical to an uninterrupted one.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { route } from '../src/route/route.js';
import { openTrace } from '../src/trace.js';
import { repoRoot, runCli, spawnCli } from './helpers/cli.js';
import { signalAfterChunks, tinyModelAndPrompts } from './helpers/route-fixture.js';
import { tempDir } from './helpers/safetensors-bytes.js';


describe('route on the command line', () => {
  let dir: string;
  let model: string;
  let prompts: string;
  before(async () => {
    dir = tempDir('route-cli');
    ({ model, prompts } = await tinyModelAndPrompts(dir));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Asserts the one-line error of a bad input, naming `names`, and that no output was left behind. */
  function expectInputError(args: string[], out: string, names: string, pattern: RegExp, env: NodeJS.ProcessEnv = {}): void {
    const result = runCli(['route', ...args, '--out', out], { env });
    assert.equal(result.code, 1, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line expected, got: ${result.stderr}`);
    assert.ok(lines[0].includes(names), `"${lines[0]}" should name ${names}`);
    assert.match(lines[0], pattern);
    assert.ok(!fs.existsSync(out), 'no output file after an error');
    assert.deepEqual(fs.readdirSync(path.dirname(out)).filter((f) => f.includes('.tmp')), [], 'no temporary file left');
  }

  it('refuses an empty prompt file', () => {
    const empty = path.join(dir, 'empty.txt');
    fs.writeFileSync(empty, '\n\n  \n');
    expectInputError([empty, '--model', model], path.join(dir, 'e.trace.safetensors'), empty, /no prompts|empty/i);
  });

  it('refuses a prompt file that is not UTF-8', () => {
    const latin1 = path.join(dir, 'latin1.txt');
    fs.writeFileSync(latin1, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    expectInputError([latin1, '--model', model], path.join(dir, 'l.trace.safetensors'), latin1, /UTF-8/);
  });

  it('refuses a prompt longer than max_position_embeddings, and truncates it with --max-prompt-tokens', async () => {
    const long = path.join(dir, 'long.txt');
    fs.writeFileSync(long, `short prompt\n${'word '.repeat(600)}\n`);
    const out = path.join(dir, 'long.trace.safetensors');
    expectInputError([long, '--model', model], out, long, /the prompt on line 2 has \d+ tokens, more than .*512/);
    await assert.rejects(route({ prompts: long, model, out, device: 'cpu' }), { code: 'prompt-too-long' });
    const ok = runCli(['route', long, '--model', model, '--out', out, '--max-prompt-tokens', '100']);
    assert.equal(ok.code, 0, ok.stderr);
    const trace = openTrace(out);
    assert.equal(trace.promptOffsets[2] - trace.promptOffsets[1], 100);
    // The truncated prompt's text is what its tokens cover, so tokens still concatenate to the prompt's bytes.
    const tokensText = Array.from({ length: 100 }, (_, i) => trace.tokenText(trace.promptOffsets[1] + i)).join('');
    assert.equal(trace.promptText(1), tokensText);
    assert.ok(tokensText.length < 3000 && 'word '.repeat(600).startsWith(tokensText));
    assert.equal(trace.metadata.truncated_prompts, '1');
    trace.close();
  });

  it('says how many blank lines it skipped and prompts it cut, and records each prompt\'s line', () => {
    // Lines: 1 blank, 2 prompt, 3 blank, 4 spaces only, 5 prompt, 6 a long prompt, 7 blank.
    const text = path.join(dir, 'lines.txt');
    fs.writeFileSync(text, `\nfirst prompt\n\n  \nsecond prompt\n${'word '.repeat(600)}\n\n`);
    const out = path.join(dir, 'lines.trace.safetensors');
    const result = runCli(['route', text, '--model', model, '--out', out, '--max-prompt-tokens', '100']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^routed \d+ tokens of 3 prompts \(4 blank lines skipped, 1 prompt cut to 100 tokens by --max-prompt-tokens\) on cpu -> /);
    const trace = openTrace(out);
    assert.deepEqual(Array.from(trace.promptLines!), [2, 5, 6]);
    assert.equal(trace.promptName(2), 'line 6');
    trace.close();

    // .jsonl: the line of each record.
    const jsonl = path.join(dir, 'lines.jsonl');
    fs.writeFileSync(jsonl, '{"text": "a cat"}\n\n{"text": "a dog", "label": "pets"}\n');
    const jsonlOut = path.join(dir, 'lines-jsonl.trace.safetensors');
    const one = runCli(['route', jsonl, '--model', model, '--out', jsonlOut]);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^routed \d+ tokens of 2 prompts \(1 blank line skipped\) on/);
    const jsonlTrace = openTrace(jsonlOut);
    assert.deepEqual(Array.from(jsonlTrace.promptLines!), [1, 3]);
    jsonlTrace.close();
  });

  it('names the unknown model_type', () => {
    const bad = path.join(dir, 'bad-type');
    fs.cpSync(model, bad, { recursive: true });
    const config = JSON.parse(fs.readFileSync(path.join(bad, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(bad, 'config.json'), JSON.stringify({ ...config, model_type: 'gpt_neox' }));
    expectInputError([prompts, '--model', bad], path.join(dir, 't.trace.safetensors'), 'config.json', /unknown model_type "gpt_neox"/);
  });

  it('names a missing shard and a truncated shard', () => {
    const missing = path.join(dir, 'missing-shard');
    fs.cpSync(model, missing, { recursive: true });
    const shard = fs.readdirSync(missing).find((f) => f.startsWith('model-00002'))!;
    fs.rmSync(path.join(missing, shard));
    expectInputError([prompts, '--model', missing], path.join(dir, 'm.trace.safetensors'), shard, /not found/);

    const truncated = path.join(dir, 'truncated-shard');
    fs.cpSync(model, truncated, { recursive: true });
    const file = path.join(truncated, shard);
    fs.truncateSync(file, fs.statSync(file).size - 100);
    expectInputError([prompts, '--model', truncated], path.join(dir, 'u.trace.safetensors'), shard, /bytes/);
  });

  it('leaves no work folder behind when bad input stops a run, and refuses to write over the prompts', () => {
    const bad = path.join(dir, 'bad-shape');
    fs.cpSync(model, bad, { recursive: true });
    const config = JSON.parse(fs.readFileSync(path.join(bad, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(bad, 'config.json'), JSON.stringify({ ...config, moe_intermediate_size: 48 }));
    const out = path.join(dir, 'shape.trace.safetensors');
    expectInputError([prompts, '--model', bad, '--device', 'cpu'], out, 'model.layers.1', /shape/);
    assert.ok(!fs.existsSync(`${out}.partial`));
    const self = runCli(['route', prompts, '--model', model, '--out', prompts]);
    assert.equal(self.code, 2);
    assert.ok(fs.readFileSync(prompts, 'utf8').length > 0);
  });

  it('reads MOE_INSPECT_MODEL and writes PROMPTS.trace.safetensors by default', () => {
    const copy = path.join(dir, 'default-out.txt');
    fs.copyFileSync(prompts, copy);
    const result = runCli(['route', copy], { env: { MOE_INSPECT_MODEL: model } });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(fs.existsSync(path.join(dir, 'default-out.trace.safetensors')));
  });

  it('resumes a killed run to a trace identical to an uninterrupted run', async () => {
    const whole = path.join(dir, 'whole.trace.safetensors');
    const uninterrupted = runCli(['route', prompts, '--model', model, '--out', whole, '--device', 'cpu', '--batch-tokens', '64']);
    assert.equal(uninterrupted.code, 0, uninterrupted.stderr);

    const resumed = path.join(dir, 'resumed.trace.safetensors');
    const partial = `${resumed}.partial`;
    const child = spawnCli(['route', prompts, '--model', model, '--out', resumed, '--device', 'cpu', '--batch-tokens', '64']);
    // Kill it once a few chunks are finished, well before the end.
    await signalAfterChunks(child, partial, 3, 'SIGKILL');
    assert.ok(!fs.existsSync(resumed), 'no trace from the killed run');
    const finished = fs.readdirSync(partial).filter((f) => f.startsWith('chunk-')).length;

    const again = runCli(['route', prompts, '--model', model, '--out', resumed, '--device', 'cpu', '--batch-tokens', '64']);
    assert.equal(again.code, 1, 'a rerun without --resume refuses to overwrite the interrupted run');
    assert.match(again.stderr, /--resume/);

    // A shard rewritten since (same size, e.g. synthesized again with another seed) must not be mixed in. The
    // check runs on a copy, whose shards are newer, so the model the other tests use is left as it was.
    const rewrittenModel = path.join(dir, 'model-rewritten');
    fs.cpSync(model, rewrittenModel, { recursive: true });
    const rewrittenPartial = path.join(dir, 'rewritten.trace.safetensors');
    fs.cpSync(partial, `${rewrittenPartial}.partial`, { recursive: true });
    const rewritten = runCli(['route', prompts, '--model', rewrittenModel, '--out', rewrittenPartial, '--device', 'cpu', '--batch-tokens', '64', '--resume']);
    assert.equal(rewritten.code, 1);
    assert.match(rewritten.stderr, /cannot resume: weights was ".*" and is now ".*"/);

    const result = runCli(['route', prompts, '--model', model, '--out', resumed, '--device', 'cpu', '--batch-tokens', '64', '--resume']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`${finished} of \\d+ chunks from the interrupted run`));
    assert.ok(!fs.existsSync(partial), 'the work folder is removed once the trace is complete');

    const a = openTrace(whole);
    const b = openTrace(resumed);
    assert.deepEqual(b.tokenIds, a.tokenIds);
    assert.deepEqual(b.readTopkIds(0, b.nTokens), a.readTopkIds(0, a.nTokens));
    assert.deepEqual(b.readTopkWeights(0, b.nTokens), a.readTopkWeights(0, a.nTokens));
    assert.deepEqual(b.routerProbSum, a.routerProbSum);
    a.close();
    b.close();
  });

  const cudaInstalled = fs.existsSync(path.join(repoRoot(), 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', 'x64', 'libonnxruntime_providers_cuda.so'));
  it('falls back to the CPU with one warning when a provider does not load, with the same routing', { skip: cudaInstalled && 'the CUDA provider is installed here' }, () => {
    const cpu = path.join(dir, 'cpu.trace.safetensors');
    const fallback = path.join(dir, 'fallback.trace.safetensors');
    assert.equal(runCli(['route', prompts, '--model', model, '--out', cpu, '--device', 'cpu']).code, 0);
    // No CUDA libraries here (the install skips them), so cuda cannot load.
    const result = runCli(['route', prompts, '--model', model, '--out', fallback, '--device', 'cuda']);
    assert.equal(result.code, 0, result.stderr);
    const warnings = result.stderr.split('\n').filter((line) => line.startsWith('moe-inspect:'));
    assert.equal(warnings.length, 1, result.stderr);
    assert.match(warnings[0], /cuda failed to load .*; using cpu/);
    const a = openTrace(cpu);
    const b = openTrace(fallback);
    assert.equal(b.metadata.execution_provider, 'cpu');
    assert.deepEqual(b.readTopkIds(0, b.nTokens), a.readTopkIds(0, a.nTokens));
    a.close();
    b.close();
  });

  const vulkanInstalled = /libvulkan\.so\.1\b/.test(spawnSync('ldconfig', ['-p'], { encoding: 'utf8' }).stdout ?? '');
  it('--device webgpu without a Vulkan driver: one warning line, not the provider\'s own log', { skip: vulkanInstalled && 'a Vulkan driver is installed here' }, () => {
    const out = path.join(dir, 'webgpu.trace.safetensors');
    const result = runCli(['route', prompts, '--model', model, '--out', out, '--device', 'webgpu']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stderr.trim().split('\n'), [
      'moe-inspect: warning: webgpu failed to load (Failed to get a WebGPU adapter: No supported adapters; no Vulkan driver: libvulkan.so.1 not found); using cpu',
    ]);
    const trace = openTrace(out);
    assert.equal(trace.metadata.execution_provider, 'cpu');
    trace.close();
  });

  it('refuses to resume with different options', () => {
    const out = path.join(dir, 'mismatch.trace.safetensors');
    fs.mkdirSync(`${out}.partial`);
    fs.writeFileSync(`${out}.partial/manifest.json`, JSON.stringify({ batchTokens: 1 }));
    const result = runCli(['route', prompts, '--model', model, '--out', out, '--resume']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot resume: /);
  });
  it('--expert-memory 0 streams the experts one at a time and records the same experts', () => {
    const whole = path.join(dir, 'whole.trace.safetensors');
    const streamed = path.join(dir, 'streamed.trace.safetensors');
    assert.equal(runCli(['route', prompts, '--model', model, '--out', whole]).code, 0);
    assert.equal(runCli(['route', prompts, '--model', model, '--out', streamed, '--expert-memory', '0']).code, 0);
    const [a, b] = [openTrace(whole), openTrace(streamed)];
    try {
      const [idsA, idsB] = [a.readTopkIds(0, a.nTokens), b.readTopkIds(0, b.nTokens)];
      const differing = idsA.filter((id, i) => id !== idsB[i]).length;
      // Both paths compute the same sums in a different order: only a rare near-tie may flip.
      assert.ok(differing <= idsA.length / 1000, `${differing} of ${idsA.length} choices differ`);
    } finally {
      a.close();
      b.close();
    }
    const bad = runCli(['route', prompts, '--model', model, '--out', streamed, '--expert-memory', 'lots']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--expert-memory must be a number of GiB, found "lots"/);
  });
});
