import path from 'node:path';
import { fileError, InputError } from '../errors.js';
import { checkOutputFiles, writeFileAtomically } from '../files.js';
import { readLoadMatrix, type LoadMatrix } from '../loaders/load-matrix.js';
import { moeLayers as modelMoeLayers, readModelConfig } from '../models/config.js';
import { renderHtmlReport } from '../page/html.js';
import { openTrace } from '../trace.js';
import { formatPlan, planPlacement } from './balance.js';
import { expertBytesFromModel } from './expert-bytes.js';
import { formatSglangExpertLocation, formatVllmInitialMapping, sglangExpertLocation, vllmInitialMapping } from './export-engines.js';
import { diffPlans } from './plan-diff.js';
import { readPlanFile } from './plan-file.js';
import { planPage, type PlanWithWhatIfs } from './plan-page.js';
import { simulateRebalancing } from './simulate.js';
import { sweepPlacements, type Sweep } from './sweep.js';
import { readLoadSeries } from './time-series.js';
import { defaultBandwidth, dispatchTraffic, type Bandwidth, type TokenSource } from './traffic.js';

/**
 * `balance` with the serving what-ifs (contract.md, "Extensions", `balance`): the plan, and on request the
 * files the engines load, the rebalancing simulation, the redundancy sweep, the dispatch traffic, the move
 * from an older plan, and an HTML page of it all. Everything is computed before anything is written.
 */
export interface ServingBalanceOptions {
  out: string;
  eval?: string;
  gpus?: number;
  replicas?: number;
  nodes: number;
  groups: number;
  exportSglang?: string;
  exportVllm?: string;
  /** Model folder: one expert's bytes from its headers, and its layer structure for the exports. */
  model?: string;
  expertBytes?: number;
  html?: string;
  simulate?: { window: number; interval: number; stepTokens?: number };
  sweep?: { gpus: number[]; redundant: number[]; gpusPerNode: number };
  traffic?: { tokenSource: TokenSource; bandwidth: Partial<Bandwidth> };
  diff?: string;
}

export interface ServingBalanceResult {
  /** Absent in sweep mode, which plans for many shapes and writes `{"sweep": ...}`. */
  plan?: PlanWithWhatIfs;
  sweep?: Sweep;
  skippedLayers: number[];
  notes: string[];
  written: string[];
}

export function runServingBalance(loadFile: string, options: ServingBalanceOptions): ServingBalanceResult {
  checkOptions(loadFile, options);
  checkOutputFiles(options.out, options.exportSglang, options.exportVllm, options.html);
  const notes: string[] = [];
  const expertBytes = options.expertBytes ?? (options.model === undefined ? undefined : expertBytesFromModel(options.model));
  const outputs: Array<[string, string]> = [];
  const load = readLoadMatrix(loadFile);
  const skippedLayers = load.counts.flatMap((_, layer) => (load.moeLayers.includes(layer) ? [] : [layer]));

  if (options.sweep) {
    const sweep = sweepPlacements(load, { ...options.sweep, groups: options.groups, expertBytes });
    if (expertBytes === undefined) notes.push('expert bytes unknown (give --model DIR or --expert-bytes N): the sweep shows redundant experts instead of memory');
    outputs.push([options.out, `${JSON.stringify({ sweep }, null, 1)}\n`]);
    if (options.html) outputs.push([options.html, renderHtmlReport(planPage({ loadName: path.basename(loadFile), load, sweep, expertBytes, notes }))]);
    writeAll(outputs);
    return { sweep, skippedLayers, notes, written: outputs.map(([file]) => file) };
  }

  const cluster = { replicas: options.replicas!, gpus: options.gpus!, nodes: options.nodes, groups: options.groups };
  const evalLoad = options.eval === undefined ? undefined : readLoadMatrix(options.eval);
  const plan: PlanWithWhatIfs = { ...planPlacement(load, cluster, evalLoad).plan };

  if (options.simulate) {
    const series = readLoadSeries(loadFile, { stepTokens: options.simulate.stepTokens });
    notes.push(...series.notes);
    plan.simulate = simulateRebalancing(series, cluster, { ...options.simulate, expertBytes });
    if (plan.simulate.policies.static.mean === null) notes.push(`the series has ${series.steps.length} steps: no plan from a window of ${options.simulate.window} is ever used, so static and periodic have no values`);
  }
  if (options.traffic) {
    const trace = openTrace(loadFile);
    try {
      plan.traffic = dispatchTraffic(trace, cluster, { tokenSource: options.traffic.tokenSource, bandwidth: withDefaults(options.traffic.bandwidth), load });
    } finally {
      trace.close();
    }
    notes.push(...plan.traffic.notes);
  }
  if (options.diff !== undefined) plan.diff = diffPlans(readPlanFile(options.diff), plan, options.diff, expertBytes);
  if (expertBytes === undefined && (options.simulate || options.diff !== undefined)) notes.push('expert bytes unknown (give --model DIR or --expert-bytes N): moved bytes are left out');

  outputs.push([options.out, formatPlan(plan)]);
  if (options.exportSglang !== undefined || options.exportVllm !== undefined) {
    const model = modelLayers(loadFile, load, options.model);
    if (options.exportSglang !== undefined) outputs.push([options.exportSglang, formatSglangExpertLocation(sglangExpertLocation(plan, model.decoderLayers))]);
    if (options.exportVllm !== undefined) {
      if (model.guessed) notes.push(`vLLM keys count the MoE layers from 0; without --model they are taken to be the layers with load (${plan.layers[0]}..${plan.layers[plan.layers.length - 1]})`);
      outputs.push([options.exportVllm, formatVllmInitialMapping(vllmInitialMapping(plan, model.moeLayers))]);
    }
  }
  if (options.html) outputs.push([options.html, renderHtmlReport(planPage({ loadName: path.basename(loadFile), load, plan, expertBytes, notes }))]);
  writeAll(outputs);
  return { plan, skippedLayers, notes, written: outputs.map(([file]) => file) };
}

function checkOptions(loadFile: string, options: ServingBalanceOptions): void {
  const isTrace = path.extname(loadFile).toLowerCase() === '.safetensors';
  if (options.traffic && !isTrace) throw fileError(loadFile, 'traffic-needs-trace', '--traffic needs a trace (.safetensors): a count matrix does not say which experts each token used together');
  if (options.sweep) {
    if (options.gpus !== undefined || options.replicas !== undefined) throw new InputError('--sweep-gpus/--sweep-redundant replace --gpus and --replicas; give one or the other', 'usage-sweep');
    for (const flag of ['simulate', 'traffic', 'diff', 'exportSglang', 'exportVllm', 'eval'] as const) {
      if (options[flag] !== undefined) throw new InputError(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs one plan; it does not go with a sweep`, 'usage-sweep');
    }
    return;
  }
  if (options.gpus === undefined || options.replicas === undefined) throw new InputError('balance needs --gpus and --replicas (or --sweep-gpus with --sweep-redundant)', 'usage-cluster');
}

/** The bandwidths given, the defaults (DeepEP's README) for the rest. */
function withDefaults(given: Partial<Bandwidth>): Bandwidth {
  return {
    nvlinkGBps: given.nvlinkGBps ?? defaultBandwidth.nvlinkGBps,
    rdmaGBps: given.rdmaGBps ?? defaultBandwidth.rdmaGBps,
    dispatchBytes: given.dispatchBytes ?? defaultBandwidth.dispatchBytes,
  };
}

/**
 * The model's decoder layers (SGLang's rows) and MoE layers (vLLM's keys): from `--model`'s config.json, else
 * from the config a trace records, else from the load (row i = layer i; the layers with load are the MoE layers).
 */
function modelLayers(loadFile: string, load: LoadMatrix, model: string | undefined): { decoderLayers: number; moeLayers: number[]; guessed: boolean } {
  if (model !== undefined) {
    const config = readModelConfig(model);
    return { decoderLayers: config.numLayers, moeLayers: modelMoeLayers(config), guessed: false };
  }
  if (path.extname(loadFile).toLowerCase() === '.safetensors') {
    const trace = openTrace(loadFile);
    try {
      const recorded = Number(trace.modelConfig().num_hidden_layers);
      const decoderLayers = Number.isSafeInteger(recorded) && recorded > Math.max(...trace.layers) ? recorded : load.counts.length;
      return { decoderLayers, moeLayers: trace.layers, guessed: false };
    } finally {
      trace.close();
    }
  }
  return { decoderLayers: load.counts.length, moeLayers: load.moeLayers, guessed: true };
}

/** Writes every output, each atomically; nothing is written until all of them are computed. */
function writeAll(outputs: Array<[string, string]>): void {
  for (const [file, text] of outputs) writeFileAtomically(file, text);
}
