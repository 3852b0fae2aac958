/**
 * bf16 weights into fp32 graph buffers (issue 13): the WebAssembly widener against the definition of bf16 (the
 * top 16 bits of a float32) for every one of the 65,536 bit patterns, and a conversion job whose pieces start and
 * end inside rows, written at a row stride, against values placed one by one. route-parity.test.ts holds whole
 * layers converted this way to the float64 reference. Two threads sharing one buffer through the staging ring
 * fill it as one thread does, and a failed read on either thread is reported without hanging the other.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Bf16Widener } from '../src/runtime/bf16-widener.js';
import { ParallelConversion } from '../src/runtime/parallel-conversion.js';
import { JobRunner, type ConversionJob } from '../src/runtime/weight-conversion.js';

/** The float32 bit pattern of bf16 `bits`: its 16 bits followed by 16 zero bits (NaN payloads kept, as stored). */
function bf16Bits(bits: number): number {
  return (bits << 16) >>> 0;
}

describe('bf16 to fp32', () => {
  it('widens every bf16 bit pattern to the float32 it is the top half of', () => {
    const widener = new Bf16Widener();
    assert.equal(Bf16Widener.pieceValues, 65536);
    const input = new Uint16Array(widener.input.buffer, widener.input.byteOffset, 65536);
    input.forEach((_, i) => (input[i] = i));
    const out = widener.widen(65536);
    const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
    for (let b = 0; b < 65536; b++) {
      if (bits[b] !== bf16Bits(b)) assert.fail(`bf16 0x${b.toString(16)}: got bits 0x${bits[b].toString(16)}`);
    }
    assert.deepEqual([0x3f80, 0xc000, 0x7f80, 0x0001].map((b) => out[b]), [1, -2, Infinity, 2 ** -133]);
  });

  it('widens a count that is not a multiple of its 8-value step, leaving the rest of the piece as it was', () => {
    const widener = new Bf16Widener();
    const input = new Uint16Array(widener.input.buffer, widener.input.byteOffset, 16);
    input.set([0x3f80, 0x4000, 0x4040, 0x4080, 0x40a0]);
    assert.deepEqual(Array.from(widener.widen(5)), [1, 2, 3, 4, 5]);
    assert.deepEqual(Array.from(widener.widen(3)), [1, 2, 3]);
  });

  it('converts a stored tensor in pieces that cut rows, into its rows of a target at a stride', () => {
    // 97 rows of 1001 values: 97,097 values, so two pieces of at most 65,536 values, the first ending mid-row.
    const [rows, columns, offset, rowStride, start] = [97, 1001, 7, 1010, 13];
    const stored = new Uint16Array(rows * columns);
    stored.forEach((_, i) => (stored[i] = (i * 40503 + 12345) & 0xffff));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moe-inspect-conversion-'));
    const file = path.join(dir, 'weights.bin');
    fs.writeFileSync(file, Buffer.concat([Buffer.alloc(start, 0xaa), Buffer.from(stored.buffer)]));
    const target = new Float32Array(offset + rows * rowStride + 5).fill(-7);
    const runner = new JobRunner();
    try {
      runner.run({ target: 'w', tensor: { file, start, byteLength: stored.byteLength, dtype: 'BF16', shape: [rows, columns] }, offset, rowStride }, target);
    } finally {
      runner.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const expected = new Uint32Array(new Float32Array(target.length).fill(-7).buffer);
    for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) expected[offset + r * rowStride + c] = bf16Bits(stored[r * columns + c]);
    assert.deepEqual(new Uint32Array(target.buffer), expected);
  });

  it('fills a buffer holding most of the work from both threads, as one thread does', async () => {
    // "big" (6 jobs of 97,097 values at a stride, 82% of the work) is shared; "small" goes to the worker.
    const { dir, jobs, expected } = storedJobs([['big', 6], ['small', 1]]);
    for (const threads of [1, 2]) {
      const buffers = new Map(Object.entries(expected).map(([name, bits]) => [name, new Float32Array(bits.length).fill(-7)]));
      const conversion = new ParallelConversion(threads);
      try {
        await conversion.convert(buffers, jobs);
        await conversion.convert(buffers, jobs); // the ring and the worker are reused
      } finally {
        await conversion.close();
      }
      for (const [name, bits] of Object.entries(expected)) assert.deepEqual(new Uint32Array(buffers.get(name)!.buffer), bits, `${name}, ${threads} threads`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reports a tensor that ends early, on either thread, without hanging the other', async () => {
    const { file, dir, jobs } = storedJobs([['big', 6], ['small', 1]]);
    // The job of "small" (the worker's own) or one of "big" (claimed by either thread) reads past the file's end.
    for (const broken of [jobs.length - 1, 2]) {
      const bad = jobs.map((job, i) => (i === broken ? { ...job, tensor: { ...job.tensor, start: fs.statSync(file).size - 10 } } : job));
      const buffers = new Map([['big', new Float32Array(6 * rowStride * rows)], ['small', new Float32Array(rowStride * rows)]]);
      const conversion = new ParallelConversion(2);
      try {
        await assert.rejects(conversion.convert(buffers, bad), /file ended at byte/);
      } finally {
        await conversion.close();
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

const [rows, columns, rowStride] = [97, 1001, 1010];

/**
 * One file of bf16 tensors of `rows` x `columns`, one job per tensor into its own rows of targets named in
 * `targets` (name, jobs), and the fp32 bits each target must hold (-7 where no job writes).
 */
function storedJobs(targets: Array<[string, number]>): { file: string; dir: string; jobs: ConversionJob[]; expected: Record<string, Uint32Array> } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moe-inspect-conversion-'));
  const file = path.join(dir, 'weights.bin');
  const count = targets.reduce((sum, [, n]) => sum + n, 0);
  const stored = new Uint16Array(count * rows * columns);
  stored.forEach((_, i) => (stored[i] = (i * 40503 + 12345) & 0xffff));
  fs.writeFileSync(file, Buffer.from(stored.buffer));
  const jobs: ConversionJob[] = [];
  const expected: Record<string, Uint32Array> = {};
  let tensor = 0;
  for (const [name, n] of targets) {
    const bits = new Uint32Array(new Float32Array(n * rows * rowStride).fill(-7).buffer);
    for (let j = 0; j < n; j++, tensor++) {
      const first = tensor * rows * columns;
      jobs.push({ target: name, tensor: { file, start: 2 * first, byteLength: 2 * rows * columns, dtype: 'BF16', shape: [rows, columns] }, offset: j * rows * rowStride, rowStride });
      for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) bits[j * rows * rowStride + r * rowStride + c] = bf16Bits(stored[first + r * columns + c]);
    }
    expected[name] = bits;
  }
  return { file, dir, jobs, expected };
}
