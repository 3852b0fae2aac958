import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { InputError } from '../src/errors.js';
import { DType, dtypeBytes } from '../src/loaders/dtypes.js';
import { SafetensorsFile } from '../src/loaders/safetensors.js';
import { writeSafetensors } from '../src/loaders/safetensors-writer.js';
import { safetensorsBytes, seededRandom, tempDir } from './helpers/safetensors-bytes.js';

/**
 * Property: whatever a file's bytes are, SafetensorsFile.open either rejects them with an InputError (never
 * another error type, and quickly) or hands out tensors whose bytes are exactly the file's bytes at the
 * offsets the header promised, with sizes that agree with shape x dtype and tile the data section.
 */

const dir = tempDir('safetensors-fuzz');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const mutationsPerSeedFile = 800;

function validFiles(): Uint8Array[] {
  const random = seededRandom(11);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
  const specs: Array<Array<{ name: string; dtype: DType; shape: number[] }>> = [
    [{ name: 'w', dtype: 'F32', shape: [3, 4] }, { name: 'b', dtype: 'BF16', shape: [5] }, { name: 'empty', dtype: 'I64', shape: [0] }],
    [{ name: 'q', dtype: 'F8_E4M3', shape: [4, 6] }, { name: 'q_scale_inv', dtype: 'F32', shape: [1, 1] }, { name: 'ids', dtype: 'I32', shape: [7] }],
    [],
    [{ name: 'x', dtype: 'U8', shape: [33] }],
  ];
  return specs.map((tensors, i) => {
    const file = path.join(dir, `seed-${i}.safetensors`);
    const metadata = i % 2 === 0 ? { format: 'pt', index: String(i) } : undefined;
    writeSafetensors(file, tensors.map((spec) => ({ ...spec, data: bytes(spec.shape.reduce((a, b) => a * b, 1) * dtypeBytes[spec.dtype]) })), metadata);
    return new Uint8Array(fs.readFileSync(file));
  });
}

type Mutation = (bytes: Uint8Array, random: () => number) => Uint8Array;

const pick = <T>(items: T[], random: () => number): T => items[Math.floor(random() * items.length)];
const headerLengthOf = (bytes: Uint8Array) => Number(Buffer.from(bytes.buffer, bytes.byteOffset, 8).readBigUInt64LE(0));

/** Each mutation returns a new buffer. */
const mutations: Record<string, Mutation> = {
  flipBytes(bytes, random) {
    const out = bytes.slice();
    const flips = 1 + Math.floor(random() * 4);
    // Mostly within the length and header, where a flip changes meaning; sometimes in the data.
    const region = random() < 0.8 ? Math.min(out.length, 8 + headerLengthOf(bytes)) : out.length;
    for (let i = 0; i < flips; i++) out[Math.floor(random() * region)] ^= 1 + Math.floor(random() * 255);
    return out;
  },
  truncate(bytes, random) {
    return bytes.slice(0, Math.floor(random() * bytes.length));
  },
  appendJunk(bytes, random) {
    const out = new Uint8Array(bytes.length + 1 + Math.floor(random() * 16));
    out.set(bytes);
    return out;
  },
  editLength(bytes, random) {
    const out = bytes.slice();
    const n = BigInt(headerLengthOf(bytes));
    const candidates = [0n, 1n, 7n, n - 1n, n + 1n, n + 8n, n - 8n, BigInt(out.length), 2n ** 64n - 1n, 2n ** 63n, BigInt(Math.floor(random() * 2 ** 32))];
    const value = pick(candidates, random);
    Buffer.from(out.buffer).writeBigUInt64LE(value < 0n ? 0n : value, 0);
    return out;
  },
  editHeader(bytes, random) {
    const n = headerLengthOf(bytes);
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8')) as Record<string, any>;
    const names = Object.keys(header).filter((key) => key !== '__metadata__');
    const junk = () => pick<unknown>([-1, 0, 1, 2, 3, 4, 12, 1e20, 2 ** 53, 1.5, 'x', null, [], {}, [1, 2], true], random);
    const edit = Math.floor(random() * 8);
    const name = names.length > 0 ? pick(names, random) : undefined;
    if (edit === 0 || name === undefined) header.__metadata__ = pick<unknown>([{ a: 1 }, { a: 'b' }, 'x', null, [], {}], random);
    else if (edit === 1) header[name].dtype = pick([...Object.keys(dtypeBytes), 'F4', 'bf16', 7], random);
    else if (edit === 2) header[name].shape = random() < 0.5 ? junk() : [junk(), junk()];
    else if (edit === 3) header[name].data_offsets[Math.floor(random() * 2)] = junk();
    else if (edit === 4) header[name].data_offsets = junk();
    else if (edit === 5) delete header[name][pick(['dtype', 'shape', 'data_offsets'], random)];
    else if (edit === 6) header[name] = junk();
    else {
      const other = pick(names, random);
      header[name].data_offsets = header[other].data_offsets;
    }
    const text = Buffer.from(JSON.stringify(header), 'utf8');
    return safetensorsBytes(text.toString('utf8'), bytes.subarray(8 + n));
  },
  spliceHeader(bytes, random) {
    // Insert or delete a few bytes inside the header without fixing the length.
    const n = headerLengthOf(bytes);
    const at = 8 + Math.floor(random() * Math.max(1, n));
    const out = random() < 0.5
      ? Uint8Array.from([...bytes.subarray(0, at), ...Array.from({ length: 1 + Math.floor(random() * 4) }, () => Math.floor(random() * 128)), ...bytes.subarray(at)])
      : Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(Math.min(bytes.length, at + 1 + Math.floor(random() * 4)))]);
    return out;
  },
};

test('SafetensorsFile.open on randomly mutated files: InputError or exact bytes, never a hang or another error', () => {
  const seeds = validFiles();
  const random = seededRandom(12345);
  const file = path.join(dir, 'mutated.safetensors');
  const outcomes: Record<string, number> = { accepted: 0 };
  let slowest = 0;
  for (const seed of seeds) {
    for (let i = 0; i < mutationsPerSeedFile; i++) {
      const kind = pick(Object.keys(mutations), random);
      let bytes = mutations[kind](seed, random);
      if (random() < 0.2) bytes = mutations[pick(Object.keys(mutations), random)](bytes.length >= 8 && headerParses(bytes) ? bytes : seed, random);
      fs.writeFileSync(file, bytes);
      const started = performance.now();
      let opened: SafetensorsFile | undefined;
      try {
        opened = SafetensorsFile.open(file);
      } catch (error) {
        if (!(error instanceof InputError)) throw new Error(`mutation ${kind} #${i}: expected InputError, got ${(error as Error)?.stack ?? error}`);
        outcomes[error.code] = (outcomes[error.code] ?? 0) + 1;
      }
      if (opened) {
        outcomes.accepted++;
        try {
          checkAccepted(opened, bytes, `mutation ${kind} #${i}`);
        } finally {
          opened.close();
        }
      }
      slowest = Math.max(slowest, performance.now() - started);
    }
  }
  assert.ok(slowest < 500, `slowest open took ${slowest} ms`);
  // The mutations must reach deep checks, not only the first ones, or the test proves little.
  for (const code of ['header-not-json', 'invalid-header-length', 'invalid-dtype', 'invalid-shape', 'invalid-offset', 'tensor-size-mismatch', 'data-truncated', 'trailing-bytes', 'invalid-metadata']) {
    assert.ok((outcomes[code] ?? 0) > 0, `no mutation produced ${code}: ${JSON.stringify(outcomes)}`);
  }
  assert.ok(outcomes.accepted > 0, 'some mutations (e.g. data byte flips) keep the file valid');
});

function headerParses(bytes: Uint8Array): boolean {
  try {
    const n = headerLengthOf(bytes);
    JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8'));
    return 8 + n <= bytes.length;
  } catch {
    return false;
  }
}

function checkAccepted(opened: SafetensorsFile, bytes: Uint8Array, label: string): void {
  const dataStart = 8 + headerLengthOf(bytes);
  let expectedStart = dataStart;
  for (const info of opened.tensors.values()) {
    assert.ok(Object.hasOwn(dtypeBytes, info.dtype), label);
    assert.equal(info.byteLength, info.shape.reduce((a, b) => a * b, 1) * dtypeBytes[info.dtype], `${label}: ${info.name} size`);
    assert.equal(info.start, expectedStart, `${label}: ${info.name} contiguous`);
    expectedStart += info.byteLength;
    assert.deepEqual(opened.read(info.name), bytes.subarray(info.start, info.start + info.byteLength), `${label}: ${info.name} bytes`);
  }
  assert.equal(expectedStart, bytes.length, `${label}: data ends at end of file`);
}
