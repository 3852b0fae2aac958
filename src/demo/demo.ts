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
import { WorkDir } from '../route/work-dir.js';
import { synthesize, type PlantedSpecialization } from '../synth/synth.js';
import { checkOutputFiles, checkOutputFolder } from '../files.js';

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

export async function runDemo(options: { out?: string; warn?: (line: string) => void } = {}): Promise<DemoResult> {
  const { out = demoDefaults.out } = options;
  const model = path.join(out, 'model');
  const prompts = assetPath('prompts', 'demo.txt');
  const trace = path.join(out, 'demo.trace.safetensors');
  const report = path.join(out, 'report.html');
  const summary = path.join(out, 'summary.json');
  // Each step checks its own outputs, but only when it starts: check them all before the first.
  checkOutputFolder(out);
  checkOutputFolder(model);
  checkOutputFiles(trace, report, summary);
  fs.mkdirSync(out, { recursive: true });

  const synth = await synthesize({ preset: 'tiny', out: model, planted: true, dtype: 'bf16', force: true });
  fs.rmSync(WorkDir.pathFor(trace), { recursive: true, force: true });
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
