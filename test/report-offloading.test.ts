/**
 * `report --cache` and `report --prefetch` end to end on a trace whose answers are known by hand: layer 0
 * routes the textbook page-reference string (LRU 12, LFU 11, Belady 9 faults with 3 frames), layer 1 always
 * the next expert (so history predicts it exactly), and a speculative gate right on every other token.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runReport } from '../src/report/report.js';
import { writeTrace, type TraceContent } from '../src/trace.js';
import { requireBuiltCli, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/safetensors-bytes.js';

const pages = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1];
const E = 8;

/** 20 tokens in 2 prompts, K = 1, model layers 0 and 1; spec_topk_ids only when asked. */
function writeKnownTrace(file: string, speculate: boolean): void {
  const next = pages.map((page) => (page + 1) % E);
  const ids = pages.flatMap((page, t) => [page, next[t]]);
  // Layer 0 has no previous layer; at layer 1 the gate is right on even tokens, off by 4 on odd ones.
  const spec = pages.flatMap((_, t) => [-1, t % 2 === 0 ? next[t] : (next[t] + 4) % E]);
  const content: TraceContent = {
    metadata: { model_type: 'mixtral', n_routed_experts: E, num_experts_per_tok: 1, model_config: JSON.stringify({ model_type: 'mixtral' }), model_dir: 'test', labels: [], source: 'route' },
    layers: [0, 1],
    tokenIds: Int32Array.from(pages, (_, t) => 10 + t),
    promptOffsets: [0, 10, 20],
    topkIds: [Int32Array.from(ids)],
    specTopkIds: speculate ? [Int32Array.from(spec)] : undefined,
  };
  writeTrace(file, content);
}

describe('report --cache and --prefetch', () => {
  let dir: string;
  let trace: string;
  let plain: string;
  before(() => {
    dir = tempDir('report-offloading');
    trace = path.join(dir, 'known.trace.safetensors');
    plain = path.join(dir, 'plain.trace.safetensors');
    writeKnownTrace(trace, true);
    writeKnownTrace(plain, false);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('SUMMARY.json holds the hand-worked hit rates, predictor quality and transitions under the contract keys', async () => {
    const json = path.join(dir, 'summary.json');
    const out = path.join(dir, 'report.html');
    await runReport([trace], { out, json, gpus: 2, offloading: { cache: { batch: 1, sizes: [1, 3, 8] }, prefetch: { predictors: ['history', 'speculative'] } } });
    const summary = JSON.parse(fs.readFileSync(json, 'utf8'));
    const { cache, prefetch } = summary;
    assert.deepEqual(Object.keys(cache), ['batch', 'sizes', 'per_layer']);
    assert.deepEqual([cache.batch, cache.sizes], [1, [1, 3, 8]]);
    const [layer0, layer1] = cache.per_layer;
    assert.deepEqual(Object.keys(layer0), ['trace', 'layer', 'accesses', 'lru', 'lfu', 'belady', 'needed', 'with_prefetch']);
    assert.deepEqual([layer0.trace, layer0.layer, layer0.accesses], ['known.trace.safetensors', 0, 20]);
    // 3 frames: LRU 12 faults, LFU 11, Belady 9; 8 frames: only the 6 first uses miss.
    assert.deepEqual([layer0.lru[1], layer0.lfu[1], layer0.belady[1]], [8 / 20, 9 / 20, 11 / 20]);
    assert.deepEqual([layer0.lru[2], layer0.belady[2]], [14 / 20, 14 / 20]);
    assert.deepEqual(layer0.needed.belady, { '0.9': null, '0.95': null, '0.99': null });
    // History prefetch (the first predictor) predicts layer 1 exactly, even in a one-expert cache.
    assert.deepEqual(layer1.with_prefetch.lru, [1, 1, 1]);
    assert.deepEqual(layer0.with_prefetch.lru, layer0.lru, 'no prediction at the first MoE layer');

    assert.equal(prefetch.p, 1);
    assert.deepEqual(prefetch.per_layer[0], { trace: 'known.trace.safetensors', layer: 0, history: null, speculative: null });
    assert.deepEqual(prefetch.per_layer[1], { trace: 'known.trace.safetensors', layer: 1, history: { precision: 1, recall: 1 }, speculative: { precision: 0.5, recall: 0.5 } });
    // Training top-1s at layer 1 (prompt 0): 0,1,2,3,1,4,1,5,3,4, so chance guesses 1, right 3 of 10 held-out times.
    assert.deepEqual(prefetch.transitions, [{ trace: 'known.trace.safetensors', layer: 1, accuracy: 1, chance: 0.3 }]);

    const html = fs.readFileSync(out, 'utf8');
    for (const title of ['Expert cache: hit rate against cache size', 'Expert cache: size needed per layer', 'Prefetch: how well the next experts can be guessed', 'Cross-layer transitions of the top-1 expert']) assert.ok(html.includes(title), title);
    assert.match(html, /prompt tokens of the trace stand in for decoded tokens/);
  });

  it('from the command line: a missing speculative gate, sizes too small for the batch and stray options are refused in one line (exit 1, bad usage 2)', () => {
    requireBuiltCli();
    const out = path.join(dir, 'cli.html');
    const refused = (args: string[], code: number, pattern: RegExp) => {
      const result = runCli(['report', ...args, '--out', out]);
      assert.equal(result.code, code, result.stderr);
      // commander adds its usage hint under its own errors.
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, pattern);
      assert.ok(!fs.existsSync(out), 'no report after an error');
    };
    refused([plain, '--prefetch', 'speculative'], 1, /plain\.trace\.safetensors: --prefetch speculative needs the speculative gate: record the trace with route --speculate/);
    // Bad usage exits 2, as everywhere in the CLI.
    refused([trace, '--cache', '--cache-batch', '4', '--cache-sizes', '3,8'], 2, /--cache-sizes entry 3: a cache holds from min\(E, B x K\) = 4 to E = 8 experts/);
    refused([trace, '--cache-batch', '2'], 2, /--cache-batch is an option of --cache/);
    refused([trace, '--prefetch', 'oracle'], 2, /--prefetch expects history and\/or speculative, found "oracle"/);
    refused([trace, '--prefetch', '--prefetch-experts', '2'], 2, /--prefetch-experts 2 is more than the 1 experts the speculative gate records/);

    // Without a list, --prefetch takes history, and speculative where the trace has it.
    const json = path.join(dir, 'cli.json');
    const ok = runCli(['report', plain, '--prefetch', '--cache', '--cache-batch', '2', '--out', out, '--json', json]);
    assert.equal(ok.code, 0, ok.stderr);
    const summary = JSON.parse(fs.readFileSync(json, 'utf8'));
    assert.deepEqual(Object.keys(summary.prefetch.per_layer[1]), ['trace', 'layer', 'history']);
    assert.equal(summary.cache.batch, 2);
    assert.deepEqual(summary.cache.sizes, [2, 3, 4, 5, 6, 7, 8]);
  });
});
