/**
 * Weights diff of two checkpoints with the same architecture (analyses.md, "Comparing two checkpoints"):
 * for every routed expert of every MoE layer, the relative Frobenius change ||W_B - W_A||_F / ||W_A||_F over
 * its gate, up and down matrices together (and of each matrix alone), and for its router row the relative
 * change and the cosine similarity; for each layer's whole router matrix the relative change.
 *
 * Both checkpoints are streamed one tensor at a time into two reused float32 buffers, so memory holds two
 * matrices whatever the checkpoint size. Every dtype is compared as its dequantised float32 values (BF16 and
 * F8 convert exactly; F8 with block scales is dequantised by the loader), and sums of squares are taken in
 * float64, so a change of one part in 10^7 is still seen in a matrix of 10^8 values.
 */
import type { Checkpoint } from '../loaders/checkpoint.js';
import type { TensorNames } from '../models/tensor-names.js';

export interface ExpertWeightChange {
  layer: number;
  expert: number;
  /** ||B - A||_F / ||A||_F over gate, up and down together (contract.md `rel_change`). */
  relChange: number;
  /** The same ratio for each matrix alone. */
  matrixRelChange: { gate: number; up: number; down: number };
  /** ||b - a|| / ||a|| of the expert's router row. */
  routerRowRelChange: number;
  /** cos(a, b) of the expert's router rows (contract.md `router_cosine`). */
  routerCosine: number;
}

export interface LayerWeightChange {
  layer: number;
  /** Mean of relChange over the layer's routed experts. */
  meanRelChange: number;
  /** ||B - A||_F / ||A||_F of the whole router matrix [E, H]. */
  routerRelChange: number;
  /** By expert index. */
  experts: ExpertWeightChange[];
}

export interface WeightsDiff {
  layers: LayerWeightChange[];
  /** Every expert of every layer, most changed first (ties: lower layer, then lower expert first). */
  ranked: ExpertWeightChange[];
}

/** Sums of squares of A and of B - A over any number of value pairs, in float64. */
export class ChangeNorm {
  private sumSquaresA = 0;
  private sumSquaresDiff = 0;

  add(a: ArrayLike<number>, b: ArrayLike<number>): this {
    if (a.length !== b.length) throw new RangeError(`cannot compare ${a.length} values with ${b.length}`);
    let squaresA = 0;
    let squaresDiff = 0;
    for (let i = 0; i < a.length; i++) {
      const d = b[i] - a[i];
      squaresA += a[i] * a[i];
      squaresDiff += d * d;
    }
    this.sumSquaresA += squaresA;
    this.sumSquaresDiff += squaresDiff;
    return this;
  }

  /** Adds another norm's sums: the result is the norm over both sets of values. */
  include(other: ChangeNorm): this {
    this.sumSquaresA += other.sumSquaresA;
    this.sumSquaresDiff += other.sumSquaresDiff;
    return this;
  }

  /** ||B - A|| / ||A||: 0 when nothing changed (even if A is all zeros), Infinity when an all-zero A changed. */
  relChange(): number {
    if (this.sumSquaresDiff === 0) return 0;
    return this.sumSquaresA === 0 ? Infinity : Math.sqrt(this.sumSquaresDiff / this.sumSquaresA);
  }
}

/** cos(a, b); 1 for two equal vectors (all-zero included), 0 when only one of them is all zeros. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`cannot compare ${a.length} values with ${b.length}`);
  let dot = 0;
  let squaresA = 0;
  let squaresB = 0;
  let equal = true;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    squaresA += a[i] * a[i];
    squaresB += b[i] * b[i];
    equal &&= a[i] === b[i];
  }
  if (equal) return 1;
  if (squaresA === 0 || squaresB === 0) return 0;
  // Rounding can push |cos| a hair past 1 for nearly parallel rows.
  return Math.max(-1, Math.min(1, dot / Math.sqrt(squaresA * squaresB)));
}

export interface WeightsDiffOptions {
  /** Called after each expert with (experts done, experts in all). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Streams the routers and routed experts of `layers` from both checkpoints. The caller has checked that the
 * two have the same tensor names and shapes, routers [E, H] included (src/diff.ts), so a tensor is read the
 * same way from both.
 */
export function diffWeights(a: Checkpoint, b: Checkpoint, names: TensorNames, layers: number[], nExperts: number, options: WeightsDiffOptions = {}): WeightsDiff {
  const buffers = new PairBuffers(a, b);
  const total = layers.length * nExperts;
  const result: LayerWeightChange[] = [];
  for (const [i, layer] of layers.entries()) {
    const layerNames = names.layer(layer);

    // Router [E, H]: row e belongs to expert e.
    const [routerA, routerB] = buffers.read(layerNames.router);
    const cols = a.info(layerNames.router).shape[1];
    const routerRelChange = new ChangeNorm().add(routerA, routerB).relChange();
    const rows = Array.from({ length: nExperts }, (_, e) => {
      const rowA = routerA.subarray(e * cols, (e + 1) * cols);
      const rowB = routerB.subarray(e * cols, (e + 1) * cols);
      return { relChange: new ChangeNorm().add(rowA, rowB).relChange(), cosine: cosineSimilarity(rowA, rowB) };
    });

    const experts: ExpertWeightChange[] = [];
    for (let e = 0; e < nExperts; e++) {
      const all = new ChangeNorm();
      const matrix = (name: string) => {
        const norm = new ChangeNorm().add(...buffers.read(name));
        all.include(norm);
        return norm.relChange();
      };
      const matrixRelChange = { gate: matrix(layerNames.expertGate(e)), up: matrix(layerNames.expertUp(e)), down: matrix(layerNames.expertDown(e)) };
      experts.push({ layer, expert: e, relChange: all.relChange(), matrixRelChange, routerRowRelChange: rows[e].relChange, routerCosine: rows[e].cosine });
      options.onProgress?.(i * nExperts + e + 1, total);
    }
    const meanRelChange = experts.reduce((sum, x) => sum + x.relChange, 0) / nExperts;
    result.push({ layer, meanRelChange, routerRelChange, experts });
  }
  return { layers: result, ranked: rankExperts(result) };
}

/** Most changed first; ties keep model order (lower layer, then lower expert). */
export function rankExperts(layers: LayerWeightChange[]): ExpertWeightChange[] {
  return layers
    .flatMap((l) => l.experts)
    .sort((x, y) => y.relChange - x.relChange || x.layer - y.layer || x.expert - y.expert);
}

/** One float32 buffer per checkpoint, grown to the largest tensor read so far and reused for every read. */
class PairBuffers {
  private bufferA = new Float32Array(0);
  private bufferB = new Float32Array(0);

  constructor(
    private readonly a: Checkpoint,
    private readonly b: Checkpoint,
  ) {}

  /** Tensor `name` from both checkpoints; the views are valid until the next read. */
  read(name: string): [Float32Array, Float32Array] {
    const count = this.a.info(name).shape.reduce((x, y) => x * y, 1);
    if (this.bufferA.length < count) {
      this.bufferA = new Float32Array(count);
      this.bufferB = new Float32Array(count);
    }
    return [this.a.readFloat32(name, this.bufferA.subarray(0, count)), this.b.readFloat32(name, this.bufferB.subarray(0, count))];
  }
}
