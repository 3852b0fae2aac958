import Table from 'cli-table3';
import type { InputAnalysis } from '../analysis/analyse.js';
import { layerSummaryColumns, type LayerSummary } from '../analysis/layer-summary.js';
import { InputError } from '../errors.js';
import { offloadingSummary, type CacheSummary, type PrefetchSummary } from './offloading-report.js';
import { compactRows } from '../terminal-table.js';
import { tokenSpecializationDefaults } from '../analysis/token-specialization.js';
import { figureSummaries, type FigureSummaries } from './summary-figures.js';

/**
 * SUMMARY.json (contract.md, "Report summary"): the same per-layer numbers the HTML report shows, then the
 * figures that are not one number per layer under their own keys (summary-figures.ts).
 */
export interface ReportSummary extends FigureSummaries {
  traces: string[];
  n_experts: number;
  /** K; absent when every input is a count matrix. */
  k?: number;
  per_layer: LayerSummary[];
  /** --cache and --prefetch (contract.md): each under its own key. */
  cache?: CacheSummary;
  prefetch?: PrefetchSummary;
}

/** All inputs of one report must describe the same expert layout. */
export function reportSummary(analyses: InputAnalysis[]): ReportSummary {
  const [first] = analyses;
  for (const analysis of analyses) {
    if (analysis.experts !== first.experts) {
      throw new InputError(`${analysis.file}: has ${analysis.experts} experts per layer, but ${first.file} has ${first.experts}; one report compares inputs of the same model shape`, 'report-mismatch');
    }
  }
  const withK = analyses.filter((a) => a.k !== undefined);
  for (const analysis of withK) {
    if (analysis.k !== withK[0].k) {
      throw new InputError(`${analysis.file}: routes ${analysis.k} experts per token, but ${withK[0].file} routes ${withK[0].k}; one report compares inputs of the same model shape`, 'report-mismatch');
    }
  }
  return {
    traces: analyses.map((a) => a.name),
    n_experts: first.experts,
    ...(withK.length > 0 ? { k: withK[0].k } : {}),
    per_layer: analyses.flatMap((a) => a.perLayer),
    ...offloadingSummary(analyses),
    ...figureSummaries(analyses, tokenSpecializationDefaults.minOccurrences),
  };
}

export function summaryJson(summary: ReportSummary): string {
  return `${JSON.stringify(summary, null, 1)}\n`;
}

/** The headline figures per layer as a terminal table; columns no input has are left out. */
export function summaryTable(summary: ReportSummary): string {
  const present = layerSummaryColumns.filter(({ key, terminal }) => key !== 'trace' && terminal !== undefined && summary.per_layer.some((row) => row[key] !== undefined));
  const several = summary.traces.length > 1;
  const table = new Table({ head: [...(several ? ['input'] : []), ...present.map(({ terminal }) => terminal!)], style: { head: [], border: [] }, chars: compactRows });
  for (const row of summary.per_layer) {
    const cells = present.map(({ key, digits }) => {
      const value = row[key];
      return typeof value === 'number' ? value.toFixed(digits) : '';
    });
    table.push([...(several ? [row.trace] : []), ...cells]);
  }
  return table.toString();
}
