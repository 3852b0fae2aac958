import os from 'node:os';

/**
 * safetensors element types and the one place where their bytes become numbers.
 * Everything here reads the bytes as little-endian through typed-array views, which is only right on a
 * little-endian host: every platform Node ships for is one, and we refuse to guess otherwise.
 */
if (os.endianness() !== 'LE') throw new Error('moe-inspect needs a little-endian host: safetensors data is little-endian');

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'F8_E4M3' | 'I8' | 'I16' | 'I32' | 'I64' | 'U8' | 'U16' | 'U32' | 'U64' | 'BOOL';

export const dtypeBytes: Record<DType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1,
  I8: 1, I16: 2, I32: 4, I64: 8,
  U8: 1, U16: 2, U32: 4, U64: 8,
  BOOL: 1,
};

export function isDType(s: string): s is DType {
  return Object.hasOwn(dtypeBytes, s);
}

// ---------------------------------------------------------------------------------------------------------
// Decoding: bytes of any dtype -> Float32Array / Float64Array
// ---------------------------------------------------------------------------------------------------------

/**
 * Converts the values in `bytes` (little-endian, `dtype`) into `out` as float32.
 * F64 narrows with rounding, integers go through Number (I64/U64 beyond 2^53 round).
 * `out`, when given, must hold exactly as many elements as `bytes` encodes; reusing it avoids an allocation
 * per tensor, which matters when converting gigabytes of weights.
 */
export function toFloat32(dtype: DType, bytes: Uint8Array, out?: Float32Array): Float32Array {
  const n = elementCount(dtype, bytes);
  const result = out ?? new Float32Array(n);
  checkOutLength(result, n);
  if (dtype === 'BF16') bf16ToFloat32(bytes, result);
  else if (dtype === 'F32') result.set(view(Float32Array, bytes, n));
  else decodeGeneric(dtype, bytes, n, result);
  return result;
}

/** The same as toFloat32 into float64, exact for every float dtype (for the float64 reference forward pass). */
export function toFloat64(dtype: DType, bytes: Uint8Array, out?: Float64Array): Float64Array {
  const n = elementCount(dtype, bytes);
  const result = out ?? new Float64Array(n);
  checkOutLength(result, n);
  if (dtype === 'BF16') {
    // Widen through a bounded float32 chunk: bf16 -> f32 is exact and so is f32 -> f64.
    const chunk = new Float32Array(Math.min(n, 1 << 16));
    for (let i = 0; i < n; i += chunk.length) {
      const count = Math.min(chunk.length, n - i);
      const part = count === chunk.length ? chunk : chunk.subarray(0, count);
      bf16ToFloat32(bytes.subarray(2 * i, 2 * (i + count)), part);
      result.set(part, i);
    }
  } else if (dtype === 'F64') {
    result.set(view(Float64Array, bytes, n));
  } else {
    decodeGeneric(dtype, bytes, n, result);
  }
  return result;
}

function elementCount(dtype: DType, bytes: Uint8Array): number {
  const size = dtypeBytes[dtype];
  if (bytes.length % size !== 0) throw new RangeError(`${bytes.length} bytes is not a whole number of ${dtype} values (${size} bytes each)`);
  return bytes.length / size;
}

function checkOutLength(out: Float32Array | Float64Array, n: number): void {
  if (out.length !== n) throw new RangeError(`output buffer holds ${out.length} values, expected ${n}`);
}

type TypedArrayClass<T> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number };

/** Scratch for unaligned inputs, reused so that converting many unaligned tensors does not allocate each time. */
let alignedScratch = new ArrayBuffer(0);

/**
 * A typed view of `bytes`. Typed arrays need their byte offset to be a multiple of the element size; a slice of
 * a file buffer often is not, so such bytes are copied into an aligned scratch first. The view is only valid
 * until the next call.
 */
function view<T>(Type: TypedArrayClass<T>, bytes: Uint8Array, n: number): T {
  if (bytes.byteOffset % Type.BYTES_PER_ELEMENT === 0) return new Type(bytes.buffer, bytes.byteOffset, n);
  if (alignedScratch.byteLength < bytes.length) alignedScratch = new ArrayBuffer(bytes.length);
  new Uint8Array(alignedScratch, 0, bytes.length).set(bytes);
  return new Type(alignedScratch, 0, n);
}

/**
 * The hot path (GBs of bf16 weights): a bf16 is the top half of a float32, so each u32 holding two bf16 values
 * yields two float32 bit patterns with one shift and one mask.
 */
function bf16ToFloat32(bytes: Uint8Array, out: Float32Array): void {
  const n = bytes.length >> 1;
  const pairs = n >> 1;
  const src = view(Uint32Array, bytes, pairs);
  const dst = new Uint32Array(out.buffer, out.byteOffset, n);
  for (let i = 0; i < pairs; i++) {
    const v = src[i];
    dst[2 * i] = v << 16;
    dst[2 * i + 1] = v & 0xffff0000;
  }
  if (n & 1) dst[n - 1] = (bytes[2 * n - 2] | (bytes[2 * n - 1] << 8)) << 16;
}

/** Every dtype but BF16, which has its own fast path in each caller. */
function decodeGeneric(dtype: Exclude<DType, 'BF16'>, bytes: Uint8Array, n: number, out: Float32Array | Float64Array): void {
  switch (dtype) {
    case 'F64': out.set(view(Float64Array, bytes, n)); return;
    case 'F32': out.set(view(Float32Array, bytes, n)); return;
    case 'F16': {
      const src = view(Uint16Array, bytes, n);
      const table = f16Table();
      for (let i = 0; i < n; i++) out[i] = table[src[i]];
      return;
    }
    case 'F8_E4M3': {
      const table = fp8Table();
      for (let i = 0; i < n; i++) out[i] = table[bytes[i]];
      return;
    }
    case 'I8': out.set(view(Int8Array, bytes, n)); return;
    case 'I16': out.set(view(Int16Array, bytes, n)); return;
    case 'I32': out.set(view(Int32Array, bytes, n)); return;
    case 'U8': out.set(bytes); return;
    case 'U16': out.set(view(Uint16Array, bytes, n)); return;
    case 'U32': out.set(view(Uint32Array, bytes, n)); return;
    case 'I64': {
      const src = view(BigInt64Array, bytes, n);
      for (let i = 0; i < n; i++) out[i] = Number(src[i]);
      return;
    }
    case 'U64': {
      const src = view(BigUint64Array, bytes, n);
      for (let i = 0; i < n; i++) out[i] = Number(src[i]);
      return;
    }
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = bytes[i] === 0 ? 0 : 1;
      return;
  }
}

// ---------------------------------------------------------------------------------------------------------
// FP8 e4m3fn and IEEE f16 decode tables
// ---------------------------------------------------------------------------------------------------------

let fp8Values: Float32Array | undefined;
let f16Values: Float32Array | undefined;

/** All 256 e4m3fn values, indexed by byte. */
function fp8Table(): Float32Array {
  if (fp8Values) return fp8Values;
  fp8Values = new Float32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    const sign = byte & 0x80 ? -1 : 1;
    const exponent = (byte >> 3) & 0xf;
    const mantissa = byte & 0x7;
    let magnitude: number;
    if (exponent === 0xf && mantissa === 0x7) magnitude = NaN; // e4m3fn spends its infinities on more range: only S.1111.111 is special
    else if (exponent === 0) magnitude = (mantissa / 8) * 2 ** -6;
    else magnitude = (1 + mantissa / 8) * 2 ** (exponent - 7);
    fp8Values[byte] = sign * magnitude;
  }
  return fp8Values;
}

/** All 65536 f16 values, indexed by bit pattern (256 KiB, built on first use). */
function f16Table(): Float32Array {
  if (f16Values) return f16Values;
  f16Values = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const mantissa = bits & 0x3ff;
    let magnitude: number;
    if (exponent === 0x1f) magnitude = mantissa === 0 ? Infinity : NaN;
    else if (exponent === 0) magnitude = (mantissa / 1024) * 2 ** -14;
    else magnitude = (1 + mantissa / 1024) * 2 ** (exponent - 15);
    f16Values[bits] = sign * magnitude;
  }
  return f16Values;
}

/** e4m3fn decode: 1 sign, 4 exponent (bias 7), 3 mantissa bits; subnormals; S.1111.111 is NaN; max ±448; no infinity. */
export function fp8e4m3ToFloat32(byte: number): number {
  return fp8Table()[byte & 0xff];
}

/**
 * FP8 block dequantisation (DeepSeek-V3 `weight_dequant`): W[i,j] = fp8(q[i,j]) * scaleInv[floor(i/br), floor(j/bc)].
 * `scaleInv` is [ceil(rows/br), ceil(cols/bc)]: edge blocks are partial and use their own scale.
 * Despite its name, scale_inv is multiplied.
 */
export function dequantizeFp8Blocks(
  q: Uint8Array, rows: number, cols: number, scaleInv: Float32Array, block: [number, number], out?: Float32Array,
): Float32Array {
  const [blockRows, blockCols] = block;
  const scaleRows = Math.ceil(rows / blockRows);
  const scaleCols = Math.ceil(cols / blockCols);
  if (q.length !== rows * cols) throw new RangeError(`fp8 matrix has ${q.length} bytes, expected ${rows}x${cols} = ${rows * cols}`);
  if (scaleInv.length !== scaleRows * scaleCols) {
    throw new RangeError(`scale_inv has ${scaleInv.length} values, expected ${scaleRows}x${scaleCols} = ${scaleRows * scaleCols} for ${rows}x${cols} in ${blockRows}x${blockCols} blocks`);
  }
  const result = out ?? new Float32Array(rows * cols);
  checkOutLength(result, rows * cols);
  const table = fp8Table();
  for (let i = 0; i < rows; i++) {
    const scaleRow = Math.floor(i / blockRows) * scaleCols;
    const rowStart = i * cols;
    for (let blockStart = 0, b = 0; blockStart < cols; blockStart += blockCols, b++) {
      const scale = scaleInv[scaleRow + b];
      const blockEnd = Math.min(cols, blockStart + blockCols);
      for (let j = rowStart + blockStart; j < rowStart + blockEnd; j++) result[j] = table[q[j]] * scale;
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// Encoders (used by `synth` to write bf16 / f16 / fp8 checkpoints)
// ---------------------------------------------------------------------------------------------------------

/** float32 -> bf16 bits, rounding to nearest with ties to even; NaN stays a (quiet) NaN. */
export function float32ToBf16(src: Float32Array, out?: Uint16Array): Uint16Array {
  const result = out ?? new Uint16Array(src.length);
  if (result.length !== src.length) throw new RangeError(`output buffer holds ${result.length} values, expected ${src.length}`);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i];
    if ((x & 0x7fffffff) > 0x7f800000) result[i] = (x >>> 16) | 0x40;
    else result[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return result;
}

/** float32 -> IEEE binary16 bits, round to nearest even, with subnormals; overflow becomes ±Infinity. */
export function float32ToF16(src: Float32Array, out?: Uint16Array): Uint16Array {
  const result = out ?? new Uint16Array(src.length);
  if (result.length !== src.length) throw new RangeError(`output buffer holds ${result.length} values, expected ${src.length}`);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) result[i] = f32BitsToF16Bits(bits[i]);
  return result;
}

function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal result: the value in units of 2^-24 is the 24-bit significand shifted right by 14 - e.
    if (e < -10) return sign; // below half the smallest subnormal
    const significand = mantissa | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = significand & ((1 << shift) - 1);
    let h = significand >>> shift;
    if (rest > half || (rest === half && (h & 1))) h++;
    return sign | h; // a carry into bit 10 correctly yields the smallest normal
  }
  let h = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++; // a carry may reach the exponent, and 0x7c00 is Infinity: both right
  return sign | h;
}

/** The largest finite e4m3fn magnitude. */
export const fp8E4M3Max = 448;

const float64Scratch = new Float64Array(1);
const float64Words = new Uint32Array(float64Scratch.buffer);

/**
 * number -> e4m3fn byte, round to nearest even, saturating to ±448 (so ±Infinity too); NaN -> 0x7F.
 * Rounds the double directly (not through float32, which could round twice) from its bits: e4m3 keeps the top
 * 3 mantissa bits of a normal value; below 2^-6 values are whole multiples of 2^-9.
 */
export function float32ToFp8E4M3(value: number): number {
  if (Number.isNaN(value)) return 0x7f;
  float64Scratch[0] = value;
  const low = float64Words[0];
  const high = float64Words[1];
  const sign = high >>> 31 ? 0x80 : 0;
  const magnitude = Math.abs(value);
  if (magnitude >= fp8E4M3Max) return sign | 0x7e;
  const exponent = ((high >>> 20) & 0x7ff) - 1023;
  if (exponent < -6) {
    const units = magnitude * 512; // exact: a power-of-two scaling
    const whole = Math.floor(units);
    const fraction = units - whole;
    return sign | (fraction > 0.5 || (fraction === 0.5 && (whole & 1)) ? whole + 1 : whole);
  }
  // The double's mantissa is 20 bits of `high` and 32 of `low`; e4m3 keeps the top 3, the rest decides rounding.
  let code = ((exponent + 7) << 3) | ((high >>> 17) & 7);
  const rest = high & 0x1ffff;
  const half = 0x10000;
  if (rest > half || (rest === half && (low !== 0 || (code & 1)))) code++;
  // 0x7F is NaN: a value rounding up past 448 saturates.
  return sign | Math.min(code, 0x7e);
}

/**
 * FP8 block quantisation, the inverse of dequantizeFp8Blocks and what DeepSeek-V3 releases hold: each
 * br x bc block of the row-major `rows` x `cols` matrix gets scale_inv = amax(|w| over the block) / 448, and its
 * elements become e4m3(w / scale_inv). Partial edge blocks use their own amax; an all-zero block gets scale 1.
 * The scale is rounded to float32 before dividing, so dequantising with the stored scale undoes exactly this.
 */
export function quantizeFp8Blocks(
  values: Float32Array, rows: number, cols: number, block: [number, number],
): { codes: Uint8Array; scaleInv: Float32Array } {
  if (values.length !== rows * cols) throw new RangeError(`matrix has ${values.length} values, expected ${rows}x${cols} = ${rows * cols}`);
  const [blockRows, blockCols] = block;
  const scaleRows = Math.ceil(rows / blockRows);
  const scaleCols = Math.ceil(cols / blockCols);
  const scaleInv = new Float32Array(scaleRows * scaleCols);
  const codes = new Uint8Array(rows * cols);
  for (let bi = 0; bi < scaleRows; bi++) {
    const rowEnd = Math.min(rows, (bi + 1) * blockRows);
    for (let bj = 0; bj < scaleCols; bj++) {
      const colStart = bj * blockCols;
      const colEnd = Math.min(cols, colStart + blockCols);
      let amax = 0;
      for (let i = bi * blockRows; i < rowEnd; i++) {
        for (let j = i * cols + colStart; j < i * cols + colEnd; j++) amax = Math.max(amax, Math.abs(values[j]));
      }
      const scale = amax === 0 ? 1 : Math.fround(amax / fp8E4M3Max);
      scaleInv[bi * scaleCols + bj] = scale;
      for (let i = bi * blockRows; i < rowEnd; i++) {
        for (let j = i * cols + colStart; j < i * cols + colEnd; j++) codes[j] = float32ToFp8E4M3(values[j] / scale);
      }
    }
  }
  return { codes, scaleInv };
}
