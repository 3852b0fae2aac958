import fs from 'node:fs';
import { fileError } from '../errors.js';
import { temporaryPathFor } from '../files.js';
import { DType, dtypeBytes, isDType } from './dtypes.js';

/**
 * A streaming safetensors writer. The header has to come first, so every tensor is declared up front; data then
 * arrives in declared order, in as many parts per tensor as the caller likes, and goes out through a large
 * write buffer with synchronous writes (synthetic checkpoints run to several GB). The file is written under a
 * temporary name and renamed into place by finish(), so a failed run never leaves a half-written file.
 */

export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: number[];
}

/** Writes smaller than this are gathered into one buffer; larger ones go straight to the file. */
const bufferBytes = 16 << 20;

export class SafetensorsWriter {
  private readonly buffer = new Uint8Array(bufferBytes);
  private buffered = 0;
  /** File position of the next write (positioned writes keep the position explicit). */
  private position = 0;
  /** Index into specs of the tensor being written, and its bytes written so far. */
  private current = 0;
  private currentWritten = 0;
  private fd: number | undefined;
  private readonly indexOf: Map<string, number>;

  private constructor(
    readonly file: string,
    private readonly tmpFile: string,
    private readonly specs: TensorSpec[],
    private readonly byteLengths: number[],
    header: Uint8Array,
    fd: number,
  ) {
    this.fd = fd;
    this.indexOf = new Map(specs.map(({ name }, i) => [name, i]));
    this.append(header);
  }

  static create(file: string, specs: TensorSpec[], metadata?: Record<string, string>): SafetensorsWriter {
    const byteLengths = specs.map((spec) => checkSpec(file, spec));
    const names = new Set<string>();
    for (const { name } of specs) {
      if (name === '__metadata__') throw fileError(file, 'writer-spec', 'a tensor cannot be named "__metadata__" (the header key for metadata)');
      if (names.has(name)) throw fileError(file, 'writer-spec', `tensor "${name}" declared twice`);
      names.add(name);
    }
    for (const [key, value] of Object.entries(metadata ?? {})) {
      if (typeof value !== 'string') throw fileError(file, 'writer-spec', `metadata "${key}": expected a string, found ${typeof value}`);
    }
    const header = encodeHeader(specs, byteLengths, metadata);

    const tmpFile = temporaryPathFor(file);
    const fd = fs.openSync(tmpFile, 'w');
    return new SafetensorsWriter(file, tmpFile, specs, byteLengths, header, fd);
  }

  /** Appends `data` to tensor `name`, which must be the tensor being written or the next one. */
  write(name: string, data: ArrayBufferView): void {
    this.advanceTo(name);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const expected = this.byteLengths[this.current];
    if (this.currentWritten + bytes.length > expected) {
      throw fileError(this.file, 'writer-overflow', `tensor "${name}": got ${this.currentWritten + bytes.length} bytes, expected ${expected}`);
    }
    this.append(bytes);
    this.currentWritten += bytes.length;
  }

  /** Checks every declared tensor got all its bytes, then renames the temporary file into place. */
  finish(): void {
    this.advanceTo(undefined);
    this.flush();
    fs.closeSync(this.openFd());
    this.fd = undefined;
    fs.renameSync(this.tmpFile, this.file);
  }

  /** Drops the temporary file; safe to call after an error, and more than once. */
  abort(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    fs.rmSync(this.tmpFile, { force: true });
  }

  /**
   * Moves past finished tensors until `name` is current (undefined: past the last tensor). Tensors of zero
   * bytes may be skipped; any other tensor left short is an error, as is writing out of order.
   */
  private advanceTo(name: string | undefined): void {
    const target = name === undefined ? this.specs.length : this.indexOf.get(name);
    if (target === undefined) throw fileError(this.file, 'writer-order', `tensor "${name}" was not declared`);
    if (target < this.current) throw fileError(this.file, 'writer-order', `tensor "${name}" was already written (tensors must be written in declared order)`);
    while (this.current < target) {
      const expected = this.byteLengths[this.current];
      if (this.currentWritten !== expected) {
        const before = name === undefined ? '' : ` (before writing "${name}")`;
        throw fileError(this.file, 'writer-incomplete', `tensor "${this.specs[this.current].name}": got ${this.currentWritten} bytes, expected ${expected}${before}`);
      }
      this.current++;
      this.currentWritten = 0;
    }
  }

  private append(bytes: Uint8Array): void {
    if (this.buffered + bytes.length <= this.buffer.length) {
      this.buffer.set(bytes, this.buffered);
      this.buffered += bytes.length;
      return;
    }
    this.flush();
    if (bytes.length >= this.buffer.length) this.writeOut(bytes);
    else {
      this.buffer.set(bytes, 0);
      this.buffered = bytes.length;
    }
  }

  private flush(): void {
    this.writeOut(this.buffer.subarray(0, this.buffered));
    this.buffered = 0;
  }

  private writeOut(bytes: Uint8Array): void {
    const fd = this.openFd();
    let done = 0;
    while (done < bytes.length) {
      done += fs.writeSync(fd, bytes, done, bytes.length - done, this.position + done);
    }
    this.position += bytes.length;
  }

  private openFd(): number {
    if (this.fd === undefined) throw fileError(this.file, 'writer-closed', 'writer already finished or aborted');
    return this.fd;
  }
}

/** Writes in-memory tensors to `file` atomically. */
export function writeSafetensors(file: string, tensors: Array<TensorSpec & { data: ArrayBufferView }>, metadata?: Record<string, string>): void {
  const writer = SafetensorsWriter.create(file, tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })), metadata);
  try {
    for (const tensor of tensors) writer.write(tensor.name, tensor.data);
    writer.finish();
  } catch (error) {
    writer.abort();
    throw error;
  }
}

function checkSpec(file: string, { name, dtype, shape }: TensorSpec): number {
  if (!isDType(dtype)) throw fileError(file, 'writer-spec', `tensor "${name}": unknown dtype ${JSON.stringify(dtype)}`);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw fileError(file, 'writer-spec', `tensor "${name}": shape [${shape.join(', ')}] must hold non-negative integers`);
  const bytes = shape.includes(0) ? 0 : shape.reduce((a, b) => a * b, 1) * dtypeBytes[dtype];
  if (!Number.isSafeInteger(bytes)) throw fileError(file, 'writer-spec', `tensor "${name}": shape [${shape.join(', ')}] is too large`);
  return bytes;
}

/** The 8-byte length plus the JSON header, padded with spaces so the data section starts 8-byte aligned. */
function encodeHeader(specs: TensorSpec[], byteLengths: number[], metadata: Record<string, string> | undefined): Uint8Array {
  // No prototype, so a tensor named "__proto__" becomes a key like any other.
  const header: Record<string, unknown> = Object.create(null);
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  specs.forEach(({ name, dtype, shape }, i) => {
    header[name] = { dtype, shape, data_offsets: [offset, offset + byteLengths[i]] };
    offset += byteLengths[i];
  });
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20);
  Buffer.from(out.buffer).writeBigUInt64LE(BigInt(padded), 0);
  out.set(json, 8);
  return out;
}
