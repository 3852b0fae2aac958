import type { TokenRows } from './token-expert-counts.js';

/**
 * Token specialization (OLMoE, analyses.md): for token ids with at least `minOccurrences` occurrences, the
 * share of their occurrences routed to the id's most frequent expert; and per expert, the tokens it
 * receives most, with their lift = P(token | routed to the expert) / P(token) (1 = no preference).
 * With top-K routing, "routed to e" means e is among the K chosen. Even random routing scores above K/E
 * on the top-expert share, since it takes the maximum of E noisy counts.
 */

export const tokenSpecializationDefaults = {
  minOccurrences: 10,
  /** Tokens listed per expert, and most specialized tokens listed per layer. */
  listed: 5,
};

export interface TokenExpertShare {
  /** Row in the TokenRows table (its id, occurrences and first occurrence are there). */
  row: number;
  id: number;
  occurrences: number;
  expert: number;
  /** Occurrences routed to `expert`. */
  count: number;
  /** count / occurrences. */
  share: number;
}

export interface TokenSpecialization {
  /** sum over qualifying ids of (occurrences to the top expert) / sum of their occurrences. */
  topExpertShare: number;
  /** Ids with at least minOccurrences occurrences. */
  ids: number;
  /** The ids with the highest top-expert share (ties: more occurrences first). */
  mostSpecialized: TokenExpertShare[];
}

export interface TokenSpecializationOptions {
  minOccurrences?: number;
  listed?: number;
}

/** `counts`: one layer's [rows, E] table from TokenExpertCounter. Undefined when no id qualifies. */
export function tokenSpecialization(counts: Uint32Array, rows: TokenRows, experts: number, options: TokenSpecializationOptions = {}): TokenSpecialization | undefined {
  const { minOccurrences = tokenSpecializationDefaults.minOccurrences, listed = tokenSpecializationDefaults.listed } = options;
  let ids = 0;
  let top = 0;
  let total = 0;
  const shares: TokenExpertShare[] = [];
  for (let row = 0; row < rows.ids.length; row++) {
    const occurrences = rows.occurrences[row];
    if (occurrences < minOccurrences) continue;
    let expert = 0;
    for (let e = 1; e < experts; e++) if (counts[row * experts + e] > counts[row * experts + expert]) expert = e;
    const count = counts[row * experts + expert];
    ids += 1;
    top += count;
    total += occurrences;
    shares.push({ row, id: rows.ids[row], occurrences, expert, count, share: count / occurrences });
  }
  if (ids === 0) return undefined;
  shares.sort((a, b) => b.share - a.share || b.occurrences - a.occurrences || a.id - b.id);
  return { topExpertShare: top / total, ids, mostSpecialized: shares.slice(0, listed) };
}

export interface ExpertToken {
  row: number;
  id: number;
  /** Occurrences of the token routed to the expert. */
  count: number;
  /** count / occurrences of the token: how faithfully the token comes here. */
  share: number;
  /** (count / load of the expert) / (occurrences of the token / T). */
  lift: number;
}

/**
 * Per expert, the `listed` qualifying tokens with the highest lift (ties: more occurrences routed there first). `load` is the
 * layer's load per expert and `tokens` the trace's T, both over all tokens.
 */
export function expertTopTokens(counts: Uint32Array, rows: TokenRows, load: ArrayLike<number>, tokens: number, options: TokenSpecializationOptions = {}): ExpertToken[][] {
  const { minOccurrences = tokenSpecializationDefaults.minOccurrences, listed = tokenSpecializationDefaults.listed } = options;
  const experts = load.length;
  const qualifying: number[] = [];
  for (let row = 0; row < rows.ids.length; row++) if (rows.occurrences[row] >= minOccurrences) qualifying.push(row);
  return Array.from({ length: experts }, (_, e) => {
    const received: ExpertToken[] = [];
    for (const row of qualifying) {
      const count = counts[row * experts + e];
      const occurrences = rows.occurrences[row];
      if (count > 0) received.push({ row, id: rows.ids[row], count, share: count / occurrences, lift: count / load[e] / (occurrences / tokens) });
    }
    received.sort((a, b) => b.lift - a.lift || b.count - a.count || a.id - b.id);
    return received.slice(0, listed);
  });
}
