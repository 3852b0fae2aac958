import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputError } from '../src/errors.js';
import { readNpy } from '../src/loaders/npy.js';

/** A .npy file as numpy writes it: magic, version, header padded with spaces to a multiple of 64, data. */
function npy(descr: string, shape: number[], data: Uint8Array, { fortran = false, major = 1 } = {}): Uint8Array {
  const dict = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const lengthBytes = major === 1 ? 2 : 4;
  const unpadded = 8 + lengthBytes + dict.length + 1;
  const header = dict + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(8 + lengthBytes + header.length + data.length);
  out.set([0x93, ...Buffer.from('NUMPY'), major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), 8 + lengthBytes);
  out.set(data, 8 + lengthBytes + header.length);
  return out;
}

const bytesOf = (array: ArrayBufferView) => new Uint8Array(array.buffer, array.byteOffset, array.byteLength);

describe('readNpy', () => {
  test('reads a little-endian int32 matrix in C order', () => {
    const array = readNpy(npy('<i4', [2, 3], bytesOf(Int32Array.of(1, -2, 3, 4, 5, 2147483647))), 'a.npy');
    assert.equal(array.dtype, 'int32');
    assert.deepEqual(array.shape, [2, 3]);
    assert.deepEqual(Array.from(array.data), [1, -2, 3, 4, 5, 2147483647]);
  });

  test('reads uint8, uint16, int64 and big-endian float64', () => {
    assert.deepEqual(Array.from(readNpy(npy('|u1', [3], Uint8Array.of(0, 7, 255)), 'u8.npy').data), [0, 7, 255]);
    assert.deepEqual(Array.from(readNpy(npy('<u2', [2], bytesOf(Uint16Array.of(300, 65535))), 'u16.npy').data), [300, 65535]);
    const int64 = readNpy(npy('<i8', [2], bytesOf(BigInt64Array.of(-5n, 2n ** 40n))), 'i64.npy');
    assert.equal(int64.dtype, 'int64');
    assert.deepEqual(Array.from(int64.data), [-5, 2 ** 40]);
    const big = new Uint8Array(16);
    new DataView(big.buffer).setFloat64(0, 1.5, false);
    new DataView(big.buffer).setFloat64(8, -0.25, false);
    assert.deepEqual(Array.from(readNpy(npy('>f8', [2], big), 'be.npy').data), [1.5, -0.25]);
  });

  test('returns a Fortran-ordered array in C order', () => {
    // [[1, 2, 3], [4, 5, 6]] stored column by column.
    const array = readNpy(npy('<i4', [2, 3], bytesOf(Int32Array.of(1, 4, 2, 5, 3, 6)), { fortran: true }), 'f.npy');
    assert.deepEqual(Array.from(array.data), [1, 2, 3, 4, 5, 6]);
  });

  test('reads format version 2 (4-byte header length)', () => {
    assert.deepEqual(Array.from(readNpy(npy('<f4', [2], bytesOf(Float32Array.of(0.5, 2)), { major: 2 }), 'v2.npy').data), [0.5, 2]);
  });

  test('reads the .npy that vLLM embeds in a response (values as numpy decodes them)', () => {
    const payload =
      'k05VTVBZAQB2AHsnZGVzY3InOiAnfHUxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDcsIDQsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoGAwIEBwEHBQYCBQECBAQCAQYBAgYHBQIEBgcBBQICBwEHBAACBwUCAAUABwMABgMGAgUEBwIEAw==';
    const array = readNpy(Buffer.from(payload, 'base64'), 'response');
    assert.equal(array.dtype, 'uint8');
    assert.deepEqual(array.shape, [7, 4, 2]);
    // np.load(io.BytesIO(b64decode(s)))[0] and [-1]
    assert.deepEqual(Array.from(array.data.subarray(0, 8)), [6, 3, 2, 4, 7, 1, 7, 5]);
    assert.deepEqual(Array.from(array.data.subarray(48, 56)), [6, 2, 5, 4, 7, 2, 4, 3]);
  });

  const cases: Array<[string, () => Uint8Array, string, RegExp]> = [
    ['bad magic', () => Buffer.from('PK\x03\x04 not numpy at all'), 'npy-magic', /x\.npy: not a \.npy file/],
    ['unknown version', () => Object.assign(npy('<i4', [1], new Uint8Array(4)), { 6: 9 }), 'npy-version', /version 9 is not supported/],
    ['header past the end', () => npy('<i4', [1], new Uint8Array(4)).subarray(0, 40), 'npy-truncated', /header claims 118 bytes/],
    ['complex dtype', () => npy('<c8', [1], new Uint8Array(8)), 'npy-dtype', /unsupported \.npy dtype '<c8'/],
    ['object dtype', () => npy('|O', [1], new Uint8Array(8)), 'npy-dtype', /unsupported \.npy dtype '\|O'/],
    ['truncated data', () => npy('<i4', [2, 3], new Uint8Array(20)), 'npy-size', /shape \(2, 3\) and dtype int32 needs 24 bytes, found 20/],
    ['trailing bytes', () => npy('<i4', [1], new Uint8Array(8)), 'npy-size', /needs 4 bytes, found 8/],
    ['header without shape', () => Buffer.from(Buffer.from(npy('<i4', [1], new Uint8Array(4))).toString('latin1').replace("'shape'", "'shapf'"), 'latin1'), 'npy-header', /not the dict numpy writes/],
    ['int64 beyond 2^53', () => npy('<i8', [1], bytesOf(BigInt64Array.of(2n ** 60n))), 'npy-int64-range', /int64 element 0 is beyond 2\^53/],
  ];
  for (const [name, make, code, message] of cases) {
    test(`rejects ${name} (${code})`, () => {
      assert.throws(() => readNpy(make(), 'x.npy'), (error: unknown) => error instanceof InputError && error.code === code && message.test(error.message));
    });
  }
});
