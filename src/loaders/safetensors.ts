import fs from 'node:fs';
import { fileError } from '../errors.js';
import { DType, dtypeBytes, isDType } from './dtypes.js';
import { readFailure } from '../files.js';

/**
 * A safetensors file read through its header only: 8 bytes of little-endian u64 header length N, N bytes of
 * JSON `{name: {dtype, shape, data_offsets: [begin, end)}, "__metadata__"?: {string: string}}`, then the data,
 * with offsets counted from the start of the data section. Tensor bytes are fetched with positioned reads on
 * demand, so a multi-GB shard never has to fit in memory.
 *
 * The header is validated in the order the reference implementation uses (safetensors/src/tensor.rs), one
 * error code per check:
 *   header-too-small, header-too-large, invalid-header-length, header-not-utf8, header-not-json,
 *   header-not-object, invalid-metadata, invalid-tensor-entry, invalid-dtype, invalid-shape,
 *   invalid-data-offsets, invalid-offset (gap or overlap), shape-overflow, tensor-size-mismatch,
 *   data-truncated, trailing-bytes.
 */

/** Header lengths above this are refused rather than allocated (the reference uses the same 100 MB cap). */
export const maxHeaderBytes = 100_000_000;

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  file: string;
  /** Absolute byte offset of the tensor's first byte in the file. */
  start: number;
  byteLength: number;
}

export class SafetensorsFile {
  /** Open descriptor, or undefined after close(); read() reopens on demand. */
  private fd: number | undefined;

  private constructor(
    readonly file: string,
    readonly size: number,
    readonly metadata: Record<string, string>,
    /** In data-offset (file) order. */
    readonly tensors: Map<string, TensorInfo>,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Reads and validates the header (only the first 8 + N bytes of the file). */
  static open(file: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (error) {
      throw fileError(file, 'file-unreadable', readFailure(error), error);
    }
    try {
      const stat = fs.fstatSync(fd);
      if (!stat.isFile()) throw fileError(file, 'file-unreadable', stat.isDirectory() ? 'is a folder, not a file' : 'not a regular file');
      const { metadata, tensors } = readHeader(file, fd, stat.size);
      return new SafetensorsFile(file, stat.size, metadata, tensors, fd);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  /**
   * Positioned read of tensor `name`'s bytes, or of its byte sub-range [byteStart, byteEnd), into `out`
   * (which must then be exactly that long) or a new array.
   */
  read(name: string, out?: Uint8Array, byteStart = 0, byteEnd?: number): Uint8Array {
    const info = this.tensors.get(name);
    if (!info) throw fileError(this.file, 'tensor-missing', `no tensor "${name}"`);
    const end = byteEnd ?? info.byteLength;
    if (!Number.isSafeInteger(byteStart) || !Number.isSafeInteger(end) || byteStart < 0 || byteStart > end || end > info.byteLength) {
      throw new RangeError(`${this.file}: tensor "${name}": byte range [${byteStart}, ${end}) is outside [0, ${info.byteLength})`);
    }
    const length = end - byteStart;
    const result = out ?? new Uint8Array(length);
    if (result.length !== length) throw new RangeError(`${this.file}: tensor "${name}": output buffer holds ${result.length} bytes, expected ${length}`);
    readFully(this.file, this.descriptor(), result, info.start + byteStart);
    return result;
  }

  /** Releases the file descriptor. The header stays usable; a later read() reopens the file. */
  close(): void {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private descriptor(): number {
    if (this.fd !== undefined) return this.fd;
    const fd = fs.openSync(this.file, 'r');
    const size = fs.fstatSync(fd).size;
    if (size !== this.size) {
      fs.closeSync(fd);
      throw fileError(this.file, 'file-changed', `file changed since its header was read: size was ${this.size} bytes, now ${size}`);
    }
    this.fd = fd;
    return fd;
  }
}

/** readSync may return fewer bytes than asked; loop, and treat an early end of file as the file having changed. */
export function readFully(file: string, fd: number, into: Uint8Array, position: number): void {
  let done = 0;
  while (done < into.length) {
    const n = fs.readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) throw fileError(file, 'file-changed', `file ended at byte ${position + done} while reading bytes ${position}..${position + into.length}: did it change since its header was read?`);
    done += n;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Header validation, in safetensors' order
// ---------------------------------------------------------------------------------------------------------

function readHeader(file: string, fd: number, size: number): { metadata: Record<string, string>; tensors: Map<string, TensorInfo> } {
  if (size < 8) throw fileError(file, 'header-too-small', `file is ${size} bytes, too small to hold the 8-byte header length`);
  const prefix = new Uint8Array(8);
  readFully(file, fd, prefix, 0);
  const headerLength = Buffer.from(prefix.buffer).readBigUInt64LE(0);
  if (headerLength > BigInt(maxHeaderBytes)) {
    throw fileError(file, 'header-too-large', `header length is ${headerLength} bytes, more than the ${maxHeaderBytes}-byte limit (not a safetensors file?)`);
  }
  const n = Number(headerLength);
  if (8 + n > size) {
    throw fileError(file, 'invalid-header-length', `header length is ${n} bytes, but the file is only ${size} bytes (8 + ${n} > ${size})`);
  }
  const headerBytes = new Uint8Array(n);
  readFully(file, fd, headerBytes, 8);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch (error) {
    throw fileError(file, 'header-not-utf8', 'header is not valid UTF-8', error);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw fileError(file, 'header-not-json', `header is not valid JSON (${(error as Error).message})`, error);
  }
  if (!isPlainObject(json)) throw fileError(file, 'header-not-object', `header must be a JSON object, found ${describe(json)}`);

  const dataStart = 8 + n;
  let metadata: Record<string, string> = {};
  const entries: Array<Omit<TensorInfo, 'start' | 'byteLength'> & { begin: number; end: number }> = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') metadata = checkMetadata(file, value);
    else entries.push({ name, file, ...checkEntry(file, name, value) });
  }

  // Zero-length tensors sort before a tensor starting at the same offset, so both orders of writing them pass.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const tensors = new Map<string, TensorInfo>();
  let previous: (typeof entries)[number] | undefined;
  for (const entry of entries) {
    const expectedBegin = previous ? previous.end : 0;
    if (entry.begin !== expectedBegin) {
      const where = previous ? `tensor "${previous.name}" ends at ${previous.end}` : 'the data section starts at 0';
      const what = entry.begin > expectedBegin ? 'gap' : 'overlap';
      throw fileError(file, 'invalid-offset', `tensor "${entry.name}" starts at data offset ${entry.begin}, but ${where} (${what} of ${Math.abs(entry.begin - expectedBegin)} bytes)`);
    }
    // A zero dimension is checked first: a product that overflowed to Infinity times 0 would be NaN.
    const elements = entry.shape.includes(0) ? 0 : entry.shape.reduce((a, b) => a * b, 1);
    const expectedBytes = elements * dtypeBytes[entry.dtype];
    if (!Number.isSafeInteger(expectedBytes)) {
      throw fileError(file, 'shape-overflow', `tensor "${entry.name}": shape [${entry.shape.join(', ')}] of ${entry.dtype} is too large to address`);
    }
    const found = entry.end - entry.begin;
    if (found !== expectedBytes) {
      throw fileError(file, 'tensor-size-mismatch', `tensor "${entry.name}": byte length expected ${expectedBytes} (shape [${entry.shape.join(', ')}] x ${dtypeBytes[entry.dtype]} bytes of ${entry.dtype}), found ${found} (data_offsets [${entry.begin}, ${entry.end}])`);
    }
    tensors.set(entry.name, { name: entry.name, dtype: entry.dtype, shape: entry.shape, file, start: dataStart + entry.begin, byteLength: found });
    previous = entry;
  }

  const dataEnd = dataStart + (previous ? previous.end : 0);
  if (dataEnd > size) throw fileError(file, 'data-truncated', `file is ${size} bytes, header says data ends at ${dataEnd} (truncated?)`);
  if (dataEnd < size) throw fileError(file, 'trailing-bytes', `file is ${size} bytes, header says data ends at ${dataEnd} (${size - dataEnd} trailing bytes)`);
  return { metadata, tensors };
}

function checkMetadata(file: string, value: unknown): Record<string, string> {
  if (!isPlainObject(value)) throw fileError(file, 'invalid-metadata', `"__metadata__" must be an object of strings, found ${describe(value)}`);
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') throw fileError(file, 'invalid-metadata', `"__metadata__" key "${key}": expected a string, found ${describe(item)}`);
  }
  return value as Record<string, string>;
}

function checkEntry(file: string, name: string, value: unknown): { dtype: DType; shape: number[]; begin: number; end: number } {
  if (!isPlainObject(value)) throw fileError(file, 'invalid-tensor-entry', `tensor "${name}": expected an object {dtype, shape, data_offsets}, found ${describe(value)}`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string' || !isDType(dtype)) {
    throw fileError(file, 'invalid-dtype', `tensor "${name}": dtype expected one of ${Object.keys(dtypeBytes).join(', ')}, found ${describe(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeSafeInteger)) {
    throw fileError(file, 'invalid-shape', `tensor "${name}": shape expected an array of non-negative integers, found ${describe(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeSafeInteger) || offsets[0] > offsets[1]) {
    throw fileError(file, 'invalid-data-offsets', `tensor "${name}": data_offsets expected [begin, end] with 0 <= begin <= end, found ${describe(offsets)}`);
  }
  return { dtype, shape, begin: offsets[0], end: offsets[1] };
}

function isNonNegativeSafeInteger(x: unknown): x is number {
  return Number.isSafeInteger(x) && (x as number) >= 0;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A short rendering of a JSON value for messages (headers can be huge: cut long values). */
function describe(value: unknown): string {
  const text = value === undefined ? 'nothing' : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
