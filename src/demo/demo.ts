/**
 * `moe-inspect demo`: the main job on the embedded default, with no download. Synthesizes a small model with
 * a planted specialization, routes the bundled prompts through it and reports on the trace.
 */
import fs from 'node:fs';
import path from 'node:path';
import { assetPath } from '../assets.js';
import type { LayerSummary } from '../analysis/layer-summary.js';
import { runReport } from '../report/report.js';
import { route } from '../route/route.js';
import { synthesize, type PlantedSpecialization } from '../synth/synth.js';

export const demoDefaults = { out: 'moe-inspect-demo' };

export interface DemoResult {
  model: string;
  trace: string;
  report: string;
  summary: string;
  tokens: number;
  prompts: number;
  planted: PlantedSpecialization;
  perLayer: LayerSummary[];
}

/** What the demo writes into its folder: the model folder and three files. */
export function demoOutputs(out: string): { model: string; trace: string; report: string; summary: string } {
  return {
    model: path.join(out, 'model'),
    trace: path.join(out, 'demo.trace.safetensors'),
    report: path.join(out, 'report.html'),
    summary: path.join(out, 'summary.json'),
  };
}

export async function runDemo(options: { out?: string; warn?: (line: string) => void } = {}): Promise<DemoResult> {
  const { out = demoDefaults.out } = options;
  fs.mkdirSync(out, { recursive: true });
  const { model, trace, report, summary } = demoOutputs(out);
  const prompts = assetPath('prompts', 'demo.txt');

  const synth = await synthesize({ preset: 'tiny', out: model, planted: true, dtype: 'bf16', force: true });
  fs.rmSync(`${trace}.partial`, { recursive: true, force: true });
  const routed = await route({ prompts, model, out: trace, device: 'cpu', warn: options.warn });
  const { summary: reportSummary } = await runReport([trace], { out: report, json: summary });
  return {
    model,
    trace,
    report,
    summary,
    tokens: routed.tokens,
    prompts: routed.prompts,
    planted: synth.planted!,
    perLayer: reportSummary.per_layer,
  };
}
