import type { Figure } from '../figure.js';
import { sameTokenOverlap, type SameTokenOverlap } from '../same-token-overlap.js';
import { layersPerPass, TokenExpertCounter } from '../token-expert-counts.js';
import { expertTopTokens, tokenSpecialization, type ExpertToken, type TokenExpertShare, type TokenSpecialization } from '../token-specialization.js';

/** A token as the report shows it: its id and the prompt bytes it covers (undefined where the trace has no token text). */
export interface TokenLabel {
  id: number;
  bytes?: Uint8Array;
}

/** The per-token-id figures of one layer shown in detail. */
export interface TokenDetail {
  layer: number;
  /** Per expert, the tokens it receives most. */
  topTokens?: Array<Array<ExpertToken & { token: TokenLabel }>>;
  mostSpecialized?: Array<TokenExpertShare & { token: TokenLabel }>;
}

export interface TokenTables {
  /** Per layer; undefined where no token id occurs twice. */
  overlap: Array<SameTokenOverlap | undefined>;
  specialization: Array<TokenSpecialization | undefined>;
  /** The layers shown in detail. */
  details: TokenDetail[];
}

/**
 * Same-token overlap, token specialization and each expert's top tokens, all read off one per-token-id
 * table per layer. The tables of all layers may not fit in memory, so the layers go in batches, one pass
 * over the trace each.
 */
export const tokenTablesFigure: Figure<'tokenTables', TokenTables> = {
  name: 'tokenTables',
  start: ({ trace, layers, rows, special, detail, L, K, E, T, tableBudgetBytes, note }, known) => {
    const perPass = layersPerPass(rows, E, tableBudgetBytes);
    const batches: number[][] = [];
    for (let l = 0; l < L; l += perPass) batches.push(Array.from({ length: Math.min(L, l + perPass) - l }, (_, i) => l + i));
    const overlap = new Array<SameTokenOverlap | undefined>(L);
    const specialization = new Array<TokenSpecialization | undefined>(L);
    const details: TokenDetail[] = detail.map((l) => ({ layer: layers[l] }));
    const tokenLabel = (row: number): TokenLabel => ({ id: rows.ids[row], bytes: trace.hasText ? trace.tokenBytes(rows.firstToken[row]) : undefined });
    let counter: TokenExpertCounter | undefined;
    return {
      passes: batches.length,
      accumulator: (pass) => (counter = new TokenExpertCounter(rows, trace.tokenIds, special, L, K, E, batches[pass])),
      endPass: (pass) => {
        batches[pass].forEach((l, c) => {
          const counts = counter!.counts[c];
          overlap[l] = sameTokenOverlap(counts, rows, E, K);
          specialization[l] = tokenSpecialization(counts, rows, E);
          const d = detail.indexOf(l);
          if (d >= 0) {
            details[d].topTokens = expertTopTokens(counts, rows, known.load[l], T).map((list) => list.map((entry) => ({ ...entry, token: tokenLabel(entry.row) })));
            details[d].mostSpecialized = specialization[l]?.mostSpecialized.map((entry) => ({ ...entry, token: tokenLabel(entry.row) }));
          }
        });
        counter = undefined;
      },
      finish: () => {
        if (overlap.every((o) => o === undefined)) note('no token id occurs twice, so there is no same-token overlap');
        return { overlap, specialization, details };
      },
    };
  },
  summary: (result, l) => ({ same_token_overlap: result.overlap[l]?.overlap }),
};
