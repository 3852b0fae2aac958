import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cachedTracePaths, diffCheckpoints, staleTraceReason, type DiffOptions } from '../src/diff/diff.js';
import { readPrompts } from '../src/loaders/prompts.js';
import { escapeHtml } from '../src/page/html.js';
import { synthesize } from '../src/synth/synth.js';
import { repoRoot, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/safetensors-bytes.js';

const dir = tempDir('diff');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const models = {
  a: path.join(dir, 'a'),
  /** a with routed expert 5 of layer 2 scaled by 4. */
  perturbed: path.join(dir, 'perturbed'),
  /** a with 3 layers instead of 4. */
  shallow: path.join(dir, 'shallow'),
};
const prompts = path.join(dir, 'prompts.txt');

before(async () => {
  await synthesize({ preset: 'tiny', out: models.a, seed: 1, dtype: 'f32' });
  await synthesize({ preset: 'tiny', out: models.perturbed, seed: 1, dtype: 'f32', perturb: [{ layer: 2, expert: 5, scale: 4 }] });
  await synthesize({ preset: 'tiny', out: models.shallow, seed: 1, dtype: 'f32', layers: 3 });
  fs.writeFileSync(prompts, 'The quick brown fox jumps over 12 lazy dogs.\nMixture of experts routes tokens, one by one!\nprint(42 + 7) # <b>&amp;</b>\n');
});

const run = (name: string, options: Partial<DiffOptions> & Pick<DiffOptions, 'modelA' | 'modelB'>) =>
  diffCheckpoints({ out: path.join(dir, name, 'diff.html'), json: path.join(dir, name, 'diff.json'), device: 'cpu', ...options });

describe('diffCheckpoints', () => {
  test('a checkpoint against itself: zero change, cosine 1, full routing agreement', async () => {
    const result = await run('self', { modelA: models.a, modelB: models.a, prompts });
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'self', 'diff.json'), 'utf8')), result.json, 'DIFF.json holds the result');
    const { json } = result;
    assert.equal(json.weights.experts_ranked.length, 3 * 16);
    for (const x of json.weights.experts_ranked) assert.deepEqual([x.rel_change, x.router_cosine], [0, 1]);
    for (const l of json.weights.per_layer) assert.deepEqual([l.mean_rel_change, l.router_rel_change], [0, 0]);
    assert.deepEqual(json.routing!.per_layer.map((l) => l.layer), [1, 2, 3]);
    for (const l of json.routing!.per_layer) assert.deepEqual([l.overlap, l.top1_agreement, l.load_js_divergence], [1, 1, 0]);
    assert.deepEqual(result.routing!.mostChanged, []);
    assert.match(fs.readFileSync(path.join(dir, 'self', 'diff.html'), 'utf8'), /Every token is routed to the same experts/);
  });

  test('DIFF.json has exactly the keys contract.md gives', async () => {
    const { json } = await run('keys', { modelA: models.a, modelB: models.perturbed, prompts });
    assert.deepEqual(Object.keys(json), ['same_architecture', 'weights', 'routing']);
    assert.equal(json.same_architecture, true);
    assert.deepEqual(Object.keys(json.weights), ['experts_ranked', 'per_layer']);
    assert.deepEqual(Object.keys(json.weights.experts_ranked[0]), ['layer', 'expert', 'rel_change', 'router_cosine']);
    assert.deepEqual(Object.keys(json.weights.per_layer[0]), ['layer', 'mean_rel_change', 'router_rel_change']);
    assert.deepEqual(Object.keys(json.routing!), ['per_layer']);
    assert.deepEqual(Object.keys(json.routing!.per_layer[0]), ['layer', 'overlap', 'top1_agreement', 'load_js_divergence']);
  });

  test('synth --perturb 2:5:4 puts exactly expert 5 of layer 2 first, with rel_change |4 - 1|', async () => {
    const { json, routing } = await run('perturbed', { modelA: models.a, modelB: models.perturbed, prompts });
    const [first, ...rest] = json.weights.experts_ranked;
    assert.deepEqual([first.layer, first.expert], [2, 5]);
    // f32 storage: B = fl(4 W) = 4 W exactly (a power of two), so only float64 summation rounding remains.
    assert.ok(Math.abs(first.rel_change - 3) < 1e-12, `rel_change ${first.rel_change}`);
    for (const x of rest) assert.equal(x.rel_change, 0, `expert (${x.layer}, ${x.expert})`);
    for (const x of json.weights.experts_ranked) assert.equal(x.router_cosine, 1, 'routers are untouched');
    assert.ok(Math.abs(json.weights.per_layer[1].mean_rel_change - 3 / 16) < 1e-12);
    // Routing at layers 1 and 2 depends only on weights before expert (2, 5) acts: it cannot change.
    // Layer 3 sees its output, so the diff must find some change there.
    const [l1, l2, l3] = json.routing!.per_layer;
    for (const l of [l1, l2]) assert.deepEqual([l.overlap, l.top1_agreement, l.load_js_divergence], [1, 1, 0], `layer ${l.layer}`);
    assert.ok(l3.overlap < 1, `layer 3 overlap ${l3.overlap}`);
    assert.ok(routing!.mostChanged.length > 0);
    for (const t of routing!.mostChanged) assert.ok(t.overlap < 1 || t.top1Agreement < 1);
    // The page lists each changed token with the text before it, escaped.
    const html = fs.readFileSync(path.join(dir, 'perturbed', 'diff.html'), 'utf8');
    for (const t of routing!.mostChanged) assert.ok(html.includes(`<td>${escapeHtml(Buffer.from(t.text!.before).toString('utf8'))}</td>`), `token ${t.token}`);
  });

  test('bf16 storage: the perturbed expert comes first with rel_change |SCALE - 1| within the bf16 rounding bound', async () => {
    const scale = 1.5;
    const a16 = path.join(dir, 'a16');
    const b16 = path.join(dir, 'b16');
    await synthesize({ preset: 'tiny', out: a16, seed: 2, dtype: 'bf16' });
    await synthesize({ preset: 'tiny', out: b16, seed: 2, dtype: 'bf16', perturb: [{ layer: 3, expert: 0, scale }] });
    const { json } = await run('bf16', { modelA: a16, modelB: b16 });
    const [first, ...rest] = json.weights.experts_ranked;
    assert.deepEqual([first.layer, first.expert], [3, 0]);
    // A = W(1 + d), B = sW(1 + e) with |d|, |e| <= u = 2^-8 (BF16 rounds to nearest with 8 significant bits;
    // the float32 product before it adds 2^-24). So ||B - A|| = ||W|| (|s - 1| ± (s + 1) u) and
    // ||A|| = ||W|| (1 ± u), which bounds |rel_change - |s - 1|| by (s + 1 + |s - 1|) u / (1 - u), about 0.012 here.
    const u = 2 ** -8 + 2 ** -23;
    const bound = ((scale + 1 + Math.abs(scale - 1)) * u) / (1 - u);
    assert.ok(Math.abs(first.rel_change - (scale - 1)) <= bound, `rel_change ${first.rel_change}, bound ${bound}`);
    for (const x of rest) assert.equal(x.rel_change, 0, 'unperturbed experts are stored identically');
    assert.equal(json.routing, undefined, 'no prompts, no routing');
  });

  test('different architectures are refused before any work, naming the first difference', async () => {
    await assert.rejects(run('arch', { modelA: models.a, modelB: models.shallow, prompts }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'diff-architecture');
      assert.match(error.message, /config.json num_hidden_layers 4 vs 3/);
      return true;
    });
    assert.equal(fs.existsSync(path.join(dir, 'arch')), false, 'nothing was written');
  });

  test('different tokenizers refuse the routing diff, naming both folders, but allow the weights diff', async () => {
    const other = path.join(dir, 'other-tokenizer');
    fs.cpSync(models.perturbed, other, { recursive: true });
    const tokenizerFile = path.join(other, 'tokenizer.json');
    const tokenizer = JSON.parse(fs.readFileSync(tokenizerFile, 'utf8'));
    const [token, id] = Object.entries(tokenizer.model.vocab)[300];
    delete tokenizer.model.vocab[token];
    tokenizer.model.vocab[`${token}x`] = id;
    fs.writeFileSync(tokenizerFile, JSON.stringify(tokenizer));
    await assert.rejects(run('tokenizer', { modelA: models.a, modelB: other, prompts }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'diff-tokenizer');
      assert.ok(error.message.includes(models.a) && error.message.includes(other), error.message);
      assert.match(error.message, /tokenizer\.json differs.*leave out --prompts/);
      return true;
    });
    assert.equal(fs.existsSync(cachedTracePaths(path.join(dir, 'tokenizer', 'diff.html')).a), false, 'refused before routing');
    const { json } = await run('tokenizer', { modelA: models.a, modelB: other });
    assert.deepEqual([json.weights.experts_ranked[0].layer, json.weights.experts_ranked[0].expert], [2, 5]);
  });

  test('a tokenizer_config.json field that changes tokenization is a different tokenizer', async () => {
    const other = path.join(dir, 'other-bos');
    fs.cpSync(models.a, other, { recursive: true });
    const configFile = path.join(other, 'tokenizer_config.json');
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    fs.writeFileSync(configFile, JSON.stringify({ ...config, add_bos_token: !config.add_bos_token }));
    await assert.rejects(run('bos', { modelA: models.a, modelB: other, prompts }), /tokenizer_config.json "add_bos_token" is (true|false) vs (true|false)/);
  });
});

describe('cached traces', () => {
  test('a rerun reuses both traces; other prompts or another model make them stale', async () => {
    const out = path.join(dir, 'cache', 'diff.html');
    const promptsCopy = path.join(dir, 'cache-prompts.txt');
    fs.copyFileSync(prompts, promptsCopy);
    const options = { modelA: models.a, modelB: models.perturbed, prompts: promptsCopy, out, device: 'cpu' as const };
    const first = await diffCheckpoints(options);
    assert.deepEqual([first.routing!.traces.a.reused, first.routing!.traces.b.reused], [false, false]);
    const second = await diffCheckpoints(options);
    assert.deepEqual([second.routing!.traces.a.reused, second.routing!.traces.b.reused], [true, true]);
    assert.deepEqual(second.json, first.json);

    const traces = cachedTracePaths(out);
    assert.equal(staleTraceReason(traces.a, models.a, readPrompts(promptsCopy)), undefined);
    assert.match(staleTraceReason(traces.a, models.perturbed, readPrompts(promptsCopy)) ?? '', /made from model .*a$/);
    fs.appendFileSync(promptsCopy, 'one more prompt\n');
    assert.match(staleTraceReason(traces.a, models.a, readPrompts(promptsCopy)) ?? '', /other prompts/);
    const third = await diffCheckpoints(options);
    assert.deepEqual([third.routing!.traces.a.reused, third.routing!.traces.b.reused], [false, false]);
    assert.equal(third.routing!.tokens > first.routing!.tokens, true);
  });

  test('finished chunks of an interrupted run with other inputs are thrown away, not an error', async () => {
    const out = path.join(dir, 'interrupted', 'diff.html');
    const partial = `${cachedTracePaths(out).a}.partial`;
    fs.mkdirSync(partial, { recursive: true });
    fs.writeFileSync(path.join(partial, 'manifest.json'), JSON.stringify({ prompts_sha256: 'of other prompts' }));
    const result = await diffCheckpoints({ modelA: models.a, modelB: models.a, prompts, out, device: 'cpu' });
    assert.equal(result.routing!.layers[2].overlap, 1);
    assert.equal(fs.existsSync(partial), false);
  });
});

const cudaInstalled = () => fs.existsSync(path.join(repoRoot(), 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', 'x64', 'libonnxruntime_providers_cuda.so'));

describe('moe-inspect diff', () => {
  test('prints the most changed experts and writes DIFF.html and DIFF.json', () => {
    const out = path.join(dir, 'cli', 'diff.html');
    const json = path.join(dir, 'cli', 'diff.json');
    const { code, stdout } = runCli(['diff', models.a, models.perturbed, '--out', out, '--json', json]);
    assert.equal(code, 0);
    assert.match(stdout, /most changed experts \(of 48\)/);
    assert.match(stdout, /│ 1 +│ 2 +│ 5 +│ 3\.0000 +│ 1\.0000 +│/);
    assert.ok(fs.existsSync(out) && fs.existsSync(json));
  });

  test('bad input: exit 1 with one line naming the difference', () => {
    const { code, stderr } = runCli(['diff', models.a, models.shallow, '--out', path.join(dir, 'cli-bad', 'diff.html')]);
    assert.equal(code, 1);
    assert.equal(stderr.trim().split('\n').length, 1);
    assert.match(stderr, /^moe-inspect: .* differ in architecture: config.json num_hidden_layers 4 vs 3/);
  });

  test('missing --out is bad usage: exit 2', () => {
    const { code } = runCli(['diff', models.a, models.a]);
    assert.equal(code, 2);
  });

  test('--device reaches the routing: a provider that does not load falls back to the CPU with one warning', { skip: cudaInstalled() && 'the CUDA provider is installed here' }, () => {
    const { code, stderr } = runCli(['diff', models.a, models.perturbed, '--prompts', prompts, '--device', 'cuda', '--out', path.join(dir, 'cli-device', 'diff.html')]);
    assert.equal(code, 0, stderr);
    const warnings = stderr.split('\n').filter((line) => line.startsWith('moe-inspect:'));
    assert.equal(warnings.length, 1, stderr);
    assert.match(warnings[0], /cuda failed to load .*; using cpu/);
    assert.equal(runCli(['diff', models.a, models.a, '--device', 'tpu', '--out', path.join(dir, 'x.html')]).code, 2);
  });
});
