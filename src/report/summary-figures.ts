/**
 * SUMMARY.json's figure keys beside per_layer (contract.md, "Extensions"), each under its own name so a reader
 * can ignore what it does not know, each present only where some input has the figure. Matrices hold null
 * where the figure is undefined (an expert without load); tokens are TokenJson.
 */
import type { InputAnalysis } from '../analysis/analyse.js';
import type { SmallSampleFlag } from '../analysis/small-sample.js';
import type { TokenLabel } from '../analysis/figures/token-tables.js';
import { tokenJson } from '../page/token-display.js';

/** A token in JSON: its id, and its text (with bytes_hex where its bytes are not UTF-8 alone) where the trace has text. */
export type TokenJson = { id: number } & Partial<ReturnType<typeof tokenJson>>;

export interface FigureSummaries {
  unbiased?: {
    per_layer: Array<{ trace: string; layer: number; changed_share: number; maxvio: number; maxvio_unbiased: number; balancedness: number | null; balancedness_unbiased: number | null }>;
  };
  /** For the layers shown in detail (it is E x E per layer). */
  coactivation?: { per_layer: Array<{ trace: string; layer: number; lift: Array<Array<number | null>> }> };
  token_specialization?: {
    min_occurrences: number;
    per_layer: Array<{ trace: string; layer: number; top_expert_share: number; ids: number; most_specialized?: Array<{ token: TokenJson; occurrences: number; expert: number; count: number; share: number }>; top_tokens?: Array<Array<{ token: TokenJson; count: number; share: number; lift: number }>> }>;
  };
  domain_specialization?: {
    per_layer: Array<{ trace: string; layer: number; labels: string[]; mi_bits: number; mi_shuffled_bits: number; label_entropy_bits: number; lift: Array<Array<number | null>> }>;
  };
  nodes_per_token?: { per_layer: Array<{ trace: string; layer: number; mean: number; histogram: number[] }> };
  small_sample?: Array<{ trace: string } & SmallSampleFlag>;
}

export function figureSummaries(analyses: InputAnalysis[], minOccurrences: number): FigureSummaries {
  const summaries: FigureSummaries = {};
  const finite = (value: number) => (Number.isFinite(value) ? value : null);
  const matrix = (rows: number[][]) => rows.map((row) => row.map(finite));
  const token = (label: TokenLabel): TokenJson => ({ id: label.id, ...(label.bytes ? tokenJson(label.bytes) : {}) });

  const unbiased = analyses.flatMap((a) =>
    (a.figures.unbiased ?? []).map((u) => ({
      trace: a.name,
      layer: u.layer,
      changed_share: u.changedShare,
      maxvio: u.maxvio,
      maxvio_unbiased: u.maxvioUnbiased,
      balancedness: finite(u.balancedness),
      balancedness_unbiased: finite(u.balancednessUnbiased),
    })),
  );
  if (unbiased.length > 0) summaries.unbiased = { per_layer: unbiased };

  const coactivation = analyses.flatMap((a) => (a.figures.coactivation ?? []).map(({ layer, coactivation: c }) => ({ trace: a.name, layer, lift: matrix(c.lift) })));
  if (coactivation.length > 0) summaries.coactivation = { per_layer: coactivation };

  const specialization = analyses.flatMap((a) => {
    const tables = a.figures.tokenTables;
    if (!tables) return [];
    return tables.specialization.flatMap((s, l) => {
      if (!s) return [];
      const detail = tables.details.find((d) => d.layer === a.layers[l]);
      return [
        {
          trace: a.name,
          layer: a.layers[l],
          top_expert_share: s.topExpertShare,
          ids: s.ids,
          ...(detail?.mostSpecialized ? { most_specialized: detail.mostSpecialized.map((m) => ({ token: token(m.token), occurrences: m.occurrences, expert: m.expert, count: m.count, share: m.share })) } : {}),
          ...(detail?.topTokens ? { top_tokens: detail.topTokens.map((list) => list.map((t) => ({ token: token(t.token), count: t.count, share: t.share, lift: t.lift }))) } : {}),
        },
      ];
    });
  });
  if (specialization.length > 0) summaries.token_specialization = { min_occurrences: minOccurrences, per_layer: specialization };

  const domain = analyses.flatMap((a) => {
    const figure = a.figures.domain;
    if (!figure) return [];
    return figure.perLayer.flatMap((d, l) =>
      d
        ? [{ trace: a.name, layer: a.layers[l], labels: figure.labels, mi_bits: d.mutualInformation, mi_shuffled_bits: figure.shuffledMutualInformation[l]!, label_entropy_bits: d.labelEntropy, lift: matrix(d.lift) }]
        : [],
    );
  });
  if (domain.length > 0) summaries.domain_specialization = { per_layer: domain };

  const nodes = analyses.flatMap((a) => (a.figures.devices ?? []).map((d, l) => ({ trace: a.name, layer: a.layers[l], mean: d.nodes.mean, histogram: d.nodes.histogram })));
  if (nodes.length > 0) summaries.nodes_per_token = { per_layer: nodes };

  const small = analyses.flatMap((a) => (a.figures.smallSample ?? []).map((flag) => ({ trace: a.name, ...flag })));
  if (small.length > 0) summaries.small_sample = small;
  return summaries;
}
