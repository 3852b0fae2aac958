import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { InputError } from '../src/errors.js';
import { readLoadMatrix } from '../src/loaders/load-matrix.js';
import { writeTrace } from '../src/trace.js';
import { repoRoot } from './helpers/cli.js';


const fixture = (name: string) => path.join(repoRoot(), 'test/fixtures/serving', name);

/** Writes `text` to a fresh temporary file named `name`. */
function temp(name: string, text: string | Uint8Array): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'moe-load-')), name);
  fs.writeFileSync(file, text);
  return file;
}

// The 3-layer x 4-expert load of the .npy fixtures (layer 0 dense), written by numpy.
const small = [
  [0, 0, 0, 0],
  [5, 1, 0, 2],
  [3, 3, 3, 3],
];

describe('readLoadMatrix', () => {
  test('reads the real DeepSeek-V3 serving load: 61 layers, the first 3 dense, 58 MoE', () => {
    const file = fixture('deepseek-v3-decode_in1000out1000.logical_count.json');
    const load = readLoadMatrix(file);
    assert.equal(load.counts.length, 61);
    assert.ok(load.counts.every((row) => row.length === 256));
    assert.deepEqual(load.moeLayers, Array.from({ length: 58 }, (_, i) => i + 3));
    // Every MoE layer sees the same tokens, each picking 8 experts.
    const totals = new Set(load.moeLayers.map((layer) => load.counts[layer].reduce((a, b) => a + b, 0)));
    assert.equal(totals.size, 1);
  });

  test('reads JSON {"logical_count"}, bare JSON rows, and 3-D JSON summed over steps', () => {
    assert.deepEqual(readLoadMatrix(temp('a.json', JSON.stringify({ logical_count: small }))).counts, small);
    const bare = readLoadMatrix(temp('b.json', JSON.stringify(small)));
    assert.deepEqual(bare.counts, small);
    assert.deepEqual(bare.moeLayers, [1, 2]);
    const steps = [small.map((row) => row.map((x) => x - Math.floor(x / 2))), small.map((row) => row.map((x) => Math.floor(x / 2)))];
    assert.deepEqual(readLoadMatrix(temp('c.json', JSON.stringify({ logical_count: steps }))).counts, small);
  });

  test('reads CSV with or without a header line', () => {
    const rows = small.map((row) => row.join(',')).join('\n');
    assert.deepEqual(readLoadMatrix(temp('a.csv', `${rows}\n`)).counts, small);
    assert.deepEqual(readLoadMatrix(temp('b.csv', `e0,e1,e2,e3\r\n${rows.replaceAll('\n', '\r\n')}\r\n\r\n`)).counts, small);
  });

  test('reads .npy written by numpy: int64 2-D, int32 3-D [steps, layers, experts], Fortran-ordered float64', () => {
    assert.deepEqual(readLoadMatrix(fixture('load-3x4.npy')).counts, small);
    assert.deepEqual(readLoadMatrix(fixture('load-steps-2x3x4.npy')).counts, small);
    assert.deepEqual(readLoadMatrix(fixture('load-fortran-3x4.npy')).counts, small);
  });

  test('counts a trace\'s topk_ids per model layer', () => {
    // 3 tokens, recorded layers 1 and 3 (0 and 2 dense), k = 2, 4 experts.
    const topk = Int32Array.of(
      0, 1, /* layer 3 */ 2, 3,
      0, 2, /* layer 3 */ 2, 1,
      3, 0, /* layer 3 */ 2, 0,
    );
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'moe-load-')), 'x.trace.safetensors');
    writeTrace(file, {
      metadata: { model_type: 'deepseek', n_routed_experts: 4, num_experts_per_tok: 2, model_config: '{}', model_dir: 'm', labels: [], source: 'route' },
      layers: [1, 3],
      tokenIds: Int32Array.of(5, 6, 7),
      promptOffsets: [0, 3],
      topkIds: [topk],
    });
    const load = readLoadMatrix(file);
    assert.deepEqual(load.counts, [
      [0, 0, 0, 0],
      [3, 1, 1, 1],
      [0, 0, 0, 0],
      [1, 1, 3, 1],
    ]);
    assert.deepEqual(load.moeLayers, [1, 3]);
  });

  const errors: Array<[string, string, string | Uint8Array, string, RegExp]> = [
    ['ragged rows', 'r.json', '[[1,2,3],[4,5]]', 'load-ragged', /r\.json: load matrix row 1 has 2 experts, row 0 has 3/],
    ['a negative count', 'n.json', '{"logical_count": [[1,-2]]}', 'load-value', /load of layer 0 expert 1 must be a finite non-negative number, found -2/],
    ['a string count', 's.json', '[[1,"2"]]', 'load-value', /found "2"/],
    ['an empty matrix', 'e.json', '[]', 'load-empty', /expected a non-empty list/],
    ['rows without experts', 'z.json', '[[],[]]', 'load-empty', /row 0 has no experts/],
    ['no load anywhere', 'a.csv', '0,0\n0,0\n', 'load-empty', /all zero/],
    ['an object without logical_count', 'o.json', '{"counts": [[1]]}', 'load-json', /no "logical_count" \(keys: counts\)/],
    ['invalid JSON', 'j.json', '[[1,2]', 'load-json', /not valid JSON/],
    ['a CSV cell that is not a number', 'c.csv', '1,2\n3,x\n', 'load-csv', /line 2 column 2: "x" is not a number/],
    ['an unknown extension', 'l.txt', '1 2', 'load-format', /unknown load file type "\.txt"/],
    ['steps of different shapes', 'st.json', '[[[1,2]],[[1,2],[3,4]]]', 'load-ragged', /step 1 has shape 2x2, step 0 has 1x2/],
  ];
  for (const [name, file, text, code, message] of errors) {
    test(`rejects ${name} (${code})`, () => {
      assert.throws(() => readLoadMatrix(temp(file, text)), (error: unknown) => error instanceof InputError && error.code === code && message.test(error.message));
    });
  }

  test('rejects a 1-D .npy and a missing file', () => {
    const oneD = fs.readFileSync(fixture('load-3x4.npy')).toString('latin1').replace("'shape': (3, 4)", "'shape': (12,) ");
    assert.throws(() => readLoadMatrix(temp('v.npy', Buffer.from(oneD, 'latin1'))), /must be 2-D \[layers, experts\] or 3-D .* found shape \(12\)/);
    assert.throws(() => readLoadMatrix(path.join(os.tmpdir(), 'no-such-load.json')), /no-such-load\.json: no such file$/);
  });
});
