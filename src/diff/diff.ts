/**
 * `moe-inspect diff`: compares two checkpoints of the same architecture (analyses.md, "Comparing two
 * checkpoints"), typically a base model and its fine-tune.
 *
 * Order of work: every check runs before any long work starts (same architecture and expert layout; with
 * prompts, the same tokenizer), then the weights diff streams both checkpoints, then with prompts both models
 * route the same prompts (traces cached next to the output and reused while they still match) and the traces
 * are compared. DIFF.json and DIFF.html are built from the same result.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { compareTraces, type RoutingDiff } from '../analysis/routing-diff.js';
import { diffWeights, type WeightsDiff } from '../analysis/weights-diff.js';
import { buildDiffPage } from './diff-page.js';
import type { DiffJson, DiffResult, RoutingResult, TraceSource } from './diff-result.js';
import { fileError, InputError } from '../errors.js';
import { checkOutputFiles, writeFileAtomically } from '../files.js';
import { Checkpoint } from '../loaders/checkpoint.js';
import { readJsonObject } from '../loaders/json-file.js';
import { readPrompts, type Prompt } from '../loaders/prompts.js';
import { moeLayers, readModelConfig, type ModelConfig } from '../models/config.js';
import { tensorNames } from '../models/tensor-names.js';
import { createProgress } from '../progress.js';
import { renderHtmlReport } from '../page/html.js';
import { route, routeDefaults } from '../route/route.js';
import type { Device } from '../runtime/execution-provider.js';
import { openTrace } from '../trace.js';
import { version } from '../version.js';

export interface DiffOptions {
  modelA: string;
  modelB: string;
  /** With prompts, the routing diff as well. */
  prompts?: string;
  /** DIFF.html; the cached traces are named after it. */
  out: string;
  /** DIFF.json. */
  json?: string;
  device?: Device;
  warn?: (line: string) => void;
}

export async function diffCheckpoints(options: DiffOptions): Promise<DiffResult> {
  const { modelA, modelB, prompts, out, json, device = routeDefaults.device } = options;
  checkOutputFiles(out, json);
  const configA = readModelConfig(modelA);
  const configB = readModelConfig(modelB);
  const layers = moeLayers(configA);
  const E = configA.nRoutedExperts;

  const weights = withCheckpoints(modelA, modelB, (checkpointA, checkpointB) => {
    checkSameArchitecture({ dir: modelA, config: configA, checkpoint: checkpointA }, { dir: modelB, config: configB, checkpoint: checkpointB });
    if (prompts !== undefined) {
      checkSameTokenizer(modelA, modelB);
      readPrompts(prompts);
    }
    const progress = createProgress('diff weights', layers.length * E, 'experts');
    const diff = diffWeights(checkpointA, checkpointB, tensorNames(configA), layers, E, { onProgress: (done) => progress.set(done) });
    progress.done();
    return diff;
  });
  const routing = prompts === undefined ? undefined : await diffRouting(modelA, modelB, prompts, cachedTracePaths(out), device, options.warn);

  const result: DiffResult = { modelA, modelB, layers, nExperts: E, weights, routing, json: toDiffJson(weights, routing) };
  if (json !== undefined) writeFileAtomically(json, formatDiffJson(result.json));
  writeFileAtomically(out, renderHtmlReport(buildDiffPage(result)));
  return result;
}

function withCheckpoints<T>(dirA: string, dirB: string, use: (a: Checkpoint, b: Checkpoint) => T): T {
  const a = Checkpoint.open(dirA);
  try {
    const b = Checkpoint.open(dirB);
    try {
      return use(a, b);
    } finally {
      b.close();
    }
  } finally {
    a.close();
  }
}

/** Routes the prompts through both models (or reuses their cached traces) and compares the traces. */
async function diffRouting(
  modelA: string,
  modelB: string,
  prompts: string,
  files: { a: string; b: string },
  device: Device,
  warn?: (line: string) => void,
): Promise<RoutingResult> {
  // Both runs meet the same conditions (a provider that fails to load): say so once.
  const shown = new Set<string>();
  const warnOnce = (line: string) => {
    if (!shown.has(line)) warn?.(line);
    shown.add(line);
  };
  const a = await ensureTrace(files.a, modelA, prompts, device, warnOnce);
  const b = await ensureTrace(files.b, modelB, prompts, device, warnOnce);
  const traceA = openTrace(a.file);
  try {
    const traceB = openTrace(b.file);
    try {
      return { ...compareTraces(traceA, traceB), prompts, traces: { a, b } };
    } finally {
      traceB.close();
    }
  } finally {
    traceA.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------------------

interface Side {
  dir: string;
  config: ModelConfig;
  checkpoint: Checkpoint;
}

/**
 * Same model type, layer count, MoE layers, experts and routing layout, then the same tensors with the same
 * shapes (dtypes may differ: values are compared dequantised). Throws on the first difference, naming it.
 */
export function checkSameArchitecture(a: Side, b: Side): void {
  const differ = (what: string, valueA: unknown, valueB: unknown) =>
    new InputError(
      `${a.dir} and ${b.dir} differ in architecture: ${what} ${JSON.stringify(valueA)} vs ${JSON.stringify(valueB)} (diff compares checkpoints of the same architecture and expert layout)`,
      'diff-architecture',
    );
  const fields: Array<[string, (c: ModelConfig) => unknown]> = [
    ['model_type', (c) => c.modelType],
    ['num_hidden_layers', (c) => c.numLayers],
    ['MoE layers', (c) => moeLayers(c)],
    ['n_routed_experts', (c) => c.nRoutedExperts],
    ['num_experts_per_tok', (c) => c.topK],
    ['n_shared_experts', (c) => c.nSharedExperts],
    ['n_group', (c) => c.nGroup],
    ['topk_group', (c) => c.topkGroup],
    ['hidden_size', (c) => c.hiddenSize],
    ['moe_intermediate_size', (c) => c.moeIntermediateSize],
  ];
  for (const [name, get] of fields) {
    const [valueA, valueB] = [get(a.config), get(b.config)];
    if (JSON.stringify(valueA) !== JSON.stringify(valueB)) throw differ(`config.json ${name}`, valueA, valueB);
  }

  // FP8 block scales are not weights of their own: an FP8 and a BF16 release of one model compare fine.
  const weightNames = (checkpoint: Checkpoint) => checkpoint.names().filter((name) => !name.endsWith('_scale_inv'));
  const namesB = new Set(weightNames(b.checkpoint));
  const namesA = weightNames(a.checkpoint);
  for (const name of namesA) {
    if (!namesB.has(name)) throw differ(`tensor "${name}"`, 'present', 'missing');
    const [shapeA, shapeB] = [a.checkpoint.info(name).shape, b.checkpoint.info(name).shape];
    if (shapeA.join() !== shapeB.join()) throw differ(`tensor "${name}" shape`, shapeA, shapeB);
  }
  const setA = new Set(namesA);
  const extra = [...namesB].find((name) => !setA.has(name));
  if (extra !== undefined) throw differ(`tensor "${extra}"`, 'missing', 'present');

  // The weights diff reads router row e as expert e's.
  const { nRoutedExperts: E, hiddenSize: H } = a.config;
  for (const layer of moeLayers(a.config)) {
    const router = tensorNames(a.config).layer(layer).router;
    const shape = a.checkpoint.info(router).shape;
    if (shape.length !== 2 || shape[0] !== E || shape[1] !== H) {
      throw fileError(a.dir, 'diff-router-shape', `tensor "${router}": shape expected [${E}, ${H}] (n_routed_experts, hidden_size), found [${shape.join(', ')}]`);
    }
  }
}

/** tokenizer_config.json fields that change how prompts become token ids. */
const tokenizerConfigFields = ['add_bos_token', 'add_eos_token', 'bos_token', 'eos_token', 'tokenizer_class', 'added_tokens_decoder'];

/**
 * The routing diff compares token by token, so both models must split the prompts the same way: the same
 * tokenizer.json (as parsed JSON, key order aside) and the same tokenizer_config.json fields that matter.
 */
export function checkSameTokenizer(dirA: string, dirB: string): void {
  const a = tokenizerIdentity(dirA);
  const b = tokenizerIdentity(dirB);
  const refuse = (what: string) =>
    new InputError(
      `${dirA} and ${dirB} have different tokenizers (${what}): the routing diff needs both to split the prompts into the same tokens; leave out --prompts to compare the weights only`,
      'diff-tokenizer',
    );
  if (a.tokenizerHash !== b.tokenizerHash) throw refuse('tokenizer.json differs');
  for (const field of tokenizerConfigFields) {
    const [valueA, valueB] = [canonicalJson(a.config[field]), canonicalJson(b.config[field])];
    if (valueA !== valueB) throw refuse(`tokenizer_config.json "${field}" is ${valueA ?? 'absent'} vs ${valueB ?? 'absent'}`);
  }
}

function tokenizerIdentity(dir: string): { tokenizerHash: string; config: Record<string, unknown> } {
  const missing = "no such file (the routing diff needs each model's tokenizer)";
  const tokenizer = readJsonObject(path.join(dir, 'tokenizer.json'), { missing: 'tokenizer-missing', json: 'tokenizer-not-json', object: 'tokenizer-not-object' }, missing);
  const configFile = path.join(dir, 'tokenizer_config.json');
  const config = fs.existsSync(configFile)
    ? readJsonObject(configFile, { missing: 'tokenizer-config-missing', json: 'tokenizer-config-not-json', object: 'tokenizer-config-not-object' }, missing)
    : {};
  return { tokenizerHash: crypto.createHash('sha256').update(canonicalJson(tokenizer) ?? '').digest('hex'), config };
}

/** JSON text with object keys sorted, so two parses of equal content give equal text; undefined stays undefined. */
function canonicalJson(value: unknown): string | undefined {
  return JSON.stringify(value, (_, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) : v,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Cached traces
// ---------------------------------------------------------------------------------------------------------

/** Where the routing diff keeps each model's trace: next to DIFF.html, so a rerun reuses them. */
export function cachedTracePaths(out: string): { a: string; b: string } {
  return { a: `${out}.a.trace.safetensors`, b: `${out}.b.trace.safetensors` };
}

/** Reuses `file` when it is still a trace of these prompts through this model; otherwise routes them now. */
async function ensureTrace(file: string, model: string, prompts: string, device: Device, warn?: (line: string) => void): Promise<TraceSource> {
  if (fs.existsSync(file) && staleTraceReason(file, model, readPrompts(prompts)) === undefined) return { file, reused: true };
  try {
    // An interrupted diff left finished chunks behind: pick them up.
    await route({ prompts, model, out: file, device, resume: true, warn, resumeHint: 'run the same diff again to continue' });
  } catch (error) {
    // Chunks of an earlier run with other inputs are ours to throw away (the trace is a cache).
    if (!(error instanceof InputError && error.code === 'resume-mismatch')) throw error;
    fs.rmSync(`${file}.partial`, { recursive: true, force: true });
    await route({ prompts, model, out: file, device, warn });
  }
  return { file, reused: false };
}

/**
 * Why a cached trace cannot stand for routing `prompts` through `model` now, or undefined when it can: it must
 * come from `route` of this tool version, of the same model folder and config, hold exactly these prompts,
 * and be newer than every file of the model that routing reads.
 */
export function staleTraceReason(file: string, model: string, prompts: Prompt[]): string | undefined {
  let trace;
  try {
    trace = openTrace(file);
  } catch (error) {
    return `unreadable (${(error as Error).message})`;
  }
  try {
    const { metadata } = trace;
    if (metadata.source !== 'route') return `made by ${metadata.source}, not route`;
    if (metadata.tool_version !== version) return `made by version ${metadata.tool_version}`;
    if (metadata.model_dir !== path.resolve(model)) return `made from model ${metadata.model_dir}`;
    if (canonicalJson(trace.modelConfig()) !== canonicalJson(readModelConfig(model).raw)) return 'made with another config.json';
    if (!trace.hasPromptText || trace.nPrompts !== prompts.length) return 'made from other prompts';
    for (let p = 0; p < prompts.length; p++) {
      const label = trace.promptLabels && trace.promptLabels[p] >= 0 ? trace.labels[trace.promptLabels[p]] : undefined;
      if (trace.promptText(p) !== prompts[p].text || label !== prompts[p].label) return `made from other prompts (the prompt on line ${prompts[p].line} differs)`;
      if (trace.promptLines?.[p] !== prompts[p].line) return `made from the prompts at other lines (the prompt on line ${prompts[p].line} moved)`;
    }
    const traceTime = fs.statSync(file).mtimeMs;
    const newer = modelFiles(model).find((f) => fs.statSync(f).mtimeMs > traceTime);
    if (newer !== undefined) return `${newer} changed after it was made`;
    return undefined;
  } finally {
    trace.close();
  }
}

/** Every file of a model folder that routing reads. */
function modelFiles(model: string): string[] {
  const checkpoint = Checkpoint.open(model);
  checkpoint.close();
  const named = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors.index.json'].map((name) => path.join(model, name));
  return [...named.filter((f) => fs.existsSync(f)), ...checkpoint.shards];
}

// ---------------------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------------------

export function toDiffJson(weights: WeightsDiff, routing?: RoutingDiff): DiffJson {
  const json: DiffJson = {
    same_architecture: true,
    weights: {
      experts_ranked: weights.ranked.map((x) => ({ layer: x.layer, expert: x.expert, rel_change: x.relChange, router_cosine: x.routerCosine })),
      per_layer: weights.layers.map((l) => ({ layer: l.layer, mean_rel_change: l.meanRelChange, router_rel_change: l.routerRelChange })),
    },
  };
  if (routing) {
    json.routing = {
      per_layer: routing.layers.map((l) => ({ layer: l.layer, overlap: l.overlap, top1_agreement: l.top1Agreement, load_js_divergence: l.loadJsDivergence })),
    };
  }
  return json;
}

/**
 * DIFF.json text, one list entry per line so the file reads (and diffs) by expert and layer. A relative
 * change from an all-zero matrix is infinite and JSON has no Infinity: it is written as null.
 */
export function formatDiffJson(json: DiffJson): string {
  const list = (items: object[]) => (items.length === 0 ? '[]' : `[\n      ${items.map((item) => JSON.stringify(item)).join(',\n      ')}\n    ]`);
  const lines = [
    '{',
    '  "same_architecture": true,',
    '  "weights": {',
    `    "experts_ranked": ${list(json.weights.experts_ranked)},`,
    `    "per_layer": ${list(json.weights.per_layer)}`,
    json.routing ? '  },' : '  }',
  ];
  if (json.routing) lines.push('  "routing": {', `    "per_layer": ${list(json.routing.per_layer)}`, '  }');
  lines.push('}', '');
  return lines.join('\n');
}
