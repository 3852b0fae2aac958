import path from 'node:path';
import { fileError, InputError } from '../errors.js';
import { moeLayers as moeLayersOf, readMoeConfig } from '../models/config.js';
import { readNpy, type NpyArray } from './npy.js';
import { noun, plural } from '../plural.js';
import { readInputFile } from '../files.js';

/**
 * Routed experts recorded by serving engines, per request (see docs/serving-engines.md for the request
 * options and server flags). Every form holds, per sequence, an array [rows, layers, k] of expert ids
 * where row r is the r-th token fed through the model; the forms differ in where they put it:
 *
 * - SGLang `POST /generate`: `meta_info.routed_experts`, base64 of raw little-endian int32
 *   (`meta_info.routed_experts_dtype` may name uint16 or uint8), rows = prompt + output - 1, all hidden
 *   layers (dense ones all zero). A batch request returns a JSON list of such bodies.
 * - SGLang OpenAI endpoints: the same string at the response level, `sglext.routed_experts` (first choice
 *   only; older builds put it on each choice).
 * - vLLM >= 0.22: `choices[i].routed_experts`, base64 of a whole `.npy` file (uint8 or uint16), rows =
 *   prompt + output - 1, all hidden layers, logical ids.
 * - vLLM before that: `choices[i].routed_experts` as nested JSON lists; v0.21 splits it into a response-level
 *   `prompt_routed_experts` [prompt, MoE layers, k] and per-choice `routed_experts` [generated, MoE layers, k],
 *   with -1 where the prefix cache skipped the forward pass.
 * - `.npy` files holding one sequence's [rows, layers, k] (offline `LLM` outputs saved with `np.save`).
 *
 * SGLang records ids after its logical-to-physical remap, so with EPLB or redundant experts they are
 * physical slots; a placement plan maps them back. vLLM records logical ids.
 */
export type Engine = 'sglang' | 'vllm';

/** One sequence's routing as found in the records, before it is fitted to the model. */
export interface RoutedSequence {
  engine: Engine;
  /** Where it came from, for messages: `file:line` plus the choice. */
  where: string;
  rows: number;
  /** Layers recorded: all hidden layers, or (vLLM 0.21) only the MoE ones. */
  layers: number;
  k: number;
  /** [rows, layers, k] expert ids; -1 marks a row the engine did not compute (prefix cache). */
  ids: Int32Array;
  /** Token id fed at each row, -1 where the records do not carry it. */
  tokenIds: Int32Array;
}

export interface ServingRecords {
  sequences: RoutedSequence[];
  /** Things the caller should tell the user once: responses skipped, rows dropped. */
  notes: string[];
}

/**
 * Reads one records file: JSON lines (or one JSON document, or server-sent `data:` lines) or `.npy`.
 * SGLang's payload is a flat list of ids, shaped as SGLang's own decoder does it: rows of the model's
 * num_hidden_layers x top_k.
 */
export function readServingRecords(file: string, layout: MoeLayout, engine?: Engine): ServingRecords {
  const bytes = readInputFile(file, 'records-unreadable');
  if (path.extname(file).toLowerCase() === '.npy') {
    if (engine === undefined) {
      throw fileError(file, 'records-engine', '.npy records do not say which engine wrote them: pass --engine sglang or --engine vllm');
    }
    const array = readNpy(bytes, file);
    return { sequences: [sequenceFromArray(array, engine, file, null)], notes: [] };
  }
  return readJsonRecords(bytes.toString('utf8'), file, layout, engine);
}

// ---------------------------------------------------------------------------------------------------------
// JSON responses

interface Body {
  value: unknown;
  where: string;
}

function readJsonRecords(text: string, file: string, layout: MoeLayout, engine: Engine | undefined): ServingRecords {
  const sequences: RoutedSequence[] = [];
  let skipped = 0;
  let unknownTokens = 0;
  for (const body of jsonBodies(text, file)) {
    const found = sequencesOfBody(body, layout);
    if (found.length === 0) skipped++;
    for (const sequence of found) {
      if (engine !== undefined && sequence.engine !== engine) {
        throw fileError(body.where, 'records-engine', `this is a ${sequence.engine} response, but --engine ${engine} was given`);
      }
      if (sequence.tokenIds.includes(-1)) unknownTokens++;
      sequences.push(sequence);
    }
  }
  if (sequences.length === 0) {
    throw fileError(file, 'records-none', 'no routed experts found: no response has meta_info.routed_experts, sglext.routed_experts or choices[].routed_experts (was the server started with --enable-return-routed-experts?)');
  }
  const notes: string[] = [];
  if (skipped > 0) notes.push(`${file}: skipped ${plural(skipped, 'response')} without routed experts (stream chunks, aborted requests, or a server without --enable-return-routed-experts)`);
  if (unknownTokens > 0) {
    const how = sequences[0].engine === 'vllm' ? 'request them with "return_token_ids": true' : 'SGLang responses carry the output ids only';
    notes.push(`${file}: ${plural(unknownTokens, 'sequence')} ${noun(unknownTokens, 'lacks', 'lack')} some token ids, stored as -1 (${how})`);
  }
  return { sequences, notes };
}

/** Each response body: a JSONL line, each element of a JSON list (SGLang batches), or `data:` SSE lines. */
function* jsonBodies(text: string, file: string): Generator<Body> {
  const lines = text.split(/\r?\n/);
  const parsed: Body[] = [];
  let wholeFile = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim().replace(/^data:\s*/, '');
    if (line === '' || line === '[DONE]') continue;
    try {
      parsed.push({ value: JSON.parse(line), where: `${file}:${i + 1}` });
    } catch (error) {
      if (parsed.length > 0) throw fileError(`${file}:${i + 1}`, 'records-json', `not valid JSON (${(error as Error).message})`, error);
      wholeFile = true; // a pretty-printed JSON document spans lines
      break;
    }
  }
  if (wholeFile) {
    try {
      parsed.push({ value: JSON.parse(text), where: file });
    } catch (error) {
      throw fileError(file, 'records-json', `neither JSON lines nor one JSON document (${(error as Error).message})`, error);
    }
  }
  for (const body of parsed) {
    if (Array.isArray(body.value)) {
      for (let i = 0; i < body.value.length; i++) yield { value: body.value[i], where: `${body.where} [${i}]` };
    } else {
      yield body;
    }
  }
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => value !== null && typeof value === 'object' && !Array.isArray(value);

/** Finds the routed experts in one response body, in whichever engine's form it has. */
function sequencesOfBody({ value, where }: Body, layout: MoeLayout): RoutedSequence[] {
  if (!isObject(value)) throw fileError(where, 'records-json', `expected a response object, found ${JSON.stringify(value)?.slice(0, 60)}`);
  const usage = isObject(value.usage) ? value.usage : {};

  // SGLang /generate
  const meta = value.meta_info;
  if (isObject(meta) && meta.routed_experts != null) {
    const ids = sglangIds(meta.routed_experts, meta.routed_experts_dtype, `${where} meta_info.routed_experts`);
    const tokens = knownTokens(undefined, value.output_ids, meta.prompt_tokens, meta.completion_tokens);
    return [sequenceFromFlat(ids, layout, 'sglang', where, tokens)];
  }
  // SGLang OpenAI endpoints: response level, for the first choice
  const sglext = value.sglext ?? value.sgl_ext;
  const choices = Array.isArray(value.choices) ? value.choices.filter(isObject) : [];
  if (isObject(sglext) && sglext.routed_experts != null) {
    const ids = sglangIds(sglext.routed_experts, sglext.routed_experts_dtype, `${where} sglext.routed_experts`);
    const first = choices[0] ?? {};
    const tokens = knownTokens(first.prompt_token_ids, first.token_ids, usage.prompt_tokens, usage.completion_tokens);
    return [sequenceFromFlat(ids, layout, 'sglang', where, tokens)];
  }

  return choices.flatMap((choice, index) => {
    const at = `${where} choices[${index}]`;
    // SGLang builds that put sglext on each choice
    const perChoice = choice.sglext ?? choice.sgl_ext;
    if (isObject(perChoice) && perChoice.routed_experts != null) {
      const ids = sglangIds(perChoice.routed_experts, perChoice.routed_experts_dtype, `${at}.sglext.routed_experts`);
      return [sequenceFromFlat(ids, layout, 'sglang', at, knownTokens(choice.prompt_token_ids, choice.token_ids, undefined, undefined))];
    }
    const routed = choice.routed_experts;
    if (routed == null) return [];
    const promptIds = choice.prompt_token_ids ?? value.prompt_token_ids;
    if (typeof routed === 'string') {
      const array = readNpy(decodeBase64(routed, `${at}.routed_experts`), `${at}.routed_experts`);
      const tokens = knownTokens(promptIds, choice.token_ids, usage.prompt_tokens, choices.length === 1 ? usage.completion_tokens : undefined);
      return [sequenceFromArray(array, 'vllm', at, tokens)];
    }
    if (value.prompt_routed_experts != null) {
      // v0.21: prompt rows and generated rows apart; each aligns with its own tokens from the start
      const prompt = nestedIds(value.prompt_routed_experts, `${where} prompt_routed_experts`);
      const generated = nestedIds(routed, `${at}.routed_experts`);
      if (prompt.layers !== generated.layers || prompt.k !== generated.k) {
        throw fileError(at, 'records-shape', `prompt_routed_experts is [${prompt.rows}, ${prompt.layers}, ${prompt.k}] but routed_experts is [${generated.rows}, ${generated.layers}, ${generated.k}]`);
      }
      const tokens = Int32Array.from([...padTo(promptIds, prompt.rows), ...padTo(choice.token_ids, generated.rows)]);
      const ids = Int32Array.from([...prompt.ids, ...generated.ids]);
      return [{ engine: 'vllm' as const, where: at, rows: prompt.rows + generated.rows, layers: prompt.layers, k: prompt.k, ids, tokenIds: tokens }];
    }
    const nested = nestedIds(routed, `${at}.routed_experts`);
    const tokens = knownTokens(promptIds, choice.token_ids, usage.prompt_tokens, choices.length === 1 ? usage.completion_tokens : undefined);
    return [sequenceFromShaped(nested, 'vllm', at, tokens)];
  });
}

/** SGLang's payload: base64 of the raw array bytes, int32 unless the response names another dtype. */
function sglangIds(payload: unknown, dtype: unknown, where: string): Int32Array {
  if (typeof payload !== 'string') throw fileError(where, 'records-payload', `expected a base64 string, found ${typeof payload}`);
  const bytes = decodeBase64(payload, where);
  const name = dtype ?? 'int32';
  const width = name === 'int32' ? 4 : name === 'uint16' ? 2 : name === 'uint8' ? 1 : 0;
  if (width === 0) throw fileError(where, 'records-dtype', `routed_experts_dtype ${JSON.stringify(dtype)} is not int32, uint16 or uint8`);
  if (bytes.length % width !== 0) throw fileError(where, 'records-payload', `${bytes.length} bytes is not a whole number of ${name} values`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Int32Array.from({ length: bytes.length / width }, (_, i) =>
    width === 4 ? view.getInt32(i * 4, true) : width === 2 ? view.getUint16(i * 2, true) : view.getUint8(i),
  );
}

function decodeBase64(text: string, where: string): Uint8Array {
  // Node's decoder skips characters it does not know; refuse them instead of decoding garbage.
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw fileError(where, 'records-base64', 'not a base64 string');
  }
  return Buffer.from(text, 'base64');
}

/** Nested JSON lists [rows][layers][k] of integers. */
function nestedIds(value: unknown, where: string): { rows: number; layers: number; k: number; ids: Int32Array } {
  const rows = Array.isArray(value) ? value : [];
  const first = Array.isArray(rows[0]) ? rows[0] : [];
  const layers = first.length;
  const k = Array.isArray(first[0]) ? first[0].length : 0;
  if (rows.length === 0 || layers === 0 || k === 0) throw fileError(where, 'records-shape', 'expected non-empty nested lists [tokens][layers][top_k]');
  const ids = new Int32Array(rows.length * layers * k);
  rows.forEach((row: unknown, r) => {
    if (!Array.isArray(row) || row.length !== layers) throw fileError(where, 'records-shape', `row ${r} does not have ${layers} layers`);
    row.forEach((experts: unknown, l) => {
      if (!Array.isArray(experts) || experts.length !== k) throw fileError(where, 'records-shape', `row ${r} layer ${l} does not have ${k} experts`);
      experts.forEach((id: unknown, j) => {
        if (!Number.isInteger(id)) throw fileError(where, 'records-shape', `row ${r} layer ${l} entry ${j} is ${JSON.stringify(id)}, not an expert id`);
        ids[(r * layers + l) * k + j] = id as number;
      });
    });
  });
  return { rows: rows.length, layers, k, ids };
}

// ---------------------------------------------------------------------------------------------------------
// Aligning rows with tokens

/**
 * The whole sequence's token ids as far as the response tells them: prompt ids and output ids where given,
 * -1 for the rest; null when even the length is unknown.
 */
function knownTokens(promptIds: unknown, outputIds: unknown, promptCount: unknown, outputCount: unknown): number[] | null {
  const prompt = Array.isArray(promptIds) ? promptIds : null;
  const output = Array.isArray(outputIds) ? outputIds : null;
  const promptLength = prompt?.length ?? (Number.isInteger(promptCount) ? (promptCount as number) : null);
  const outputLength = output?.length ?? (Number.isInteger(outputCount) ? (outputCount as number) : null);
  if (promptLength === null || outputLength === null) return null;
  return [...padTo(prompt, promptLength), ...padTo(output, outputLength)];
}

function padTo(ids: unknown, length: number): number[] {
  const known = Array.isArray(ids) ? ids : [];
  return Array.from({ length }, (_, i) => (Number.isInteger(known[i]) ? (known[i] as number) : -1));
}

/**
 * Rows cover the sequence up to its second-to-last token (the last sampled token is never fed back), and
 * may start late (SGLang's `routed_experts_start_len`), so rows align with tokens from the end.
 */
function alignTokens(tokens: number[] | null, rows: number, where: string): Int32Array {
  if (tokens === null) return new Int32Array(rows).fill(-1);
  const fed = tokens.length - 1;
  if (rows > fed) {
    throw fileError(where, 'records-rows', `${rows} rows of routed experts, but the response has ${tokens.length} tokens (prompt + output - 1 = ${fed} rows at most)`);
  }
  return Int32Array.from(tokens.slice(fed - rows, fed));
}

function sequenceFromArray({ shape, data }: NpyArray, engine: Engine, where: string, tokens: number[] | null): RoutedSequence {
  if (shape.length !== 3) throw fileError(where, 'records-shape', `routed experts must be 3-D [tokens, layers, top_k], found shape (${shape.join(', ')})`);
  const ids = Int32Array.from(data as ArrayLike<number>);
  return sequenceFromShaped({ rows: shape[0], layers: shape[1], k: shape[2], ids }, engine, where, tokens);
}

function sequenceFromShaped(
  { rows, layers, k, ids }: { rows: number; layers: number; k: number; ids: Int32Array },
  engine: Engine,
  where: string,
  tokens: number[] | null,
): RoutedSequence {
  return { engine, where, rows, layers, k, ids, tokenIds: alignTokens(tokens, rows, where) };
}

function sequenceFromFlat(ids: Int32Array, layout: MoeLayout, engine: Engine, where: string, tokens: number[] | null): RoutedSequence {
  const perRow = layout.hiddenLayers * layout.k;
  if (ids.length === 0 || ids.length % perRow !== 0) {
    throw fileError(where, 'records-shape', `${ids.length} expert ids do not form rows of num_hidden_layers ${layout.hiddenLayers} x top_k ${layout.k}`);
  }
  return sequenceFromShaped({ rows: ids.length / perRow, layers: layout.hiddenLayers, k: layout.k, ids }, engine, where, tokens);
}

// ---------------------------------------------------------------------------------------------------------
// The model side

/** What import needs from the model's config.json: which layers are MoE, E and K. */
export interface MoeLayout {
  modelType: string;
  experts: number;
  k: number;
  hiddenLayers: number;
  /** Model layer index of each MoE layer. */
  moeLayers: number[];
  /** config.json as read, for the trace metadata. */
  config: Json;
}

/**
 * The MoE layout of MODEL_DIR/config.json, read by the parser route uses (models/config.ts, parseMoeConfig),
 * so import and route agree on which layers are MoE, E and K for every family.
 */
export function readMoeLayout(modelDir: string): MoeLayout {
  const config = readMoeConfig(modelDir);
  const moeLayers = moeLayersOf(config);
  if (moeLayers.length === 0) throw fileError(path.join(modelDir, 'config.json'), 'config-field', 'the config describes no MoE layer');
  return { modelType: config.modelType, experts: config.nRoutedExperts, k: config.topK, hiddenLayers: config.numLayers, moeLayers, config: config.raw as Json };
}

/**
 * A placement's slot-to-expert maps, by model layer: PLAN.json from `balance` (`layers` + `phy2log`), or the
 * JSON SGLang's `--init-expert-location` takes (`physical_to_logical_map`, row i = layer i).
 */
export interface PhysicalMap {
  file: string;
  phy2logByLayer: Map<number, number[]>;
}

export function readPhysicalMap(file: string): PhysicalMap {
  const text = readInputFile(file, 'plan-json').toString('utf8');
  let plan: unknown;
  try {
    plan = JSON.parse(text);
  } catch (error) {
    throw fileError(file, 'plan-json', `the plan is not JSON (${(error as Error).message})`, error);
  }
  let layers: unknown[];
  let rows: unknown[];
  if (isObject(plan) && Array.isArray(plan.layers) && Array.isArray(plan.phy2log) && plan.layers.length === plan.phy2log.length) {
    [layers, rows] = [plan.layers, plan.phy2log];
  } else if (isObject(plan) && Array.isArray(plan.physical_to_logical_map)) {
    rows = plan.physical_to_logical_map;
    layers = rows.map((_, layer) => layer);
  } else {
    throw fileError(file, 'plan-json', 'expected a PLAN.json from `moe-inspect balance` ("layers" and "phy2log" of equal length) or SGLang\'s {"physical_to_logical_map": [...]}');
  }
  const phy2logByLayer = new Map<number, number[]>();
  layers.forEach((layer, i) => {
    const row = rows[i];
    if (!Number.isInteger(layer) || !Array.isArray(row) || !row.every(Number.isInteger)) {
      throw fileError(file, 'plan-json', `row ${i} is not a list of expert ids for a layer index`);
    }
    phy2logByLayer.set(layer as number, row as number[]);
  });
  return { file, phy2logByLayer };
}

/** Sequences fitted to the model: MoE layers only, logical ids, whole rows. */
export interface ImportedRouting {
  engine: Engine;
  /** Model layer index of each recorded layer. */
  layers: number[];
  k: number;
  /** Concatenated token ids, -1 where unknown. */
  tokenIds: Int32Array;
  /** Sequence p owns rows promptOffsets[p] .. promptOffsets[p+1]-1. */
  promptOffsets: number[];
  /** [rows, layers, k] logical expert ids. */
  topkIds: Int32Array;
  notes: string[];
}

/**
 * Keeps the MoE layers (records hold all hidden layers; dense ones read as expert 0), maps physical slots to
 * logical experts with `plan` (SGLang only), drops rows the engine did not compute, and checks every id.
 */
export function fitToModel(records: ServingRecords, layout: MoeLayout, plan?: PhysicalMap): ImportedRouting {
  const engines = new Set(records.sequences.map((s) => s.engine));
  if (engines.size > 1) throw new InputError('the records mix SGLang and vLLM responses; import them separately', 'records-engine');
  const [engine] = engines;
  if (plan && engine !== 'sglang') {
    throw fileError(plan.file, 'plan-engine', 'a plan maps SGLang physical slots back to experts; vLLM records already hold logical expert ids');
  }
  const slotMaps = plan ? layout.moeLayers.map((layer) => planRow(plan, layer, layout.experts)) : null;

  const { k, experts, moeLayers } = layout;
  const perRow = moeLayers.length * k;
  const totalRows = records.sequences.reduce((sum, sequence) => sum + sequence.rows, 0);
  const tokenIds = new Int32Array(totalRows);
  const topkIds = new Int32Array(totalRows * perRow);
  const promptOffsets = [0];
  let kept = 0;
  for (const sequence of records.sequences) {
    const layers = recordedLayers(sequence, layout);
    // All hidden layers recorded: pick the MoE ones. Only MoE layers recorded (vLLM 0.21): take them all.
    const moeIndex = layers === layout.hiddenLayers ? moeLayers : moeLayers.map((_, i) => i);
    for (let row = 0; row < sequence.rows; row++) {
      const out = topkIds.subarray(kept * perRow, (kept + 1) * perRow);
      moeIndex.forEach((recorded, j) => out.set(sequence.ids.subarray((row * layers + recorded) * k, (row * layers + recorded + 1) * k), j * k));
      if (out.includes(-1)) continue; // the prefix cache skipped this token's forward pass
      out.forEach((id, i) => {
        const logical = slotMaps ? slotMaps[Math.floor(i / k)][id] : id;
        if (!(logical >= 0 && logical < experts)) {
          const hint = engine === 'sglang' && !plan ? ' (SGLang records physical slots when EPLB or redundant experts are on: pass --plan PLAN.json)' : '';
          const what = slotMaps ? `physical slot ${id}, outside the plan's ${slotMaps[0].length} slots` : `expert ${id}`;
          throw fileError(sequence.where, 'records-expert-id', `row ${row} layer ${moeLayers[Math.floor(i / k)]} names ${what}; the model has ${experts} experts${hint}`);
        }
        out[i] = logical;
      });
      tokenIds[kept++] = sequence.tokenIds[row];
    }
    promptOffsets.push(kept);
  }
  const notes = [...records.notes];
  const dropped = totalRows - kept;
  if (dropped > 0) notes.push(`dropped ${plural(dropped, 'row')} marked -1 (tokens served from the prefix cache have no routing)`);
  return { engine, layers: moeLayers, k, tokenIds: tokenIds.slice(0, kept), promptOffsets, topkIds: topkIds.slice(0, kept * perRow), notes };
}

/** Checks a sequence's shape against the model; returns how many layers it records. */
function recordedLayers(sequence: RoutedSequence, layout: MoeLayout): number {
  const { where } = sequence;
  if (sequence.k !== layout.k) throw fileError(where, 'records-shape', `records have top_k ${sequence.k}, the model's num_experts_per_tok is ${layout.k}`);
  if (sequence.layers !== layout.hiddenLayers && sequence.layers !== layout.moeLayers.length) {
    throw fileError(
      where,
      'records-shape',
      `records have ${sequence.layers} layers, the model has ${layout.hiddenLayers} hidden layers of which ${layout.moeLayers.length} are MoE`,
    );
  }
  return sequence.layers;
}

function planRow(plan: PhysicalMap, layer: number, experts: number): number[] {
  const row = plan.phy2logByLayer.get(layer);
  if (!row) throw fileError(plan.file, 'plan-layer', `the plan has no row for MoE layer ${layer}`);
  if (row.some((expert) => expert < 0 || expert >= experts)) {
    throw fileError(plan.file, 'plan-expert', `layer ${layer} names experts outside 0..${experts - 1}`);
  }
  return row;
}
