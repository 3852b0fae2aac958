import path from 'node:path';
import { analyseLoadMatrix, analyseTrace, type InputAnalysis } from '../analysis/analyse.js';
import type { OffloadingOptions } from '../analysis/offloading.js';
import type { ClusterOptions } from '../analysis/placement.js';
import { checkOutputFiles, writeFileAtomically } from '../files.js';
import { readLoadMatrix } from '../loaders/load-matrix.js';
import { openTrace } from '../trace.js';
import { planReportSections } from '../balance/plan-page.js';
import { renderHtmlReport } from '../page/html.js';
import { buildReportPage } from './report-page.js';
import { reportSummary, summaryJson, type ReportSummary } from './summary.js';

/**
 * `report`: analyses each input (a trace, or a load count matrix with the figures counts allow), then
 * writes the HTML page and, when asked, SUMMARY.json, both from the same numbers.
 */
export interface ReportOptions extends ClusterOptions {
  /** REPORT.html. */
  out: string;
  /** SUMMARY.json. */
  json?: string;
  /** Model layers shown in detail (co-activation, top tokens); default up to 4 spread over depth. */
  layers?: number[];
  blockTokens?: number;
  tableBudgetBytes?: number;
  /** Seed of the resampling (shuffled labels); default 0. */
  seed?: number;
  /** PLAN.json to render against the first input (contract.md, `report --plan`). */
  plan?: string;
  /** One expert's weight bytes, for the plan's memory. */
  expertBytes?: number;
  /** Progress over one input's passes. */
  onProgress?: (input: string, done: number, total: number) => void;
  /** --cache and --prefetch: the offloading what-ifs (traces only). */
  offloading?: OffloadingOptions;
}

export interface ReportResult {
  analyses: InputAnalysis[];
  summary: ReportSummary;
}

export async function runReport(inputs: string[], options: ReportOptions): Promise<ReportResult> {
  const { out, json, layers, onProgress, plan, expertBytes, ...analysisOptions } = options;
  checkOutputFiles(out, json);
  const names = inputNames(inputs);
  const analyses: InputAnalysis[] = [];
  for (const [i, file] of inputs.entries()) {
    const common = { ...analysisOptions, name: names[i], detailLayers: layers };
    if (!isTrace(file)) {
      const analysis = analyseLoadMatrix(readLoadMatrix(file), common);
      if (options.offloading) analysis.notes.push('a count matrix has no per-token routing, so it has no expert cache or prefetch figures');
      analyses.push(analysis);
      continue;
    }
    const trace = openTrace(file);
    try {
      analyses.push(await analyseTrace(trace, { ...common, onProgress: (done, total) => onProgress?.(names[i], done, total) }));
    } finally {
      trace.close();
    }
  }
  const summary = reportSummary(analyses);
  const page = buildReportPage(analyses, summary.per_layer);
  if (plan !== undefined) page.sections.push(...planReportSections(plan, inputs[0], names[0], expertBytes));
  writeFileAtomically(out, renderHtmlReport(page));
  if (json !== undefined) writeFileAtomically(json, summaryJson(summary));
  return { analyses, summary };
}

/** A trace is a safetensors file; anything else is read as a count matrix (readLoadMatrix names what it accepts). */
function isTrace(file: string): boolean {
  return path.extname(file).toLowerCase() === '.safetensors';
}

/** Inputs are named by their file name, or by the path as given where two share a file name. */
export function inputNames(inputs: string[]): string[] {
  const base = inputs.map((file) => path.basename(file));
  return inputs.map((file, i) => (base.filter((b) => b === base[i]).length > 1 ? file : base[i]));
}
