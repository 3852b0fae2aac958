import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { rebalanceExperts } from '../src/analysis/eplb.js';
import { expertBytesFromModel } from '../src/balance/expert-bytes.js';
import { simulateRebalancing } from '../src/balance/simulate.js';
import { seriesFromSteps } from '../src/balance/time-series.js';
import { readLoadMatrix } from '../src/loaders/load-matrix.js';
import { drawLoadSeries } from '../src/synth/load-series.js';
import { synthesize } from '../src/synth/synth.js';
import { tempDir as makeTempDir } from './helpers/safetensors-bytes.js';
import { repoRoot, requireBuiltCli, runCli } from './helpers/cli.js';
import { smallTrace } from './helpers/serving-trace.js';

const root = repoRoot();
const servingLoad = path.join(root, 'test/fixtures/serving/deepseek-v3-decode_in1000out1000.logical_count.json');
const v3Flags = ['--replicas', '288', '--groups', '8', '--nodes', '4', '--gpus', '32'];
const scratch = makeTempDir('serving-cli');
after(() => fs.rmSync(scratch, { recursive: true, force: true }));
/** A fresh folder per test, all under one scratch folder removed at the end. */
const tempDir = () => fs.mkdtempSync(path.join(scratch, 'case-'));
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));

describe('moe-inspect balance: serving what-ifs (end to end)', () => {
  requireBuiltCli();
  test('--simulate on a JSON series writes the simulation the library computes, and --html a page with its chart', () => {
    const dir = tempDir();
    const real = readLoadMatrix(servingLoad);
    const steps = drawLoadSeries(real.counts, { steps: 6, draws: 4096, seed: 3 });
    const seriesFile = path.join(dir, 'series.json');
    fs.writeFileSync(seriesFile, JSON.stringify({ logical_count: steps }));
    const out = path.join(dir, 'plan.json');
    const html = path.join(dir, 'plan.html');
    const run = runCli(['balance', seriesFile, ...v3Flags, '--simulate', '--window', '2', '--interval', '2', '--expert-bytes', '1000', '--out', out, '--html', html]);
    assert.equal(run.code, 0, run.stderr);
    const expected = simulateRebalancing(seriesFromSteps(steps, seriesFile, []), { replicas: 288, groups: 8, nodes: 4, gpus: 32 }, { window: 2, interval: 2, expertBytes: 1000 });
    assert.deepEqual(readJson(out).simulate, JSON.parse(JSON.stringify(expected)));
    assert.match(run.stdout, /simulate over 6 steps \(W 2, I 2\): mean balancedness static 0\.\d{4}, periodic 0\.\d{4}, oracle 0\.\d{4}/);
    const page = fs.readFileSync(html, 'utf8');
    for (const title of ['Plan: GPU balancedness per layer, before and after', 'Plan: per-GPU load of the busiest layer', 'Plan: expert memory per GPU', 'Over time: static, periodic and oracle rebalancing']) assert.ok(page.includes(title), title);
    assert.match(page, /sum of means \/ sum of maxima/);
  });

  test('--simulate on a trace with --step-tokens drops the final partial step with a note', () => {
    const dir = tempDir();
    const { file } = smallTrace(dir, 105);
    const out = path.join(dir, 'plan.json');
    const run = runCli(['balance', file, '--replicas', '12', '--gpus', '4', '--nodes', '2', '--groups', '2', '--simulate', '--window', '1', '--interval', '1', '--step-tokens', '25', '--out', out]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /dropped the final partial step of 5 tokens \(steps are 25 tokens\)/);
    assert.equal(readJson(out).simulate.steps, 4);
    assert.deepEqual(readJson(out).simulate.layers, [1, 2]);
  });

  test('exports from a trace take the layers its recorded config gives: SGLang rows per decoder layer, vLLM keys per MoE layer', () => {
    const dir = tempDir();
    const { file } = smallTrace(dir, 100); // num_hidden_layers 3, MoE layers 1 and 2, 8 experts
    const [sglang, vllm, out] = ['sglang.json', 'vllm.jsonl', 'plan.json'].map((name) => path.join(dir, name));
    const run = runCli(['balance', file, '--replicas', '12', '--gpus', '4', '--nodes', '2', '--groups', '2', '--export-sglang', sglang, '--export-vllm', vllm, '--out', out]);
    assert.equal(run.code, 0, run.stderr);
    const plan = readJson(out);
    const rows = readJson(sglang).physical_to_logical_map;
    assert.deepEqual(rows, [[0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3], plan.phy2log[0], plan.phy2log[1]]);
    assert.deepEqual(readJson(vllm).initial_global_assignments, { 0: plan.phy2log[0], 1: plan.phy2log[1] });
    assert.doesNotMatch(run.stderr, /taken to be the layers with load/);
  });

  test('--traffic matches a direct count over the trace with the plans EPLB makes from it', () => {
    const dir = tempDir();
    const { file, ids } = smallTrace(dir, 200);
    const out = path.join(dir, 'plan.json');
    const html = path.join(dir, 'traffic.html');
    const run = runCli(['balance', file, '--replicas', '12', '--gpus', '4', '--nodes', '2', '--groups', '2', '--traffic', '--out', out, '--html', html]);
    assert.equal(run.code, 0, run.stderr);
    const traffic = readJson(out).traffic;
    assert.equal(traffic.bandwidth.nvlinkGBps, 160);
    assert.equal(traffic.bandwidth.rdmaGBps, 50);
    assert.match(traffic.bandwidth.source, /DeepEP/);
    assert.deepEqual(traffic.per_layer.map((e: { layer: number; policy: string }) => `${e.layer}:${e.policy}`), ['1:hierarchical', '1:global', '2:hierarchical', '2:global']);
    // Independent count: the plan from the trace's own load, then token by token the replica rule written out plainly.
    const load = [0, 1].map((j) => { const row = new Array(8).fill(0); ids.forEach((t) => t[j].forEach((e) => row[e]++)); return row; });
    for (const [policy, groups, nodes] of [['hierarchical', 2, 2], ['global', 1, 1]] as const) {
      const plan = rebalanceExperts(load, 12, groups, nodes, 4);
      [0, 1].forEach((j) => {
        const matrix = Array.from({ length: 4 }, () => new Array(4).fill(0));
        const gpuOf = (slot: number) => Math.floor(slot / 3);
        const nodeOf = (gpu: number) => Math.floor(gpu / 2);
        ids.forEach((token, t) => {
          const source = t % 4;
          const used = new Set<number>();
          for (const e of token[j]) {
            const slots = plan.phy2log[j].flatMap((x, s) => (x === e ? [s] : []));
            const local = slots.find((s) => gpuOf(s) === source) ?? slots.find((s) => nodeOf(gpuOf(s)) === nodeOf(source));
            used.add(gpuOf(local ?? slots[t % slots.length]));
          }
          for (const gpu of used) if (gpu !== source) matrix[source][gpu] += 1;
        });
        const entry = traffic.per_layer.find((e: { layer: number; policy: string }) => e.layer === j + 1 && e.policy === policy);
        assert.deepEqual(entry.matrix, matrix, `${policy} layer ${j + 1}`);
      });
    }
    const page = fs.readFileSync(html, 'utf8');
    assert.ok(page.includes('Traffic: GPU x GPU tokens of the slowest layer'));
  });

  test('--sweep-gpus x --sweep-redundant writes the sweep; a point whose GPUs do not divide the slots is refused', () => {
    const dir = tempDir();
    const out = path.join(dir, 'sweep.json');
    const run = runCli(['balance', servingLoad, '--sweep-gpus', '8,16', '--sweep-redundant', '0,16,32', '--groups', '8', '--out', out]);
    assert.equal(run.code, 0, run.stderr);
    const { sweep } = readJson(out);
    assert.equal(sweep.points.length, 6);
    assert.deepEqual(Object.keys(sweep.knee), ['8', '16']);
    assert.ok(sweep.points.every((p: { expert_bytes_per_gpu: unknown }) => p.expert_bytes_per_gpu === null));
    const bad = runCli(['balance', servingLoad, '--sweep-gpus', '8,24', '--sweep-redundant', '0', '--gpus-per-node', '8', '--out', path.join(dir, 'bad.json')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^moe-inspect: sweep point 24 GPUs, 0 redundant: replicas 256 must be a multiple of gpus 24[^\n]*\n$/);
    assert.ok(!fs.existsSync(path.join(dir, 'bad.json')));
  });

  test('--diff counts what each GPU loads to move from an old plan, before and after relabelling', () => {
    const dir = tempDir();
    const old = path.join(dir, 'old.json');
    assert.equal(runCli(['balance', servingLoad, '--replicas', '256', '--groups', '8', '--nodes', '4', '--gpus', '32', '--out', old]).code, 0);
    const out = path.join(dir, 'new.json');
    const run = runCli(['balance', servingLoad, ...v3Flags, '--diff', old, '--expert-bytes', '10', '--out', out]);
    assert.equal(run.code, 0, run.stderr);
    const { diff, phy2log } = readJson(out);
    const before = readJson(old).phy2log as number[][];
    // Each GPU loads at least the slots it gains (9 now, 8 before) and at most all 9, per layer.
    assert.ok(diff.moved_replicas_per_gpu.every((n: number) => n >= 58 && n <= 9 * 58));
    assert.deepEqual(diff.moved_bytes_per_gpu, diff.moved_replicas_per_gpu.map((n: number) => n * 10));
    const total = (values: number[]) => values.reduce((a, b) => a + b, 0);
    assert.ok(total(diff.relabelled.moved_replicas_per_gpu) <= total(diff.moved_replicas_per_gpu));
    assert.deepEqual([...diff.relabelled.gpu_map].sort((a: number, b: number) => a - b), Array.from({ length: 32 }, (_, g) => g));
    assert.equal(phy2log.length, before.length);
    assert.match(run.stdout, /move from the old plan: \d+ replicas as numbered, \d+ after relabelling GPUs/);
  });

  test('report --plan adds the plan sections, with memory from --expert-bytes or --model; with --replicas it is refused', async () => {
    const dir = tempDir();
    const plan = path.join(dir, 'plan.json');
    assert.equal(runCli(['balance', servingLoad, ...v3Flags, '--out', plan]).code, 0);
    const html = path.join(dir, 'report.html');
    const run = runCli(['report', servingLoad, '--plan', plan, '--expert-bytes', '1000', '--out', html]);
    assert.equal(run.code, 0, run.stderr);
    const page = fs.readFileSync(html, 'utf8');
    assert.ok(page.includes('Plan: GPU balancedness per layer, before and after'));
    assert.ok(page.includes('Plan: expert memory per GPU'));
    assert.ok(page.includes('<td class="num">0.0004321</td>')); // contiguous: 8 x 58 slots x 1000 bytes = 464,000 B = 0.0004321 GiB
    // --model: one expert's bytes from the headers of a synthetic FP8 checkpoint.
    const model = path.join(dir, 'model');
    await synthesize({ preset: 'tiny-v3', out: model, seed: 0, dtype: 'fp8' });
    const withModel = path.join(dir, 'model.html');
    assert.equal(runCli(['report', servingLoad, '--plan', plan, '--model', model, '--out', withModel]).code, 0);
    const gib = (slots: number) => Number(((slots * 58 * expertBytesFromModel(model)) / 1024 ** 3).toPrecision(4)).toString();
    assert.ok(fs.readFileSync(withModel, 'utf8').includes(`<td class="num">${gib(9)}</td>`));
    const refused = runCli(['report', servingLoad, '--plan', plan, '--replicas', '288', '--out', path.join(dir, 'no.html')]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^moe-inspect: .*plan\.json: --plan shows a given plan, --replicas makes one per input[^\n]*\n$/);
    assert.ok(!fs.existsSync(path.join(dir, 'no.html')));
  });
});

describe('moe-inspect balance: bad input is refused with one line, exit 1, nothing written', () => {
  requireBuiltCli();
  const dir = tempDir();
  const write = (name: string, value: unknown) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, JSON.stringify(value));
    return file;
  };
  const smallPlan = write('plan-8-experts.json', { policy: 'global', replicas: 8, groups: 1, nodes: 1, gpus: 2, layers: [3], phy2log: [[0, 1, 2, 3, 4, 5, 6, 7]], log2phy: [[[0], [1], [2], [3], [4], [5], [6], [7]]], logcnt: [[1, 1, 1, 1, 1, 1, 1, 1]], balancedness_before: [1], balancedness_after: [1] });
  const cases: Array<[string, () => string[], RegExp]> = [
    ['a 2-D matrix where a series is needed', () => ['balance', servingLoad, ...v3Flags, '--simulate', '--window', '1', '--interval', '1'], /logical_count\.json: a time series needs 3 levels \[steps\]\[layers\]\[experts\], found a 2-D matrix/],
    ['steps of different layer counts', () => ['balance', write('ragged.json', { logical_count: [[[1, 2], [3, 4]], [[1, 2]]] }), '--replicas', '2', '--gpus', '2', '--simulate', '--window', '1', '--interval', '1'], /ragged\.json: step 1 has shape 1x2, step 0 has 2x2/],
    ['a plan for another expert count (--diff)', () => ['balance', servingLoad, ...v3Flags, '--diff', smallPlan], /plan-8-experts\.json: the old plan is for 8 experts, the new one for 256/],
    ['a plan for another expert count (report --plan)', () => ['report', servingLoad, '--plan', smallPlan], /plan-8-experts\.json: the plan places 8 experts, the load has 256/],
    ['D not dividing R', () => ['balance', servingLoad, '--replicas', '300', '--gpus', '32'], /replicas 300 must be a multiple of gpus 32/],
    ['--traffic on a count matrix', () => ['balance', servingLoad, ...v3Flags, '--traffic'], /logical_count\.json: --traffic needs a trace \(\.safetensors\)/],
  ];
  for (const [name, args, message] of cases) {
    test(name, () => {
      const out = path.join(dir, `out-${name.replace(/\W+/g, '-')}`);
      const run = runCli([...args(), '--out', `${out}.json`]);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, new RegExp(`^moe-inspect: [^\\n]*${message.source}[^\\n]*\\n$`));
      assert.ok(!fs.existsSync(`${out}.json`));
    });
  }
});
