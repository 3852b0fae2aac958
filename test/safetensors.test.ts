import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { InputError } from '../src/errors.js';
import {
  DType, dequantizeFp8Blocks, dtypeBytes, float32ToBf16, float32ToF16, float32ToFp8E4M3, fp8e4m3ToFloat32, isDType, quantizeFp8Blocks, toFloat32, toFloat64,
} from '../src/loaders/dtypes.js';
import { SafetensorsFile } from '../src/loaders/safetensors.js';
import { SafetensorsWriter, writeSafetensors } from '../src/loaders/safetensors-writer.js';
import { safetensorsBytes, seededRandom, tempDir } from './helpers/safetensors-bytes.js';

const dir = tempDir('safetensors');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function fileWith(bytes: Uint8Array): string {
  const file = path.join(dir, `case-${fileCount++}.safetensors`);
  fs.writeFileSync(file, bytes);
  return file;
}

/** Opens hand-built bytes and expects an InputError with `code` whose message starts with the file and matches `message`. */
function rejects(bytes: Uint8Array, code: string, message: RegExp): void {
  const file = fileWith(bytes);
  assert.throws(() => SafetensorsFile.open(file), (error: unknown) => {
    assert.ok(error instanceof InputError, `expected InputError, got ${error}`);
    assert.equal(error.code, code);
    assert.ok(error.message.startsWith(`${file}: `), error.message);
    assert.match(error.message, message);
    return true;
  });
}

const f32Entry = (begin: number, end: number, shape = [(end - begin) / 4]) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

describe('SafetensorsFile.open errors, in safetensors order', () => {
  test('header-too-small: fewer than 8 bytes', () => {
    rejects(new Uint8Array(5), 'header-too-small', /file is 5 bytes/);
  });
  test('header-too-large: length over the 100 MB cap, read as a full u64', () => {
    rejects(safetensorsBytes('{}', undefined, 2n ** 63n + 5n), 'header-too-large', /9223372036854775813 bytes/);
    rejects(safetensorsBytes('{}', undefined, 100_000_001n), 'header-too-large', /100000001/);
  });
  test('invalid-header-length: header runs past the end of the file', () => {
    rejects(safetensorsBytes('{}', undefined, 50n), 'invalid-header-length', /header length is 50 bytes, but the file is only 10 bytes/);
  });
  test('header-not-utf8', () => {
    const bytes = safetensorsBytes('{"a":1}');
    bytes[10] = 0xff;
    rejects(bytes, 'header-not-utf8', /UTF-8/);
  });
  test('header-not-json', () => {
    rejects(safetensorsBytes('{"a": '), 'header-not-json', /not valid JSON/);
  });
  test('header-not-object', () => {
    rejects(safetensorsBytes('[1, 2]'), 'header-not-object', /found \[1,2\]/);
  });
  test('invalid-metadata: values must be strings', () => {
    rejects(safetensorsBytes({ __metadata__: { a: 'x', b: 3 } }), 'invalid-metadata', /key "b": expected a string, found 3/);
    rejects(safetensorsBytes({ __metadata__: ['x'] }), 'invalid-metadata', /must be an object of strings/);
  });
  test('invalid-tensor-entry', () => {
    rejects(safetensorsBytes({ w: 7 }), 'invalid-tensor-entry', /tensor "w": expected an object/);
  });
  test('invalid-dtype names the tensor and the dtype found', () => {
    rejects(safetensorsBytes({ w: { dtype: 'F7', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), 'invalid-dtype', /tensor "w": dtype expected one of .*BF16.*, found "F7"/);
  });
  test('invalid-shape: negative, fractional or non-array', () => {
    for (const shape of [[-1], [1.5], 'x', [2 ** 53]]) {
      rejects(safetensorsBytes({ w: { dtype: 'U8', shape, data_offsets: [0, 1] } }, new Uint8Array(1)), 'invalid-shape', /tensor "w": shape expected/);
    }
  });
  test('invalid-data-offsets: begin after end, or not two integers', () => {
    rejects(safetensorsBytes({ w: { dtype: 'U8', shape: [0], data_offsets: [4, 0] } }, new Uint8Array(4)), 'invalid-data-offsets', /found \[4,0\]/);
    rejects(safetensorsBytes({ w: { dtype: 'U8', shape: [0], data_offsets: [0] } }), 'invalid-data-offsets', /tensor "w"/);
  });
  test('invalid-offset: a gap between tensors names both', () => {
    const header = { a: f32Entry(0, 8), b: f32Entry(12, 16) };
    rejects(safetensorsBytes(header, new Uint8Array(16)), 'invalid-offset', /tensor "b" starts at data offset 12, but tensor "a" ends at 8 \(gap of 4 bytes\)/);
  });
  test('invalid-offset: overlapping tensors', () => {
    const header = { a: f32Entry(0, 8), b: f32Entry(4, 12) };
    rejects(safetensorsBytes(header, new Uint8Array(12)), 'invalid-offset', /tensor "b" starts at data offset 4, but tensor "a" ends at 8 \(overlap of 4 bytes\)/);
  });
  test('invalid-offset: data that does not start at 0', () => {
    rejects(safetensorsBytes({ a: f32Entry(4, 8) }, new Uint8Array(8)), 'invalid-offset', /data section starts at 0/);
  });
  test('shape-overflow: a shape too large to address', () => {
    const shape = [2 ** 40, 2 ** 40];
    rejects(safetensorsBytes({ w: { dtype: 'F32', shape, data_offsets: [0, 4] } }, new Uint8Array(4)), 'shape-overflow', /tensor "w"/);
  });
  test('tensor-size-mismatch names the tensor, expected and found', () => {
    const header = { 'layers.0.wq': { dtype: 'BF16', shape: [2, 3], data_offsets: [0, 10] } };
    rejects(safetensorsBytes(header, new Uint8Array(10)), 'tensor-size-mismatch', /tensor "layers.0.wq": byte length expected 12 .*found 10/);
  });
  test('data-truncated: the file ends before the data does', () => {
    const bytes = safetensorsBytes({ a: f32Entry(0, 16) }, new Uint8Array(12));
    rejects(bytes, 'data-truncated', new RegExp(`file is ${bytes.length} bytes, header says data ends at ${bytes.length + 4}`));
  });
  test('trailing-bytes: junk after the data', () => {
    const bytes = safetensorsBytes({ a: f32Entry(0, 8) }, new Uint8Array(11));
    rejects(bytes, 'trailing-bytes', /3 trailing bytes/);
  });
  test('a missing file or a folder is an InputError too', () => {
    assert.throws(() => SafetensorsFile.open(path.join(dir, 'nope.safetensors')), { code: 'file-unreadable' });
    assert.throws(() => SafetensorsFile.open(dir), { code: 'file-unreadable', message: /is a folder, not a file$/ });
  });
});

describe('SafetensorsFile reads', () => {
  test('tensors in data-offset order, regardless of header key order, with zero-length tensors', () => {
    const data = Uint8Array.from({ length: 24 }, (_, i) => i);
    const header = {
      __metadata__: { format: 'pt' },
      late: { dtype: 'U8', shape: [4, 4], data_offsets: [8, 24] },
      empty: { dtype: 'F32', shape: [0, 3], data_offsets: [8, 8] },
      early: { dtype: 'I32', shape: [2], data_offsets: [0, 8] },
    };
    const bytes = safetensorsBytes(header, data);
    const file = SafetensorsFile.open(fileWith(bytes));
    try {
      assert.deepEqual([...file.tensors.keys()], ['early', 'empty', 'late']);
      assert.deepEqual(file.metadata, { format: 'pt' });
      assert.equal(file.size, bytes.length);
      const dataStart = bytes.length - 24;
      assert.deepEqual(file.tensors.get('late'), { name: 'late', dtype: 'U8', shape: [4, 4], file: file.file, start: dataStart + 8, byteLength: 16 });
      assert.deepEqual(file.read('late'), data.subarray(8, 24));
      assert.deepEqual(file.read('late', undefined, 3, 7), data.subarray(11, 15));
      assert.deepEqual(file.read('empty'), new Uint8Array(0));
      const out = new Uint8Array(8);
      assert.equal(file.read('early', out), out);
      assert.deepEqual(out, data.subarray(0, 8));
    } finally {
      file.close();
    }
  });

  test('reads are bounds-checked and a closed file reopens on read', () => {
    const file = SafetensorsFile.open(fileWith(safetensorsBytes({ a: f32Entry(0, 8) }, new Uint8Array(8).fill(7))));
    assert.throws(() => file.read('a', undefined, 4, 12), RangeError);
    assert.throws(() => file.read('a', undefined, 5, 4), RangeError);
    assert.throws(() => file.read('a', new Uint8Array(3)), RangeError);
    assert.throws(() => file.read('b'), { code: 'tensor-missing', message: /no tensor "b"/ });
    file.close();
    assert.deepEqual(file.read('a'), new Uint8Array(8).fill(7));
    file.close();
  });
});

// ---------------------------------------------------------------------------------------------------------

/** Random bytes that are valid values of every dtype (no NaN patterns, so float comparisons stay exact). */
function sampleBytes(dtype: DType, n: number, random: () => number): Uint8Array {
  const bytes = Uint8Array.from({ length: n * dtypeBytes[dtype] }, () => Math.floor(random() * 256));
  if (dtype === 'BOOL') return bytes.map((b) => b & 1);
  return bytes;
}

describe('SafetensorsWriter', () => {
  const allDtypes = Object.keys(dtypeBytes) as DType[];

  test('round trip: every dtype, written in parts, reads back byte for byte', () => {
    const random = seededRandom(1);
    const tensors = allDtypes.map((dtype, i) => ({ name: `t.${dtype}`, dtype, shape: [3, i + 1], data: sampleBytes(dtype, 3 * (i + 1), random) }));
    const file = path.join(dir, 'roundtrip.safetensors');
    const writer = SafetensorsWriter.create(file, tensors, { note: 'hello', unicode: 'é' });
    for (const { name, data } of tensors) {
      // Split each tensor into two parts, the first ending mid-element, to test part-wise appends.
      writer.write(name, data.subarray(0, 1));
      writer.write(name, data.subarray(1));
    }
    assert.ok(!fs.existsSync(file), 'nothing under the final name before finish()');
    writer.finish();

    const read = SafetensorsFile.open(file);
    try {
      assert.deepEqual(read.metadata, { note: 'hello', unicode: 'é' });
      assert.deepEqual([...read.tensors.keys()], tensors.map((t) => t.name));
      const headerLength = Number(Buffer.from(fs.readFileSync(file).subarray(0, 8)).readBigUInt64LE(0));
      assert.equal(headerLength % 8, 0, 'header padded to a multiple of 8');
      for (const { name, dtype, shape, data } of tensors) {
        const info = read.tensors.get(name)!;
        assert.equal(info.dtype, dtype);
        assert.deepEqual(info.shape, shape);
        assert.deepEqual(read.read(name), data);
      }
    } finally {
      read.close();
    }
    assert.deepEqual(fs.readdirSync(dir).filter((name) => name.includes('roundtrip') && name.endsWith('.tmp')), []);
  });

  test('writing out of order, too many or too few bytes is refused; abort leaves nothing', () => {
    const file = path.join(dir, 'bad-writes.safetensors');
    const specs = [{ name: 'a', dtype: 'F32' as DType, shape: [2] }, { name: 'z', dtype: 'U8' as DType, shape: [0] }, { name: 'b', dtype: 'U8' as DType, shape: [3] }];
    const writer = SafetensorsWriter.create(file, specs);
    assert.throws(() => writer.write('a', new Float32Array(3)), { code: 'writer-overflow', message: /tensor "a": got 12 bytes, expected 8/ });
    writer.write('a', new Float32Array(1));
    assert.throws(() => writer.write('b', new Uint8Array(3)), { code: 'writer-incomplete', message: /tensor "a": got 4 bytes, expected 8/ });
    writer.write('a', new Float32Array(1));
    writer.write('b', new Uint8Array(1)); // skipping the zero-length "z" is fine
    assert.throws(() => writer.write('a', new Float32Array(1)), { code: 'writer-order' });
    assert.throws(() => writer.write('q', new Uint8Array(1)), { code: 'writer-order', message: /"q" was not declared/ });
    assert.throws(() => writer.finish(), { code: 'writer-incomplete', message: /tensor "b": got 1 bytes, expected 3/ });
    writer.abort();
    assert.deepEqual(fs.readdirSync(dir).filter((name) => name.includes('bad-writes')), []);
  });

  test('declared specs are checked', () => {
    const file = path.join(dir, 'specs.safetensors');
    assert.throws(() => SafetensorsWriter.create(file, [{ name: 'a', dtype: 'F3' as DType, shape: [1] }]), { code: 'writer-spec' });
    assert.throws(() => SafetensorsWriter.create(file, [{ name: 'a', dtype: 'F32', shape: [-1] }]), { code: 'writer-spec' });
    assert.throws(() => SafetensorsWriter.create(file, [{ name: 'a', dtype: 'F32', shape: [1] }, { name: 'a', dtype: 'F32', shape: [1] }]), { code: 'writer-spec', message: /declared twice/ });
  });

  test('writeSafetensors: large tensors pass the write buffer, odd names survive', () => {
    const file = path.join(dir, 'big.safetensors');
    const big = new Float32Array((20 << 20) / 4).map((_, i) => i);
    writeSafetensors(file, [{ name: '__proto__', dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 3) }, { name: 'big', dtype: 'F32', shape: [big.length], data: big }]);
    const read = SafetensorsFile.open(file);
    try {
      assert.deepEqual(read.read('__proto__'), Uint8Array.of(1, 2, 3));
      const back = toFloat32('F32', read.read('big'));
      assert.equal(back.length, big.length);
      assert.equal(back[big.length - 1], big.length - 1);
      assert.deepEqual(back, big);
    } finally {
      read.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('dtype conversions', () => {
  test('isDType', () => {
    assert.ok(isDType('F8_E4M3'));
    assert.ok(!isDType('F8_E5M2'));
    assert.ok(!isDType('toString'));
  });

  test('float32ToBf16: hand-computed bits and round-to-nearest-even ties', () => {
    const bits = (x: number) => float32ToBf16(Float32Array.of(x))[0];
    assert.equal(bits(1), 0x3f80);
    assert.equal(bits(-2), 0xc000);
    // 1 + 2^-8 is exactly halfway between 1 (0x3F80, even) and 1 + 2^-7 (0x3F81): ties go to even.
    assert.equal(bits(1 + 2 ** -8), 0x3f80);
    // 1 + 3*2^-8 is halfway between 0x3F81 (odd) and 0x3F82 (even).
    assert.equal(bits(1 + 3 * 2 ** -8), 0x3f82);
    assert.equal(bits(1 + 2 ** -8 + 2 ** -20), 0x3f81); // just above the tie rounds up
    assert.equal(bits(Infinity), 0x7f80);
    assert.equal(bits(3.4e38), 0x7f80); // above the largest bf16, rounds to infinity
    assert.ok((bits(NaN) & 0x7fc0) === 0x7fc0, 'NaN stays NaN');
  });

  test('float32ToF16: normals, ties, subnormals, overflow', () => {
    const bits = (x: number) => float32ToF16(Float32Array.of(x))[0];
    assert.equal(bits(1), 0x3c00);
    assert.equal(bits(-2), 0xc000);
    assert.equal(bits(65504), 0x7bff);
    assert.equal(bits(65520), 0x7c00); // halfway to the next binade: ties to even = infinity
    assert.equal(bits(1 + 2 ** -11), 0x3c00); // tie, even
    assert.equal(bits(1 + 3 * 2 ** -11), 0x3c02); // tie, odd rounds up
    assert.equal(bits(2 ** -24), 0x0001); // smallest subnormal
    assert.equal(bits(2 ** -14 - 2 ** -24), 0x03ff); // largest subnormal
    assert.equal(bits(2 ** -25), 0x0000); // tie between 0 and 2^-24 -> 0 (even)
    assert.equal(bits(1.5 * 2 ** -24), 0x0002); // tie between 1 and 2 units -> 2 (even)
    assert.equal(bits(2 ** -25 + 2 ** -40), 0x0001);
    assert.equal(bits(2 ** -14 - 2 ** -26), 0x0400); // rounds up out of the subnormals into the smallest normal
    assert.equal(bits(-0), 0x8000);
    assert.equal(bits(1e-10), 0x0000);
    assert.equal(bits(NaN) & 0x7e00, 0x7e00);
  });

  test('f16 decodes back every finite bit pattern exactly', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const decoded = toFloat32('F16', new Uint8Array(all.buffer));
    const reencoded = float32ToF16(decoded);
    for (let i = 0; i < 65536; i++) {
      if (Number.isNaN(decoded[i])) assert.equal((i >> 10) & 0x1f, 0x1f);
      else assert.equal(reencoded[i], i, `pattern ${i.toString(16)}`);
    }
  });

  test('fp8 e4m3fn decode: hand-computed values', () => {
    assert.equal(fp8e4m3ToFloat32(0x7e), 448);
    assert.equal(fp8e4m3ToFloat32(0xfe), -448);
    assert.equal(fp8e4m3ToFloat32(0x01), 2 ** -9);
    assert.equal(fp8e4m3ToFloat32(0x07), 7 * 2 ** -9);
    assert.equal(fp8e4m3ToFloat32(0x08), 2 ** -6); // smallest normal
    assert.equal(fp8e4m3ToFloat32(0x38), 1);
    assert.equal(fp8e4m3ToFloat32(0x3c), 1.5);
    assert.ok(Object.is(fp8e4m3ToFloat32(0x80), -0));
    assert.ok(Number.isNaN(fp8e4m3ToFloat32(0x7f)));
    assert.ok(Number.isNaN(fp8e4m3ToFloat32(0xff)));
    assert.equal(fp8e4m3ToFloat32(0x78), 256); // S.1111.000 is a number in e4m3fn, not infinity
  });

  test('fp8 e4m3fn encode: saturation, ties to even, round trip', () => {
    assert.equal(float32ToFp8E4M3(448), 0x7e);
    assert.equal(float32ToFp8E4M3(1000), 0x7e);
    assert.equal(float32ToFp8E4M3(Infinity), 0x7e);
    assert.equal(float32ToFp8E4M3(-1e9), 0xfe);
    assert.equal(float32ToFp8E4M3(NaN), 0x7f);
    assert.equal(float32ToFp8E4M3(1.0625), 0x38); // halfway between 1 (0x38) and 1.125 (0x39): even
    assert.equal(float32ToFp8E4M3(1.1875), 0x3a); // halfway between 1.125 (0x39) and 1.25 (0x3A): even
    assert.equal(float32ToFp8E4M3(1.07), 0x39);
    assert.equal(float32ToFp8E4M3(2 ** -10), 0x00); // halfway between 0 and the smallest subnormal
    assert.equal(float32ToFp8E4M3(1.5 * 2 ** -9), 0x02);
    assert.equal(float32ToFp8E4M3(-0), 0x80);
    assert.equal(float32ToFp8E4M3(-1.0625), 0xb8); // the same tie, negative
    assert.equal(float32ToFp8E4M3(7.5 * 2 ** -9), 0x08); // halfway between the largest subnormal (0x07) and 2^-6 (0x08): even
    assert.equal(float32ToFp8E4M3(400), 0x7c); // halfway between 384 (0x7C) and 416 (0x7D): even
    assert.equal(float32ToFp8E4M3(432), 0x7e); // halfway between 416 (0x7D) and 448 (0x7E): even, not past the maximum
    for (let byte = 0; byte < 256; byte++) {
      if ((byte & 0x7f) === 0x7f) continue;
      assert.equal(float32ToFp8E4M3(fp8e4m3ToFloat32(byte)), byte);
    }
  });

  test('fp8 e4m3fn encode agrees with a nearest-code search over the decoded values', () => {
    // The second algorithm: the code whose value is nearest, ties to the even code, saturating at ±448.
    const codes = Array.from({ length: 0x7f }, (_, code) => code); // 0x00..0x7E, increasing in value
    const nearestCode = (value: number): number => {
      const sign = value < 0 || Object.is(value, -0) ? 0x80 : 0;
      const magnitude = Math.min(Math.abs(value), 448);
      let best = 0;
      for (const code of codes) {
        const distance = Math.abs(fp8e4m3ToFloat32(code) - magnitude);
        const bestDistance = Math.abs(fp8e4m3ToFloat32(best) - magnitude);
        if (distance < bestDistance || (distance === bestDistance && (code & 1) === 0)) best = code;
      }
      return sign | best;
    };
    const random = seededRandom(11);
    const values: number[] = [];
    for (let i = 0; i < 20000; i++) values.push((random() - 0.5) * 2 ** Math.floor(random() * 24 - 14));
    // Every midpoint between neighbouring codes, and a hair to either side of it.
    for (let code = 0; code < 0x7e; code++) {
      const mid = (fp8e4m3ToFloat32(code) + fp8e4m3ToFloat32(code + 1)) / 2;
      values.push(mid, mid * (1 + 1e-12), mid * (1 - 1e-12), -mid);
    }
    for (const value of values) assert.equal(float32ToFp8E4M3(value), nearestCode(value), `${value}`);
  });

  test('fp8 block quantisation: per-block amax / 448 scales, partial edge blocks, an all-zero block', () => {
    // 3x3 in 2x2 blocks: [0..1]x[0..1], [0..1]x[2], [2]x[0..1], [2]x[2].
    const w = Float32Array.of(
      1, -2, 0.5,
      4, 0.25, -0.5,
      0, 0, 7,
    );
    const { codes, scaleInv } = quantizeFp8Blocks(w, 3, 3, [2, 2]);
    assert.deepEqual(scaleInv, Float32Array.of(Math.fround(4 / 448), Math.fround(0.5 / 448), 1, Math.fround(7 / 448)));
    // Each block's largest magnitude lands on 448; the zero block keeps scale 1 and codes 0.
    assert.equal(fp8e4m3ToFloat32(codes[3]), 448);
    assert.equal(fp8e4m3ToFloat32(codes[2]), 448);
    assert.equal(fp8e4m3ToFloat32(codes[5]), -448);
    assert.equal(fp8e4m3ToFloat32(codes[8]), 448);
    assert.deepEqual([codes[6], codes[7]], [0, 0]);
    // 1 / (4/448) = 112 and -2 / (4/448) = -224 are e4m3 values, so the round trip is exact.
    assert.deepEqual(dequantizeFp8Blocks(codes, 3, 3, scaleInv, [2, 2]).subarray(0, 2), Float32Array.of(Math.fround(112 * Math.fround(4 / 448)), Math.fround(-224 * Math.fround(4 / 448))));
  });

  test('toFloat32 / toFloat64 of every dtype against DataView, including unaligned input', () => {
    const random = seededRandom(2);
    const readers: Record<DType, (view: DataView, at: number) => number> = {
      F64: (v, at) => v.getFloat64(at, true),
      F32: (v, at) => v.getFloat32(at, true),
      F16: (v, at) => decodeHalf(v.getUint16(at, true)),
      BF16: (v, at) => new Float32Array(Uint32Array.of(v.getUint16(at, true) << 16).buffer)[0],
      F8_E4M3: (v, at) => decodeE4m3(v.getUint8(at)),
      I8: (v, at) => v.getInt8(at),
      I16: (v, at) => v.getInt16(at, true),
      I32: (v, at) => v.getInt32(at, true),
      I64: (v, at) => Number(v.getBigInt64(at, true)),
      U8: (v, at) => v.getUint8(at),
      U16: (v, at) => v.getUint16(at, true),
      U32: (v, at) => v.getUint32(at, true),
      U64: (v, at) => Number(v.getBigUint64(at, true)),
      BOOL: (v, at) => (v.getUint8(at) ? 1 : 0),
    };
    for (const dtype of Object.keys(dtypeBytes) as DType[]) {
      for (const n of [0, 1, 7, 1000]) {
        const size = dtypeBytes[dtype];
        // Offset by 1 byte inside a larger buffer, so typed views over it would be misaligned.
        const backing = new Uint8Array(n * size + 1);
        const bytes = backing.subarray(1);
        bytes.set(sampleBytes(dtype, n, random));
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const expected = Float64Array.from({ length: n }, (_, i) => readers[dtype](view, i * size));
        const as32 = toFloat32(dtype, bytes);
        const as64 = toFloat64(dtype, bytes);
        for (let i = 0; i < n; i++) {
          assert.ok(Object.is(as32[i], Math.fround(expected[i])) || (Number.isNaN(as32[i]) && Number.isNaN(expected[i])), `${dtype}[${i}] f32`);
          assert.ok(Object.is(as64[i], expected[i]) || (Number.isNaN(as64[i]) && Number.isNaN(expected[i])), `${dtype}[${i}] f64`);
        }
      }
    }
  });

  test('toFloat32 writes into a reused output and checks its length', () => {
    const out = new Float32Array(3);
    const bf16 = new Uint8Array(Uint16Array.of(0x3f80, 0xc000, 0x4040).buffer);
    assert.equal(toFloat32('BF16', bf16, out), out);
    assert.deepEqual(out, Float32Array.of(1, -2, 3));
    assert.throws(() => toFloat32('BF16', bf16, new Float32Array(4)), RangeError);
    assert.throws(() => toFloat32('F32', new Uint8Array(6)), RangeError);
  });

  test('dequantizeFp8Blocks: 130x260 in 128x128 blocks, partial edges, against a per-element computation', () => {
    const random = seededRandom(3);
    const rows = 130;
    const cols = 260;
    const q = Uint8Array.from({ length: rows * cols }, () => {
      const byte = Math.floor(random() * 256);
      return (byte & 0x7f) === 0x7f ? 0 : byte;
    });
    const scaleInv = Float32Array.from({ length: 2 * 3 }, () => 0.5 + random() * 4);
    const out = dequantizeFp8Blocks(q, rows, cols, scaleInv, [128, 128]);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        const expected = Math.fround(decodeE4m3(q[i * cols + j]) * scaleInv[(i < 128 ? 0 : 1) * 3 + (j < 128 ? 0 : j < 256 ? 1 : 2)]);
        assert.equal(out[i * cols + j], expected, `[${i}, ${j}]`);
      }
    }
    assert.throws(() => dequantizeFp8Blocks(q, rows, cols, new Float32Array(4), [128, 128]), RangeError);
  });
});

/** Independent decoders written from the format definitions, for comparison. */
function decodeHalf(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (e === 0 ? m * 2 ** -24 : (1024 + m) * 2 ** (e - 25));
}

function decodeE4m3(byte: number): number {
  const sign = byte & 0x80 ? -1 : 1;
  const e = (byte >> 3) & 0xf;
  const m = byte & 7;
  if (e === 15 && m === 7) return NaN;
  return sign * (e === 0 ? m * 2 ** -9 : (8 + m) * 2 ** (e - 10));
}
