import { fileError } from '../errors.js';

/**
 * NumPy's `.npy` format (numpy.lib.format): the magic bytes \x93NUMPY, a version, a little-endian header
 * length (2 bytes in version 1, 4 in versions 2 and 3), a Python dict literal
 * `{'descr': '<i4', 'fortran_order': False, 'shape': (7, 4, 2), }`, then the raw data.
 * Integer and float arrays of any rank are read; Fortran-ordered arrays are returned in C order.
 */
export type NpyData = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

export interface NpyArray {
  /** numpy's name for the element type, e.g. `int32`, `uint8`, `float64`. */
  dtype: string;
  shape: number[];
  /** Elements in C (row-major) order. 64-bit integers arrive as Float64Array (checked to be exact). */
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

interface ElementType {
  dtype: string;
  bytes: number;
  make: (length: number) => NpyData;
  read: (view: DataView, offset: number, littleEndian: boolean) => number;
}

/** By the type letter and size of `descr` (the part after the byte-order character). */
const elementTypes: Record<string, ElementType> = {
  u1: { dtype: 'uint8', bytes: 1, make: (n) => new Uint8Array(n), read: (v, o) => v.getUint8(o) },
  i1: { dtype: 'int8', bytes: 1, make: (n) => new Int8Array(n), read: (v, o) => v.getInt8(o) },
  b1: { dtype: 'bool', bytes: 1, make: (n) => new Uint8Array(n), read: (v, o) => v.getUint8(o) },
  u2: { dtype: 'uint16', bytes: 2, make: (n) => new Uint16Array(n), read: (v, o, le) => v.getUint16(o, le) },
  i2: { dtype: 'int16', bytes: 2, make: (n) => new Int16Array(n), read: (v, o, le) => v.getInt16(o, le) },
  u4: { dtype: 'uint32', bytes: 4, make: (n) => new Uint32Array(n), read: (v, o, le) => v.getUint32(o, le) },
  i4: { dtype: 'int32', bytes: 4, make: (n) => new Int32Array(n), read: (v, o, le) => v.getInt32(o, le) },
  u8: { dtype: 'uint64', bytes: 8, make: (n) => new Float64Array(n), read: (v, o, le) => Number(v.getBigUint64(o, le)) },
  i8: { dtype: 'int64', bytes: 8, make: (n) => new Float64Array(n), read: (v, o, le) => Number(v.getBigInt64(o, le)) },
  f4: { dtype: 'float32', bytes: 4, make: (n) => new Float32Array(n), read: (v, o, le) => v.getFloat32(o, le) },
  f8: { dtype: 'float64', bytes: 8, make: (n) => new Float64Array(n), read: (v, o, le) => v.getFloat64(o, le) },
};

/** Parses a whole `.npy` file held in memory; `file` names it in errors. */
export function readNpy(bytes: Uint8Array, file: string): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw fileError(file, 'npy-magic', 'not a .npy file (it does not start with \\x93NUMPY)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  if (major !== 1 && major !== 2 && major !== 3) throw fileError(file, 'npy-version', `.npy version ${major} is not supported (expected 1, 2 or 3)`);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) throw fileError(file, 'npy-truncated', 'file ends inside the .npy header');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = 8 + lengthBytes + headerLength;
  if (dataStart > bytes.length) {
    throw fileError(file, 'npy-truncated', `.npy header claims ${headerLength} bytes but the file has ${bytes.length - 8 - lengthBytes} after the length`);
  }
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(8 + lengthBytes, dataStart));
  const { descr, fortranOrder, shape } = parseHeader(header, file);

  const byteOrder = descr[0];
  const element = elementTypes[descr.slice(1)];
  if (!element || !'<>|='.includes(byteOrder)) {
    throw fileError(file, 'npy-dtype', `unsupported .npy dtype '${descr}' (expected an integer, bool or float type such as '<i4', '|u1', '<f8')`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = count * element.bytes;
  if (bytes.length - dataStart !== expected) {
    throw fileError(file, 'npy-size', `data of shape (${shape.join(', ')}) and dtype ${element.dtype} needs ${expected} bytes, found ${bytes.length - dataStart}`);
  }

  const littleEndian = byteOrder !== '>';
  const data = element.make(count);
  for (let i = 0; i < count; i++) data[i] = element.read(view, dataStart + i * element.bytes, littleEndian);
  if (element.bytes === 8 && element.dtype !== 'float64') {
    const inexact = data.findIndex((value) => !Number.isSafeInteger(value));
    if (inexact >= 0) throw fileError(file, 'npy-int64-range', `${element.dtype} element ${inexact} is beyond 2^53 and cannot be held exactly`);
  }
  return { dtype: element.dtype, shape, data: fortranOrder ? toCOrder(data, shape) : data };
}

/** The header is a Python dict literal with exactly these keys; anything else is not a file numpy wrote. */
function parseHeader(header: string, file: string): { descr: string; fortranOrder: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw fileError(file, 'npy-header', `.npy header is not the dict numpy writes (descr, fortran_order, shape): ${header.trim()}`);
  }
  const shape = shapeText
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => Number(part.replace(/L$/, '')));
  if (shape.some((n) => !Number.isSafeInteger(n) || n < 0)) throw fileError(file, 'npy-header', `.npy shape (${shapeText}) is not a tuple of sizes`);
  return { descr, fortranOrder: fortran === 'True', shape };
}

/** Fortran order stores the first index fastest; walk the C order and fetch each element from there. */
function toCOrder(data: NpyData, shape: number[]): NpyData {
  const out = data.slice();
  const fortranStride = shape.map((_, axis) => shape.slice(0, axis).reduce((a, b) => a * b, 1));
  const index = new Array<number>(shape.length).fill(0);
  for (let c = 0; c < data.length; c++) {
    out[c] = data[index.reduce((offset, i, axis) => offset + i * fortranStride[axis], 0)];
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      if (++index[axis] < shape[axis]) break;
      index[axis] = 0;
    }
  }
  return out;
}
