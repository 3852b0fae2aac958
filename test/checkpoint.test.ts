import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { InputError } from '../src/errors.js';
import { Checkpoint } from '../src/loaders/checkpoint.js';
import { float32ToBf16, float32ToFp8E4M3, fp8e4m3ToFloat32 } from '../src/loaders/dtypes.js';
import { writeSafetensors } from '../src/loaders/safetensors-writer.js';
import { seededRandom, tempDir } from './helpers/safetensors-bytes.js';

const root = tempDir('checkpoint');
after(() => fs.rmSync(root, { recursive: true, force: true }));

let folderCount = 0;
function newFolder(): string {
  const dir = path.join(root, `model-${folderCount++}`);
  fs.mkdirSync(dir);
  return dir;
}

/** Values exactly representable in bf16, so the expected float32 is the input itself. */
function bf16Values(n: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n }, () => Math.round((random() - 0.5) * 512) / 64);
}

/** A two-shard folder with an index, tensors deliberately mapped out of name order. */
function shardedFolder() {
  const dir = newFolder();
  const embed = bf16Values(6 * 4, 1);
  const norm = Float32Array.of(1, 2, 3, 4);
  const gate = bf16Values(3 * 4, 2);
  writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), [
    { name: 'model.norm.weight', dtype: 'F32', shape: [4], data: norm },
    { name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [6, 4], data: float32ToBf16(embed) },
  ]);
  writeSafetensors(path.join(dir, 'model-00002-of-00002.safetensors'), [
    { name: 'model.layers.0.mlp.gate.weight', dtype: 'BF16', shape: [3, 4], data: float32ToBf16(gate) },
  ]);
  const index = {
    metadata: { total_size: 4 * 4 + 2 * (24 + 12) },
    weight_map: {
      'model.layers.0.mlp.gate.weight': 'model-00002-of-00002.safetensors',
      'model.embed_tokens.weight': 'model-00001-of-00002.safetensors',
      'model.norm.weight': 'model-00001-of-00002.safetensors',
    },
  };
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
  return { dir, embed, norm, gate, index };
}

function rejectsOpen(dir: string, code: string, message: RegExp): void {
  assert.throws(() => Checkpoint.open(dir), (error: unknown) => {
    assert.ok(error instanceof InputError, String(error));
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

describe('Checkpoint', () => {
  test('sharded folder: names in file order, infos, float32 / float64 / raw reads', () => {
    const { dir, embed, norm, gate } = shardedFolder();
    const checkpoint = Checkpoint.open(dir);
    try {
      assert.deepEqual(checkpoint.names(), ['model.norm.weight', 'model.embed_tokens.weight', 'model.layers.0.mlp.gate.weight']);
      assert.deepEqual(checkpoint.shards.map((file) => path.basename(file)), ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
      const onDisk = checkpoint.shards.reduce((sum, file) => sum + fs.statSync(file).size, 0);
      assert.equal(checkpoint.totalBytes, onDisk);
      assert.ok(checkpoint.has('model.norm.weight') && !checkpoint.has('lm_head.weight'));

      const info = checkpoint.info('model.layers.0.mlp.gate.weight');
      assert.equal(info.dtype, 'BF16');
      assert.deepEqual(info.shape, [3, 4]);
      assert.equal(path.basename(info.file), 'model-00002-of-00002.safetensors');

      assert.deepEqual(checkpoint.readFloat32('model.embed_tokens.weight'), embed);
      assert.deepEqual(checkpoint.readFloat32('model.norm.weight'), norm);
      assert.deepEqual(checkpoint.readFloat64('model.layers.0.mlp.gate.weight'), Float64Array.from(gate));
      assert.deepEqual(checkpoint.readRaw('model.norm.weight'), new Uint8Array(norm.buffer));

      // A reused output buffer is filled in place; bytes from the previous tensor must not leak through.
      const out = new Float32Array(12);
      assert.equal(checkpoint.readFloat32('model.layers.0.mlp.gate.weight', out), out);
      assert.deepEqual(out, gate);
      checkpoint.readFloat32('model.embed_tokens.weight', new Float32Array(24));
      assert.deepEqual(checkpoint.readFloat32('model.layers.0.mlp.gate.weight', out), gate);
      assert.throws(() => checkpoint.readFloat32('model.norm.weight', out), RangeError);
    } finally {
      checkpoint.close();
    }
  });

  test('single model.safetensors', () => {
    const dir = newFolder();
    writeSafetensors(path.join(dir, 'model.safetensors'), [{ name: 'a', dtype: 'F16', shape: [2], data: Uint16Array.of(0x3c00, 0xc000) }]);
    const checkpoint = Checkpoint.open(dir);
    assert.deepEqual(checkpoint.names(), ['a']);
    assert.deepEqual(checkpoint.readFloat32('a'), Float32Array.of(1, -2));
    checkpoint.close();
  });

  test('info of a missing tensor names the tensor and the folder', () => {
    const { dir } = shardedFolder();
    const checkpoint = Checkpoint.open(dir);
    assert.throws(() => checkpoint.info('lm_head.weight'), (error: unknown) => {
      assert.ok(error instanceof InputError);
      assert.equal(error.code, 'tensor-missing');
      assert.ok(error.message.startsWith(`${dir}: `));
      assert.match(error.message, /"lm_head.weight"/);
      return true;
    });
    checkpoint.close();
  });

  test('errors: no weights, bad index, missing shard, tensor missing from its shard, bad shard header', () => {
    rejectsOpen(path.join(root, 'does-not-exist'), 'model-dir-missing', /no such model folder$/);
    rejectsOpen(newFolder(), 'checkpoint-missing', /no model.safetensors and no model.safetensors.index.json/);

    const notJson = shardedFolder().dir;
    fs.writeFileSync(path.join(notJson, 'model.safetensors.index.json'), '{"weight_map": ');
    rejectsOpen(notJson, 'index-json', /model.safetensors.index.json: not valid JSON/);

    const noMap = shardedFolder().dir;
    fs.writeFileSync(path.join(noMap, 'model.safetensors.index.json'), '{"metadata": {}}');
    rejectsOpen(noMap, 'index-weight-map', /"weight_map" expected an object/);

    const missingShard = shardedFolder();
    fs.rmSync(path.join(missingShard.dir, 'model-00002-of-00002.safetensors'));
    rejectsOpen(missingShard.dir, 'shard-missing', /shard "model-00002-of-00002.safetensors" \(holding tensor "model.layers.0.mlp.gate.weight"/);

    const wrongShard = shardedFolder();
    wrongShard.index.weight_map['model.norm.weight'] = 'model-00002-of-00002.safetensors';
    fs.writeFileSync(path.join(wrongShard.dir, 'model.safetensors.index.json'), JSON.stringify(wrongShard.index));
    rejectsOpen(wrongShard.dir, 'tensor-not-in-shard', /tensor "model.norm.weight" in shard "model-00002-of-00002.safetensors", but that shard has no such tensor/);

    const badHeader = shardedFolder();
    const shard = path.join(badHeader.dir, 'model-00001-of-00002.safetensors');
    fs.appendFileSync(shard, 'junk');
    rejectsOpen(badHeader.dir, 'trailing-bytes', new RegExp(`${shard.replace(/[.\\/]/g, '\\$&')}: file is`));
  });

  test('FP8 with scale_inv is block-dequantised, partial edge blocks included', () => {
    const dir = newFolder();
    const rows = 5;
    const cols = 7;
    const random = seededRandom(4);
    const q = Uint8Array.from({ length: rows * cols }, () => float32ToFp8E4M3((random() - 0.5) * 20));
    // 2x3 blocks: scale_inv is [ceil(5/2), ceil(7/3)] = [3, 3].
    const scaleInv = Float32Array.from({ length: 9 }, (_, i) => 0.25 * (i + 1));
    const plain = Uint8Array.of(0x38, 0xb8); // fp8 without a scale: decoded as is
    writeSafetensors(path.join(dir, 'model.safetensors'), [
      { name: 'w.weight', dtype: 'F8_E4M3', shape: [rows, cols], data: q },
      { name: 'w.weight_scale_inv', dtype: 'F32', shape: [3, 3], data: scaleInv },
      { name: 'p.weight', dtype: 'F8_E4M3', shape: [2], data: plain },
      { name: 'bad.weight', dtype: 'F8_E4M3', shape: [rows, cols], data: q },
      { name: 'bad.weight_scale_inv', dtype: 'F32', shape: [2, 3], data: scaleInv.subarray(0, 6) },
    ]);
    const checkpoint = Checkpoint.open(dir, { fp8BlockSize: [2, 3] });
    try {
      const out = checkpoint.readFloat32('w.weight');
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++) {
          const expected = Math.fround(fp8e4m3ToFloat32(q[i * cols + j]) * scaleInv[Math.floor(i / 2) * 3 + Math.floor(j / 3)]);
          assert.equal(out[i * cols + j], expected, `[${i}, ${j}]`);
        }
      }
      assert.deepEqual(checkpoint.readFloat64('w.weight'), Float64Array.from(out));
      assert.deepEqual(checkpoint.readFloat32('p.weight'), Float32Array.of(1, -1));
      assert.throws(() => checkpoint.readFloat32('bad.weight'), { code: 'fp8-scale-shape', message: /"bad.weight_scale_inv": shape expected \[3, 3\].*found \[2, 3\]/ });
    } finally {
      checkpoint.close();
    }

    // Without the option, the block size comes from config.json's quantization_config, as in V3 releases.
    const configPath = path.join(dir, 'config.json');
    fs.writeFileSync(configPath, JSON.stringify({ model_type: 'deepseek_v3', quantization_config: { quant_method: 'fp8', weight_block_size: [2, 3] } }));
    const configured = Checkpoint.open(dir);
    const explicit = Checkpoint.open(dir, { fp8BlockSize: [2, 3] });
    try {
      assert.deepEqual(configured.readFloat32('w.weight'), explicit.readFloat32('w.weight'));
      // Once config.json declares block-quantised weights, an FP8 tensor without its scale is a broken checkpoint.
      assert.throws(() => configured.readFloat32('p.weight'), { code: 'fp8-scale-missing', message: /model\.safetensors: tensor "p\.weight" is FP8 but its "p\.weight_scale_inv" is missing/ });
    } finally {
      configured.close();
      explicit.close();
    }
    fs.writeFileSync(configPath, JSON.stringify({ quantization_config: { weight_block_size: [2] } }));
    assert.throws(() => Checkpoint.open(dir), { code: 'config-field', message: /config\.json: field "quantization_config.weight_block_size" must be two positive integers/ });
    // The default 128x128 blocks make [3, 3] scales the wrong shape for this 5x7 matrix.
    fs.rmSync(configPath);
    const unconfigured = Checkpoint.open(dir);
    try {
      assert.throws(() => unconfigured.readFloat32('w.weight'), { code: 'fp8-scale-shape' });
    } finally {
      unconfigured.close();
    }
  });

  test('reads across more shards than the descriptor limit stay correct', () => {
    const dir = newFolder();
    const weightMap: Record<string, string> = {};
    for (let s = 0; s < 12; s++) {
      const shard = `model-${s}.safetensors`;
      writeSafetensors(path.join(dir, shard), [{ name: `t${s}`, dtype: 'F32', shape: [1], data: Float32Array.of(s) }]);
      weightMap[`t${s}`] = shard;
    }
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
    // Linux lists a process's descriptors under /proc/self/fd; elsewhere only the values are checked.
    const openDescriptors = () => (fs.existsSync('/proc/self/fd') ? fs.readdirSync('/proc/self/fd').length : 0);
    const before = openDescriptors();
    const checkpoint = Checkpoint.open(dir);
    assert.equal(openDescriptors(), before, 'open() reads headers and closes them again');
    for (let round = 0; round < 2; round++) {
      for (let s = 0; s < 12; s++) assert.equal(checkpoint.readFloat32(`t${s}`)[0], s);
    }
    assert.ok(openDescriptors() - before <= 8, `${openDescriptors() - before} shard descriptors open`);
    checkpoint.close();
    assert.equal(openDescriptors(), before);
  });
});
