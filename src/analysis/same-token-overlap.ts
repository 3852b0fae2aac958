import { kappa } from './overlap.js';
import type { TokenRows } from './token-expert-counts.js';

/**
 * Same-token overlap (analyses.md): for each token id that occurs at least twice, the mean overlap over
 * pairs of its occurrences, averaged over ids weighted by their pair count. That weighted mean is
 * (sum over ids of sum_e C(n_e, 2)) / K / (sum over ids of C(n, 2)), with n the id's occurrences and n_e
 * those routed to expert e, so it is read off the per-id counts without enumerating pairs.
 * High where routing follows the token's identity (early layers), lower where it follows context.
 */
export interface SameTokenOverlap {
  overlap: number;
  /** Chance-corrected: 0 = random routing, 1 = every occurrence of an id goes to the same experts. */
  kappa: number;
  /** Pairs of occurrences compared. */
  pairs: number;
  /** Token ids that occur at least twice. */
  ids: number;
}

/** `counts`: one layer's [rows, E] table from TokenExpertCounter. Undefined when no id repeats. */
export function sameTokenOverlap(counts: Uint32Array, rows: TokenRows, experts: number, k: number): SameTokenOverlap | undefined {
  let pairs = 0;
  let shared = 0;
  for (let row = 0; row < rows.ids.length; row++) {
    const n = rows.occurrences[row];
    pairs += (n * (n - 1)) / 2;
    for (let e = row * experts; e < (row + 1) * experts; e++) shared += (counts[e] * (counts[e] - 1)) / 2;
  }
  if (pairs === 0) return undefined;
  const value = shared / k / pairs;
  return { overlap: value, kappa: kappa(value, k, experts), pairs, ids: rows.ids.length };
}
