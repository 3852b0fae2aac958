import type { RoutingAccumulator, RoutingBlock } from './routing-stream.js';

/**
 * Per token id and expert: how many of the id's occurrences were routed to the expert, for some layers.
 * Same-token overlap and token specialization are both read off this table, so neither enumerates pairs
 * of occurrences: with n_e = occurrences of an id routed to e, sum over pairs |S_a ∩ S_b| = sum_e C(n_e, 2).
 *
 * Only ids that occur at least twice get a row (a single occurrence has no pair and no specialization),
 * and special tokens (BOS and other added tokens, whose text span is empty) are left out. The table is
 * rows x E counts per layer; `layersPerPass` says how many layers fit a memory budget, and the caller
 * streams the trace once per group of layers.
 */

/** The ids that get a row, with what the analyses need to know about each. */
export interface TokenRows {
  /** Row of each token id, -1 where none. */
  rowOf: Int32Array;
  /** Token id of each row. */
  ids: Int32Array;
  /** Occurrences of each row's id, special occurrences left out. */
  occurrences: Float64Array;
  /** Index of the id's first occurrence, to show its text. */
  firstToken: Float64Array;
}

/**
 * Rows for ids with at least two occurrences that are not special (`special[t]` = 1). A negative id is an
 * unknown token (`import` writes -1 where the serving engine did not return ids): it gets no row.
 */
export function tokenRows(tokenIds: Int32Array, special?: Uint8Array): TokenRows {
  let maxId = -1;
  for (const id of tokenIds) if (id > maxId) maxId = id;
  const count = new Float64Array(maxId + 1);
  tokenIds.forEach((id, t) => {
    if (id >= 0 && !special?.[t]) count[id] += 1;
  });
  const rowOf = new Int32Array(maxId + 1).fill(-1);
  const ids: number[] = [];
  count.forEach((n, id) => {
    if (n >= 2) rowOf[id] = ids.push(id) - 1;
  });
  const occurrences = Float64Array.from(ids, (id) => count[id]);
  const firstToken = new Float64Array(ids.length).fill(-1);
  tokenIds.forEach((id, t) => {
    const row = id >= 0 ? rowOf[id] : -1;
    if (row >= 0 && firstToken[row] < 0 && !special?.[t]) firstToken[row] = t;
  });
  return { rowOf, ids: Int32Array.from(ids), occurrences, firstToken };
}

export const tableDefaults = {
  /** Memory for the tables of one pass: 1M tokens x 64 experts of 27 layers fits in one or two passes. */
  budgetBytes: 256 * 2 ** 20,
};

/** How many layers' tables fit in `budgetBytes` (at least one). */
export function layersPerPass(rows: TokenRows, experts: number, budgetBytes: number = tableDefaults.budgetBytes): number {
  const perLayer = Math.max(1, rows.ids.length * experts * 4);
  return Math.max(1, Math.floor(budgetBytes / perLayer));
}

export class TokenExpertCounter implements RoutingAccumulator {
  /** Per counted layer (in the order of `countedLayers`): [rows, E] counts. */
  readonly counts: Uint32Array[];

  constructor(
    readonly rows: TokenRows,
    readonly tokenIds: Int32Array,
    readonly special: Uint8Array | undefined,
    /** L and K of the routing blocks. */
    readonly layers: number,
    readonly k: number,
    readonly experts: number,
    /** Indices 0..L-1 of the layers to count. */
    readonly countedLayers: number[],
  ) {
    this.counts = countedLayers.map(() => new Uint32Array(rows.ids.length * experts));
  }

  add({ start, tokens, ids }: RoutingBlock): void {
    const { rows, tokenIds, special, layers, k, experts, countedLayers, counts } = this;
    for (let t = 0; t < tokens; t++) {
      if (special?.[start + t]) continue;
      const id = tokenIds[start + t];
      const row = id >= 0 ? rows.rowOf[id] : -1;
      if (row < 0) continue;
      for (let c = 0; c < countedLayers.length; c++) {
        const table = counts[c];
        const base = (t * layers + countedLayers[c]) * k;
        for (let j = 0; j < k; j++) table[row * experts + ids[base + j]] += 1;
      }
    }
  }
}
