import type { RoutingAccumulator, RoutingBlock } from './routing-stream.js';

/**
 * Co-activation (OLMoE's definition, analyses.md): C[i][j] = tokens with both i and j chosen / load_i,
 * the share of expert i's tokens that also go to j; and lift[i][j] = C[i][j] / (load_j / T), which is 1
 * when i and j are chosen independently, above 1 for pairs that fire together.
 */
export interface Coactivation {
  /** [E][E] tokens with both i and j; the diagonal is load_i. */
  both: number[][];
  /** [E][E] C[i][j]; NaN in rows of experts with no load. */
  share: number[][];
  /** [E][E] lift; NaN where i or j has no load. */
  lift: number[][];
}

export function coactivation(both: ArrayLike<number>, experts: number, tokens: number): Coactivation {
  const cell = (i: number, j: number) => both[i * experts + j];
  const rows = Array.from({ length: experts }, (_, i) => i);
  return {
    both: rows.map((i) => rows.map((j) => cell(i, j))),
    share: rows.map((i) => rows.map((j) => (cell(i, i) > 0 ? cell(i, j) / cell(i, i) : NaN))),
    lift: rows.map((i) => rows.map((j) => (cell(i, i) > 0 && cell(j, j) > 0 ? (cell(i, j) * tokens) / (cell(i, i) * cell(j, j)) : NaN))),
  };
}

/** Counts the pairs chosen together at some layers: `both[c]` is [E, E] for countedLayers[c]. */
export class CoactivationCounter implements RoutingAccumulator {
  readonly both: Float64Array[];

  constructor(
    readonly layers: number,
    readonly k: number,
    readonly experts: number,
    /** Indices 0..L-1 of the layers to count. */
    readonly countedLayers: number[],
  ) {
    this.both = countedLayers.map(() => new Float64Array(experts * experts));
  }

  add({ tokens, ids }: RoutingBlock): void {
    const { layers, k, experts, countedLayers, both } = this;
    for (let t = 0; t < tokens; t++) {
      for (let c = 0; c < countedLayers.length; c++) {
        const table = both[c];
        const base = (t * layers + countedLayers[c]) * k;
        for (let a = 0; a < k; a++) {
          const i = ids[base + a];
          for (let b = 0; b < k; b++) table[i * experts + ids[base + b]] += 1;
        }
      }
    }
  }
}
