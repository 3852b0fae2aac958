import path from 'node:path';
import { ExpertLoadCounter } from '../analysis/load-stats.js';
import { streamRouting } from '../analysis/routing-stream.js';
import { fileError } from '../errors.js';
import { openTrace } from '../trace.js';
import { readNpy } from './npy.js';
import { readInputFile } from '../files.js';

/**
 * A per-layer expert load matrix (contract.md, `LOAD`): how many tokens each expert of each layer received.
 * Row i is model layer i, so dense layers appear as all-zero rows.
 *
 * Accepted files, by extension:
 * - `.safetensors`: a trace (contract.md); its topk_ids are counted;
 * - `.json`: `{"logical_count": [[...]...]}` (what SGLang's expert-distribution recorder and
 *   `--init-expert-location` use) or a bare `[[...]...]`;
 * - `.csv`: one line per layer, comma-separated counts, no index column; a first line that is not all
 *   numbers is a header and skipped;
 * - `.npy`: any integer or float dtype, shape [layers, experts].
 * JSON and `.npy` may also be 3-D, [steps, layers, experts] (SGLang's `stat` dump keeps a window of
 * steps): the steps are summed, as SGLang's own EPLB does.
 */
export interface LoadMatrix {
  file: string;
  /** [layers][experts]: row i is model layer i. */
  counts: number[][];
  /** Rows with any load, ascending: the MoE layers the data covers. */
  moeLayers: number[];
}

export function readLoadMatrix(file: string): LoadMatrix {
  const extension = path.extname(file).toLowerCase();
  if (extension === '.safetensors') return loadMatrixFromTrace(file);
  const bytes = readInputFile(file, 'load-unreadable');
  switch (extension) {
    case '.json':
      return loadMatrixFromRows(fromJson(bytes.toString('utf8'), file), file);
    case '.csv':
      return loadMatrixFromRows(fromCsv(bytes.toString('utf8'), file), file);
    case '.npy':
      return loadMatrixFromRows(fromNpy(bytes, file), file);
    default:
      throw fileError(
        file,
        'load-format',
        `unknown load file type "${extension}" (expected a trace .safetensors, .json with "logical_count" or [[...]], .csv, or .npy)`,
      );
  }
}

/** Checks a count matrix and finds its MoE layers; `file` names the source in errors. */
export function loadMatrixFromRows(counts: number[][], file: string): LoadMatrix {
  checkCounts(counts, file, '');
  const moeLayers = counts.flatMap((row, layer) => (row.some((count) => count > 0) ? [layer] : []));
  if (moeLayers.length === 0) throw fileError(file, 'load-empty', 'load matrix is all zero: no layer has any load');
  return { file, counts, moeLayers };
}

/** `where` prefixes the position in messages, for the steps of a 3-D input. */
export function checkCounts(counts: number[][], file: string, where: string): void {
  if (counts.length === 0) throw fileError(file, 'load-empty', `${where}load matrix has no rows`);
  const experts = counts[0].length;
  if (experts === 0) throw fileError(file, 'load-empty', `${where}load matrix row 0 has no experts`);
  counts.forEach((row, layer) => {
    if (row.length !== experts) {
      throw fileError(file, 'load-ragged', `${where}load matrix row ${layer} has ${row.length} experts, row 0 has ${experts}`);
    }
    row.forEach((count, expert) => {
      if (typeof count !== 'number' || !Number.isFinite(count) || count < 0) {
        throw fileError(file, 'load-value', `${where}load of layer ${layer} expert ${expert} must be a finite non-negative number, found ${typeof count === 'number' ? count : JSON.stringify(count)}`);
      }
    });
  });
}

/** The load a trace records: its topk_ids counted per layer as analyse counts them, a block of tokens at a time. */
export function loadMatrixFromTrace(file: string): LoadMatrix {
  const trace = openTrace(file);
  try {
    const { layers, k, nExperts } = trace;
    const counter = new ExpertLoadCounter(layers.length, k, nExperts);
    streamRouting(trace, [counter]);
    const counts = Array.from({ length: Math.max(...layers) + 1 }, () => new Array<number>(nExperts).fill(0));
    layers.forEach((layer, l) => (counts[layer] = counter.layer(l)));
    return loadMatrixFromRows(counts, file);
  } finally {
    trace.close();
  }
}

/** The list a load JSON holds: `{"logical_count": [...]}` or a bare list; `what` names its items in errors. */
export function loadJsonList(text: string, file: string, what: string): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw fileError(file, 'load-json', `not valid JSON (${(error as Error).message})`, error);
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    if (!('logical_count' in value)) {
      throw fileError(file, 'load-json', `JSON object has no "logical_count" (keys: ${Object.keys(value).join(', ') || 'none'})`);
    }
    value = (value as { logical_count: unknown }).logical_count;
  }
  if (!Array.isArray(value) || value.length === 0) throw fileError(file, 'load-empty', `expected a non-empty list of ${what}`);
  return value;
}

function fromJson(text: string, file: string): number[][] {
  const value = loadJsonList(text, file, 'per-layer rows');
  if (Array.isArray(value[0]) && Array.isArray(value[0][0])) {
    value.forEach((step, i) => {
      if (!Array.isArray(step) || !step.every(Array.isArray)) throw fileError(file, 'load-json', `step ${i} is not a list of per-layer rows, though step 0 is`);
    });
    return sumSteps(value as number[][][], file);
  }
  value.forEach((row, layer) => {
    if (!Array.isArray(row)) throw fileError(file, 'load-json', `row ${layer} is not a list of counts, found ${JSON.stringify(row)}`);
  });
  return value as number[][];
}

function fromCsv(text: string, file: string): number[][] {
  const lines = text.split(/\r?\n/).map((line, index) => ({ line, number: index + 1 })).filter(({ line }) => line.trim() !== '');
  const cells = lines.map(({ line }) => line.split(',').map((cell) => cell.trim()));
  const isNumber = (cell: string) => cell !== '' && Number.isFinite(Number(cell));
  const start = cells.length > 0 && !cells[0].every(isNumber) ? 1 : 0;
  return cells.slice(start).map((row, i) =>
    row.map((cell, column) => {
      if (!isNumber(cell)) throw fileError(file, 'load-csv', `line ${lines[start + i].number} column ${column + 1}: "${cell}" is not a number`);
      return Number(cell);
    }),
  );
}

function fromNpy(bytes: Uint8Array, file: string): number[][] {
  const { shape, data } = readNpy(bytes, file);
  const values = Array.from(data, Number);
  const rows = (offset: number, layers: number, experts: number) =>
    Array.from({ length: layers }, (_, layer) => values.slice(offset + layer * experts, offset + (layer + 1) * experts));
  if (shape.length === 2) return rows(0, shape[0], shape[1]);
  if (shape.length === 3) {
    const [steps, layers, experts] = shape;
    return sumSteps(Array.from({ length: steps }, (_, step) => rows(step * layers * experts, layers, experts)), file);
  }
  throw fileError(file, 'load-shape', `.npy load must be 2-D [layers, experts] or 3-D [steps, layers, experts], found shape (${shape.join(', ')})`);
}

function sumSteps(steps: number[][][], file: string): number[][] {
  steps.forEach((step, i) => {
    checkCounts(step, file, `step ${i}: `);
    if (step.length !== steps[0].length || step[0].length !== steps[0][0].length) {
      throw fileError(file, 'load-ragged', `step ${i} has shape ${step.length}x${step[0].length}, step 0 has ${steps[0].length}x${steps[0][0].length}`);
    }
  });
  return steps[0].map((row, layer) => row.map((_, expert) => steps.reduce((sum, step) => sum + step[layer][expert], 0)));
}
