/**
 * Stored weights straight into the fp32 buffers the graphs read, described as plain-data jobs so that the main
 * thread and a worker thread (runtime/conversion-worker.ts) run the same code, each on its own share of a layer.
 * A job reads one stored tensor and converts it row by row into its target buffer at a row stride: that is how
 * the gate and up rows of every expert land interleaved in com.microsoft.MoE's fc1 input without a second copy.
 */
import fs from 'node:fs';
import { dtypeBytes, toFloat32, type DType } from '../loaders/dtypes.js';
import { readFully } from '../loaders/safetensors.js';
import { Bf16Widener } from './bf16-widener.js';

/** Where a tensor's bytes are: enough to read it from any thread. */
export interface StoredTensor {
  file: string;
  /** Absolute byte offset of the first byte. */
  start: number;
  byteLength: number;
  dtype: DType;
  shape: number[];
}

/** How one stored tensor becomes fp32 values of a target buffer. */
export interface ConversionJob {
  /** Name of the target buffer. */
  target: string;
  tensor: StoredTensor;
  /** FP8 block scales (scale_inv, multiplied), one per `block` of rows x columns. */
  scales?: { tensor: StoredTensor; block: [number, number] };
  /** Row r of the tensor goes to target[offset + r * rowStride, + columns). */
  offset: number;
  rowStride: number;
}

/** Values a job writes. */
export function jobValues(job: ConversionJob): number {
  return job.tensor.byteLength / dtypeBytes[job.tensor.dtype];
}

/** bf16 jobs are converted this many values at a time (Bf16Widener's piece). */
export const bf16PieceValues = Bf16Widener.pieceValues;

/** Jobs on the bf16 path: converted in pieces, which another thread can take a share of (runtime/staging-ring.ts). */
export function isBf16(job: ConversionJob): boolean {
  return job.tensor.dtype === 'BF16' && !job.scales;
}

/**
 * Puts values [start, start + values.length) of a job in their places in the target: the piece may start and
 * end inside rows, so it is copied row segment by row segment, each row at the job's stride.
 */
export function placeValues(job: ConversionJob, start: number, values: Float32Array, target: Float32Array): void {
  const rows = job.tensor.shape.length === 2 ? job.tensor.shape[0] : 1;
  const columns = jobValues(job) / rows;
  const end = start + values.length;
  for (let v = start; v < end; ) {
    const row = Math.floor(v / columns);
    const column = v - row * columns;
    const length = Math.min(columns - column, end - v);
    target.set(values.subarray(v - start, v - start + length), job.offset + row * job.rowStride + column);
    v += length;
  }
}

/** Runs jobs with its own descriptors and scratch, so each thread has one. */
export class JobRunner {
  private readonly descriptors = new Map<string, number>();
  private bytes = new Uint8Array(0);
  private scaleValues = new Float32Array(0);
  private widener: Bf16Widener | undefined;

  /** Converts `job` into `target`; bf16 jobs run in pieces, with `afterPiece` called between them. */
  run(job: ConversionJob, target: Float32Array, afterPiece?: () => void): void {
    const { tensor, offset, rowStride } = job;
    const n = jobValues(job);
    const rows = tensor.shape.length === 2 ? tensor.shape[0] : 1;
    const columns = n / rows;
    if (isBf16(job)) {
      this.bf16Pieces(job, target, afterPiece);
      return;
    }
    const bytes = this.read(tensor, 'bytes');
    if (rowStride === columns && !job.scales) {
      toFloat32(tensor.dtype, bytes, target.subarray(offset, offset + n));
      return;
    }
    const rowBytes = columns * dtypeBytes[tensor.dtype];
    for (let r = 0; r < rows; r++) {
      toFloat32(tensor.dtype, bytes.subarray(r * rowBytes, (r + 1) * rowBytes), target.subarray(offset + r * rowStride, offset + r * rowStride + columns));
    }
    if (job.scales) this.scale(job, target, rows, columns);
  }

  close(): void {
    for (const fd of this.descriptors.values()) fs.closeSync(fd);
    this.descriptors.clear();
  }

  /**
   * W[i, j] = fp8(q[i, j]) * scaleInv[floor(i / br), floor(j / bc)] (DeepSeek-V3 `weight_dequant`), rounded to
   * fp32 once, exactly as loaders/dtypes.ts dequantizeFp8Blocks does it.
   */
  private scale(job: ConversionJob, target: Float32Array, rows: number, columns: number): void {
    const { tensor, block } = job.scales!;
    const [blockRows, blockColumns] = block;
    const scaleColumns = Math.ceil(columns / blockColumns);
    const count = tensor.byteLength / dtypeBytes[tensor.dtype];
    if (this.scaleValues.length < count) this.scaleValues = new Float32Array(count);
    const scales = toFloat32(tensor.dtype, this.read(tensor, 'scales'), this.scaleValues.subarray(0, count));
    for (let r = 0; r < rows; r++) {
      const rowStart = job.offset + r * job.rowStride;
      const scaleRow = Math.floor(r / blockRows) * scaleColumns;
      for (let b = 0; b < scaleColumns; b++) {
        const s = scales[scaleRow + b];
        const end = rowStart + Math.min(columns, (b + 1) * blockColumns);
        for (let j = rowStart + b * blockColumns; j < end; j++) target[j] *= s;
      }
    }
  }

  /**
   * Values [start, start + count) of a bf16 job, widened: a view of the widener's memory, overwritten by the next
   * call. `count` is at most bf16PieceValues.
   */
  private bf16Piece(job: ConversionJob, start: number, count: number): Float32Array {
    const widener = (this.widener ??= new Bf16Widener());
    readFully(job.tensor.file, this.descriptor(job.tensor.file), widener.input.subarray(0, 2 * count), job.tensor.start + 2 * start);
    return widener.widen(count);
  }

  /**
   * The pieces of a bf16 job, on the hot path (GBs of bf16 weights): the tensor is read a piece at a time into the
   * widener's memory and widened there; `visit` gets each piece's first value index and its values (a view,
   * overwritten by the next piece).
   */
  forEachBf16Piece(job: ConversionJob, visit: (start: number, values: Float32Array) => void): void {
    const n = jobValues(job);
    for (let start = 0; start < n; start += bf16PieceValues) visit(start, this.bf16Piece(job, start, Math.min(bf16PieceValues, n - start)));
  }

  /** A bf16 job into its rows of the target, a piece at a time; `afterPiece` runs between pieces. */
  private bf16Pieces(job: ConversionJob, target: Float32Array, afterPiece?: () => void): void {
    this.forEachBf16Piece(job, (start, values) => {
      placeValues(job, start, values, target);
      afterPiece?.();
    });
  }

  /** The tensor's bytes in this runner's scratch; the scales get a scratch of their own. */
  private read(tensor: StoredTensor, into: 'bytes' | 'scales'): Uint8Array {
    const fd = this.descriptor(tensor.file);
    const buffer = into === 'bytes' ? this.bytes : new Uint8Array(tensor.byteLength);
    const out = buffer.length >= tensor.byteLength ? buffer.subarray(0, tensor.byteLength) : new Uint8Array(tensor.byteLength);
    if (into === 'bytes' && out.buffer !== this.bytes.buffer) this.bytes = out;
    readFully(tensor.file, fd, out, tensor.start);
    return out;
  }

  private descriptor(file: string): number {
    let fd = this.descriptors.get(file);
    if (fd === undefined) {
      fd = fs.openSync(file, 'r');
      this.descriptors.set(file, fd);
    }
    return fd;
  }
}
