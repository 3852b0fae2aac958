import path from 'node:path';
import { fileError } from '../errors.js';
import { ExpertLoadCounter } from '../analysis/load-stats.js';
import { checkCounts, loadJsonList } from '../loaders/load-matrix.js';
import { readNpy } from '../loaders/npy.js';
import { openTrace } from '../trace.js';
import { plural } from '../plural.js';
import { readInputFile } from '../files.js';

/**
 * Expert load over time (analyses.md, "Serving what-ifs", time axis): one count matrix per step, each with
 * row i = model layer i (dense layers all zero), as SGLang's `stat` recorder keeps them with an unlimited
 * buffer. Read from JSON `{"logical_count": [[[...]]]}` (or a bare 3-level list), a 3-D `.npy`
 * [steps, layers, experts], or a trace cut into steps of `stepTokens` consecutive tokens.
 */
export interface LoadSeries {
  file: string;
  /** [steps][layers][experts]. */
  steps: number[][][];
  experts: number;
  /** Rows with load in any step, ascending: the MoE layers. */
  moeLayers: number[];
  /** Things the reader did that the user should know (a dropped partial step). */
  notes: string[];
}

export function readLoadSeries(file: string, options: { stepTokens?: number } = {}): LoadSeries {
  const extension = path.extname(file).toLowerCase();
  if (extension === '.safetensors') {
    if (options.stepTokens === undefined) throw fileError(file, 'series-step-tokens', 'a trace becomes a time series only with --step-tokens N (tokens per step)');
    return seriesFromTrace(file, options.stepTokens);
  }
  const bytes = readInputFile(file, 'load-unreadable');
  if (extension === '.json') return seriesFromSteps(stepsFromJson(bytes.toString('utf8'), file), file, []);
  if (extension === '.npy') return seriesFromSteps(stepsFromNpy(bytes, file), file, []);
  throw fileError(file, 'series-format', `a time series must be .json ({"logical_count": [[[...]]]}), a 3-D .npy, or a trace with --step-tokens; found "${extension}"`);
}

/** Checks that every step has the same shape and finds the MoE layers. */
export function seriesFromSteps(steps: number[][][], file: string, notes: string[]): LoadSeries {
  if (steps.length === 0) throw fileError(file, 'series-empty', 'the time series has no steps');
  const [layers, experts] = [steps[0].length, steps[0][0]?.length ?? 0];
  steps.forEach((step, s) => {
    if (step.length !== layers) throw fileError(file, 'series-ragged', `step ${s} has ${step.length} layers, step 0 has ${layers}`);
    checkCounts(step, file, `step ${s}: `);
    if (step[0].length !== experts) throw fileError(file, 'series-ragged', `step ${s} has ${step[0].length} experts per layer, step 0 has ${experts}`);
  });
  const moeLayers = steps[0].flatMap((_, layer) => (steps.some((step) => step[layer].some((count) => count > 0)) ? [layer] : []));
  if (moeLayers.length === 0) throw fileError(file, 'load-empty', 'the time series is all zero: no layer has any load');
  return { file, steps, experts, moeLayers, notes };
}

function stepsFromJson(text: string, file: string): number[][][] {
  const value = loadJsonList(text, file, 'steps');
  if (!Array.isArray(value[0]) || !Array.isArray(value[0][0])) {
    throw fileError(file, 'series-not-3d', 'a time series needs 3 levels [steps][layers][experts], found a 2-D matrix [layers][experts] (one total, no time axis)');
  }
  value.forEach((step, s) => {
    if (!Array.isArray(step) || !step.every(Array.isArray)) throw fileError(file, 'load-json', `step ${s} is not a list of per-layer rows, though step 0 is`);
  });
  return value as number[][][];
}

function stepsFromNpy(bytes: Uint8Array, file: string): number[][][] {
  const { shape, data } = readNpy(bytes, file);
  if (shape.length !== 3) {
    throw fileError(file, 'series-not-3d', `a time series .npy must be 3-D [steps, layers, experts], found shape (${shape.join(', ')})`);
  }
  const [steps, layers, experts] = shape;
  return Array.from({ length: steps }, (_, s) =>
    Array.from({ length: layers }, (_, l) => Array.from(data.subarray((s * layers + l) * experts, (s * layers + l + 1) * experts) as ArrayLike<number | bigint>, Number)),
  );
}

/** Steps of `stepTokens` consecutive tokens in trace order; a final partial step is dropped with a note. */
function seriesFromTrace(file: string, stepTokens: number): LoadSeries {
  const trace = openTrace(file);
  try {
    const { layers, k, nExperts, nTokens } = trace;
    const whole = Math.floor(nTokens / stepTokens);
    if (whole === 0) throw fileError(file, 'series-short', `the trace has ${nTokens} tokens, fewer than one step of --step-tokens ${stepTokens}`);
    const steps = Array.from({ length: whole }, (_, s) => {
      const counter = new ExpertLoadCounter(layers.length, k, nExperts);
      counter.add({ start: s * stepTokens, tokens: stepTokens, ids: trace.readTopkIds(s * stepTokens, (s + 1) * stepTokens) });
      // Row i is model layer i; rows of layers the trace does not record stay zero.
      const rows = Array.from({ length: Math.max(...layers) + 1 }, () => new Array<number>(nExperts).fill(0));
      layers.forEach((layer, l) => (rows[layer] = counter.layer(l)));
      return rows;
    });
    const left = nTokens - whole * stepTokens;
    const notes = left > 0 ? [`dropped the final partial step of ${plural(left, 'token')} (steps are ${stepTokens} tokens)`] : [];
    return seriesFromSteps(steps, file, notes);
  } finally {
    trace.close();
  }
}
