/**
 * `moe-inspect route`: tokenizes prompts, runs them through the model layer by layer over chunks of whole
 * prompts, and writes the routing trace (contract.md "Trace file").
 *
 * Order of work: chunks are grouped into passes; a pass loads each layer's weights once and runs every chunk
 * of the pass through it, so the weights in memory are one layer's whatever the model's depth. When all
 * layers fit in the weight budget they stay loaded and a pass is a single chunk. A pass's chunks are saved to
 * the work folder when it finishes; `--resume` skips them. A pass of streamed layers also saves its state after
 * every layer (pass-state.ts), so `--resume` continues it from its last finished layer.
 *
 * SIGINT and SIGTERM stop the run at the next layer (or chunk) boundary, after saving; a second signal stops it
 * at once.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileError, InputError } from '../errors.js';
import { Checkpoint } from '../loaders/checkpoint.js';
import { float32ToF16 } from '../loaders/dtypes.js';
import { readPromptFile, type Prompt } from '../loaders/prompts.js';
import { PromptTokenizer } from '../loaders/tokenizer.js';
import { moeLayers, readModelConfig, type ModelConfig } from '../models/config.js';
import { plural } from '../plural.js';
import { createProgress } from '../progress.js';
import { ModelRunner } from '../runtime/model-runner.js';
import type { Device } from '../runtime/execution-provider.js';
import { ffnKindOf, layersToRun, layerWeightBytes } from '../runtime/layer-weights.js';
import { Interrupted, watchSignals } from '../signals.js';
import { writeTrace } from '../trace.js';
import { version } from '../version.js';
import { planChunks, type Chunk } from './chunks.js';
import { passStatePath, readPassState, removePassState, savePassState, type PassDims, type PassState } from './pass-state.js';
import { signalAfterLayerForTest } from './test-interrupt.js';
import { WorkDir, type ChunkRecord, type RunFingerprint } from './work-dir.js';
import { checkOutputFiles, checkOutputFolder } from '../files.js';

export interface RouteOptions {
  prompts: string;
  model: string;
  out: string;
  device?: Device;
  batchTokens?: number;
  maxPromptTokens?: number;
  saveProbs?: boolean;
  /** Record spec_topk_ids: each MoE layer's gate applied to the previous layer's FFN input (analyses.md). */
  speculate?: boolean;
  resume?: boolean;
  bos?: boolean;
  /** Keep all layers' fp32 weights loaded when they fit in this many bytes. */
  weightBudgetBytes?: number;
  /** Load a MoE layer's routed experts one at a time when all of them take more fp32 bytes than this. */
  expertBudgetBytes?: number;
  /** Hidden states held at once when layers are streamed (bounds the tokens of one pass). */
  activationBudgetBytes?: number;
  warn?: (line: string) => void;
  /** What the run does beyond its output (what it resumed); default: a line on stderr. */
  note?: (line: string) => void;
  /** How the user continues an interrupted run, for the line printed on SIGINT/SIGTERM. */
  resumeHint?: string;
  /** Timing of each phase, for benchmarks: opening sessions, loading a layer's weights, running a layer on a chunk. */
  onTiming?: (timing: Timing) => void;
}

export type Timing =
  | { phase: 'open'; seconds: number }
  | { phase: 'load'; layer: number; seconds: number }
  /** attentionPairs: the (query, key) pairs causal attention really needs, sum over prompts of n(n+1)/2. */
  | { phase: 'run'; layer: number; tokens: number; attentionPairs: number; seconds: number };

export const routeDefaults = {
  device: 'auto' as Device,
  batchTokens: 2048,
  saveProbs: false,
  speculate: false,
  resume: false,
  bos: true,
  weightBudgetBytes: 2 * 1024 ** 3,
  expertBudgetBytes: 4 * 1024 ** 3,
  activationBudgetBytes: 1024 ** 3,
};

export interface RouteResult {
  out: string;
  tokens: number;
  prompts: number;
  /** Blank lines of the prompts file skipped, and prompts cut by --max-prompt-tokens. */
  blankLines: number;
  truncatedPrompts: number;
  chunks: number;
  /** Chunks the interrupted run had finished, and the pass it had saved between layers, when resuming. */
  resumedChunks: number;
  resumedPass?: { pass: number; passes: number; afterLayer: number };
  provider: string;
}

interface EncodedPrompts {
  ids: Int32Array[];
  spans: Array<Array<[number, number]>>;
  bytes: Uint8Array[];
  /** Prompts cut by --max-prompt-tokens. */
  truncated: number;
}

export async function route(options: RouteOptions): Promise<RouteResult> {
  const {
    prompts: promptsFile,
    model,
    out,
    device = routeDefaults.device,
    batchTokens = routeDefaults.batchTokens,
    maxPromptTokens,
    saveProbs = routeDefaults.saveProbs,
    speculate = routeDefaults.speculate,
    resume = routeDefaults.resume,
    bos = routeDefaults.bos,
    weightBudgetBytes = routeDefaults.weightBudgetBytes,
    expertBudgetBytes = routeDefaults.expertBudgetBytes,
    activationBudgetBytes = routeDefaults.activationBudgetBytes,
  } = options;
  if (!Number.isInteger(batchTokens) || batchTokens < 1) throw new InputError(`invalid --batch-tokens: ${batchTokens} (expected a positive integer)`, 'usage-batch-tokens');

  if (path.resolve(out) === path.resolve(promptsFile)) throw fileError(out, 'usage-out-is-input', '--out names the prompts file itself; choose another output');
  checkOutputFiles(out);
  checkOutputFolder(WorkDir.pathFor(out));
  const config = readModelConfig(model);
  const { prompts, blankLines } = readPromptFile(promptsFile);
  const tokenizer = PromptTokenizer.load(model);
  const encoded = encodePrompts(prompts, tokenizer, config, promptsFile, { bos, maxPromptTokens });
  const lengths = encoded.ids.map((ids) => ids.length);
  const chunks = planChunks(lengths, batchTokens);
  const layers = moeLayers(config);
  if (layers.length === 0) throw fileError(path.join(model, 'config.json'), 'config-no-moe', `the model has no MoE layer (${plural(config.numLayers, 'layer')}, first_k_dense_replace ${config.firstKDenseReplace}): there is no routing to record`);
  const { topK: K, nRoutedExperts: E } = config;
  // Models with e_score_correction_bias also record the choice without it (analyses.md).
  const hasBias = config.topkMethod === 'noaux_tc';

  const checkpoint = Checkpoint.open(model);
  const fingerprint = runFingerprint(promptsFile, model, checkpoint, { batchTokens, maxPromptTokens: maxPromptTokens ?? null, saveProbs, speculate, bos, expertBudgetBytes });
  const kindOf = ffnKindOf(config, expertBudgetBytes);
  const totalWeightBytes = Array.from({ length: layersToRun(config) }, (_, l) => layerWeightBytes(config, l, kindOf(l))).reduce((a, b) => a + b, 0);
  const keepAllWeights = totalWeightBytes <= weightBudgetBytes;
  const opening = performance.now();
  const runner = await ModelRunner.open(checkpoint, config, { device, saveProbs, speculate, keepAllWeights, expertBudgetBytes, warn: options.warn });
  options.onTiming?.({ phase: 'open', seconds: (performance.now() - opening) / 1000 });
  // The work folder is made only once the model has loaded, so bad input leaves nothing to clear away.
  // Speculating keeps each token's FFN input beside its hidden state: two (H) fp32 vectors a token.
  const activationBytesPerToken = 4 * config.hiddenSize * (speculate ? 2 : 1);
  const tokensPerPass = keepAllWeights ? 0 : Math.max(1, Math.floor(activationBudgetBytes / activationBytesPerToken));
  const passNumbers = numberPasses(chunks, tokensPerPass);
  const dims = { H: config.hiddenSize, L: layers.length, K, E };
  const resuming = resume && fs.existsSync(WorkDir.pathFor(out));
  let work: WorkDir;
  let savedPass: PassState | undefined;
  try {
    work = WorkDir.open(out, fingerprint, resume);
    savedPass = resuming ? resumablePass(work, chunks, dims, { saveProbs, speculate }, layersToRun(config)) : undefined;
  } catch (error) {
    await runner.close();
    checkpoint.close();
    throw error;
  }
  const note = options.note ?? ((line: string) => process.stderr.write(`moe-inspect: ${line}\n`));
  const pending = chunks.filter((c) => !work.isDone(c.index) && !savedPass?.chunks.includes(c.index));
  const passes = [...(savedPass ? [savedPass.chunks.map((i) => chunks[i])] : []), ...groupIntoPasses(pending, tokensPerPass)];
  const finishedChunks = () => chunks.filter((c) => work.isDone(c.index)).length;
  const resumedChunks = finishedChunks();
  if (resuming) note(resumeLine(savedPass, resumedChunks, chunks.length));

  const totalTokens = lengths.reduce((a, b) => a + b, 0);
  const layersLeft = (pass: Chunk[]) => layersToRun(config) - (pass === passes[0] && savedPass ? savedPass.afterLayer + 1 : 0);
  const progress = createProgress('route', passes.reduce((sum, pass) => sum + (passTokens(pass) * layersLeft(pass)) / layersToRun(config), 0), 'tok');
  const saved = () => `${finishedChunks()} of ${plural(chunks.length, 'chunk')}`;
  const resumeHint = options.resumeHint ?? 'run again with --resume to continue';
  const inProgress = keepAllWeights ? 'chunk' : 'layer';
  const watch = watchSignals({ onSecond: () => `interrupted again: stopped at once; the ${inProgress} in progress is lost, what was saved before it is in ${work.dir}; ${resumeHint}` });
  try {
    for (const pass of passes) {
      const { pass: number, passes: count } = passNumbers(pass[0].index);
      // After each layer of a streamed pass, its state is saved; a signal received meanwhile stops the run there.
      const layerDone = keepAllWeights
        ? undefined
        : async (layer: number, hidden: Float32Array[], records: ChunkRecord[], ffnInput?: Float32Array[]) => {
            await signalAfterLayerForTest(layer, watch);
            savePassState(work.dir, { pass: number, passes: count, chunks: pass.map((c) => c.index), afterLayer: layer, hidden, ffnInput, records }, dims);
            if (watch.received) throw new Interrupted(watch.received, `interrupted: saved pass ${number} of ${count} after layer ${layer} and ${saved()} in ${work.dir}; ${resumeHint}`);
          };
      const resumeFrom = pass === passes[0] ? savedPass : undefined;
      const records = await runPass(runner, config, layers, pass, encoded.ids, { saveProbs, speculate }, resumeFrom, { advance: (tokens) => progress.advance(tokens / layersToRun(config)), onTiming: options.onTiming, layerDone });
      pass.forEach((chunk, i) => work.save(chunk.index, chunk.tokenEnd - chunk.tokenStart, layers.length, K, E, records[i]));
      removePassState(work.dir);
      if (watch.received && pass !== passes[passes.length - 1]) throw new Interrupted(watch.received, `interrupted: saved ${saved()} in ${work.dir}; ${resumeHint}`);
    }
  } catch (error) {
    // A run that fails before finishing any chunk or layer leaves nothing worth resuming.
    if (!(error instanceof Interrupted) && finishedChunks() === 0 && !fs.existsSync(passStatePath(work.dir))) work.remove();
    throw error;
  } finally {
    watch.dispose();
    await runner.close();
    checkpoint.close();
  }
  progress.done();

  writeTrace(out, {
    metadata: {
      model_type: config.modelType,
      n_routed_experts: E,
      num_experts_per_tok: K,
      model_config: JSON.stringify(config.raw),
      model_dir: path.resolve(model),
      labels: labelsOf(prompts),
      source: 'route',
      prompts_file: path.resolve(promptsFile),
      execution_provider: runner.provider,
      batch_tokens: batchTokens,
      bos_added: bos && tokenizer.addBos,
      truncated_prompts: encoded.truncated,
    },
    layers,
    tokenIds: concat(encoded.ids, (n) => new Int32Array(n)),
    promptOffsets: cumulative(lengths),
    topkIds: eachChunk(chunks, (index) => work.read(index, 'topk_ids')),
    topkWeights: eachChunk(chunks, (index) => work.read(index, 'topk_weights')),
    routerProbSum: sumScoreSums(work, chunks, layers.length * E),
    routerProbs: saveProbs ? eachChunk(chunks, (index) => work.read(index, 'router_probs')) : undefined,
    specTopkIds: speculate ? eachChunk(chunks, (index) => work.read(index, 'spec_topk_ids')) : undefined,
    unbiasedTopkIds: hasBias ? eachChunk(chunks, (index) => work.read(index, 'unbiased_topk_ids')) : undefined,
    tokenText: tokenText(encoded),
    promptText: { bytes: concat(encoded.bytes, (n) => new Uint8Array(n)), offsets: cumulative(encoded.bytes.map((b) => b.length)) },
    promptLabels: promptLabels(prompts),
    promptLines: Int32Array.from(prompts, (p) => p.line),
  });
  work.remove();
  return { out, tokens: totalTokens, prompts: prompts.length, blankLines, truncatedPrompts: encoded.truncated, chunks: chunks.length, resumedChunks, resumedPass: savedPass && { pass: savedPass.pass, passes: savedPass.passes, afterLayer: savedPass.afterLayer }, provider: runner.provider };
}

interface PassHooks {
  advance: (tokens: number) => void;
  onTiming: RouteOptions['onTiming'];
  /** After every layer but the last: the chunks' hidden states, their routing so far, and with speculate their FFN inputs. */
  layerDone?: (layer: number, hidden: Float32Array[], records: ChunkRecord[], ffnInput?: Float32Array[]) => Promise<void>;
}

/**
 * Runs the chunks of one pass through every layer, or through the layers after a saved state's; returns each
 * chunk's routing record.
 */
async function runPass(
  runner: ModelRunner,
  config: ModelConfig,
  layers: number[],
  pass: Chunk[],
  ids: Int32Array[],
  recording: { saveProbs: boolean; speculate: boolean },
  resumeFrom: PassState | undefined,
  { advance, onTiming, layerDone }: PassHooks,
): Promise<ChunkRecord[]> {
  const { topK: K, nRoutedExperts: E } = config;
  const L = layers.length;
  const activations = pass.map((chunk) => runner.embed(ids.slice(chunk.promptStart, chunk.promptEnd)));
  const attentionPairs = pass.map((chunk) => ids.slice(chunk.promptStart, chunk.promptEnd).reduce((sum, p) => sum + (p.length * (p.length + 1)) / 2, 0));
  const records: ChunkRecord[] =
    resumeFrom?.records ??
    activations.map(({ tokens }) => ({
      topkIds: new Int32Array(tokens * L * K),
      topkWeights: new Float32Array(tokens * L * K),
      scoreSum: new Float64Array(L * E),
      scores: recording.saveProbs ? new Uint16Array(tokens * L * E) : undefined,
      // -1 stays where a MoE layer has no previous layer (layer 0).
      specTopkIds: recording.speculate ? new Int32Array(tokens * L * K).fill(-1) : undefined,
      unbiasedTopkIds: config.topkMethod === 'noaux_tc' ? new Int32Array(tokens * L * K) : undefined,
    }));
  resumeFrom?.hidden.forEach((hidden, c) => (activations[c].hidden = hidden));
  resumeFrom?.ffnInput?.forEach((ffnInput, c) => (activations[c].ffnInput = ffnInput));
  // Layers after the last MoE layer change no recorded routing: they are not run (nor the final norm and head).
  for (let layer = resumeFrom ? resumeFrom.afterLayer + 1 : 0; layer < layersToRun(config); layer++) {
    const loading = performance.now();
    await runner.loadLayer(layer);
    onTiming?.({ phase: 'load', layer, seconds: (performance.now() - loading) / 1000 });
    const slot = layers.indexOf(layer);
    const started = performance.now();
    const expertLoadBefore = runner.expertLoadSeconds;
    const routings = await runner.runLayer(layer, activations);
    const expertLoad = runner.expertLoadSeconds - expertLoadBefore;
    const passTokens = activations.reduce((sum, a) => sum + a.tokens, 0);
    const passPairs = attentionPairs.reduce((a, b) => a + b, 0);
    if (expertLoad > 0) onTiming?.({ phase: 'load', layer, seconds: expertLoad });
    onTiming?.({ phase: 'run', layer, tokens: passTokens, attentionPairs: passPairs, seconds: (performance.now() - started) / 1000 - expertLoad });
    advance(passTokens);
    for (let c = 0; c < pass.length; c++) {
      const routing = routings[c];
      const T = activations[c].tokens;
      if (!routing) continue;
      // Rearrange (T, K) of this layer into the record's (T, L, K) layout.
      const record = records[c];
      for (let t = 0; t < T; t++) {
        record.topkIds.set(routing.topkIds.subarray(t * K, (t + 1) * K), (t * L + slot) * K);
        record.topkWeights.set(routing.topkWeights.subarray(t * K, (t + 1) * K), (t * L + slot) * K);
        if (record.unbiasedTopkIds) record.unbiasedTopkIds.set(routing.unbiasedTopkIds!.subarray(t * K, (t + 1) * K), (t * L + slot) * K);
        if (record.scores) record.scores.set(float32ToF16(routing.scores!.subarray(t * E, (t + 1) * E)), (t * L + slot) * E);
        if (record.specTopkIds && routing.specTopkIds) record.specTopkIds.set(routing.specTopkIds.subarray(t * K, (t + 1) * K), (t * L + slot) * K);
      }
      for (let e = 0; e < E; e++) record.scoreSum[slot * E + e] += routing.scoreSum[e];
    }
    if (layer < layersToRun(config) - 1) await layerDone?.(layer, activations.map((a) => a.hidden), records, recording.speculate ? activations.map((a) => a.ffnInput!) : undefined);
  }
  return records;
}

/** Pass number (1-based) and pass count of the pass that starts with a chunk, in the run's plan of all its chunks. */
function numberPasses(chunks: Chunk[], tokensPerPass: number): (firstChunk: number) => { pass: number; passes: number } {
  const passes = groupIntoPasses(chunks, tokensPerPass);
  const passOf = new Map(passes.flatMap((pass, p) => pass.map((chunk) => [chunk.index, p + 1] as const)));
  return (firstChunk) => ({ pass: passOf.get(firstChunk)!, passes: passes.length });
}

/**
 * The saved state of an interrupted pass, checked against this run, or undefined when there is none or all of
 * its chunks were saved whole after all (a kill between saving them and removing the state).
 */
function resumablePass(work: WorkDir, chunks: Chunk[], { H, L, K, E }: PassDims, recording: { saveProbs: boolean; speculate: boolean }, layersRun: number): PassState | undefined {
  const state = readPassState(work.dir);
  if (!state) return undefined;
  const mismatch = () => fileError(passStatePath(work.dir), 'pass-state', 'the saved pass does not match this run\'s chunks; delete the work folder to start over');
  if (state.chunks.some((index) => !chunks[index]) || state.afterLayer >= layersRun - 1) throw mismatch();
  state.chunks.forEach((index, c) => {
    const T = chunks[index].tokenEnd - chunks[index].tokenStart;
    const record = state.records[c];
    const sizes = [state.hidden[c].length === T * H, record.topkIds.length === T * L * K, record.topkWeights.length === T * L * K, record.scoreSum.length === L * E];
    if (recording.speculate) sizes.push(state.ffnInput?.[c].length === T * H, record.specTopkIds?.length === T * L * K);
    if (sizes.includes(false) || (record.scores !== undefined) !== recording.saveProbs || (record.specTopkIds !== undefined) !== recording.speculate) throw mismatch();
  });
  if (state.chunks.every((index) => work.isDone(index))) {
    removePassState(work.dir);
    return undefined;
  }
  return state;
}

function resumeLine(savedPass: PassState | undefined, finished: number, total: number): string {
  const chunksLine = `${finished} of ${plural(total, 'chunk')} finished`;
  if (savedPass) return `resumed pass ${savedPass.pass} of ${savedPass.passes} after layer ${savedPass.afterLayer} (${chunksLine} before it)`;
  if (finished > 0) return `resumed after ${chunksLine}`;
  return 'nothing to resume: the interrupted run had finished no chunk and no layer; starting from the beginning';
}

function passTokens(pass: Chunk[]): number {
  return pass.reduce((sum, chunk) => sum + chunk.tokenEnd - chunk.tokenStart, 0);
}

/** Consecutive chunks up to `tokensPerPass` tokens together (0: one chunk per pass). */
function groupIntoPasses(chunks: Chunk[], tokensPerPass: number): Chunk[][] {
  const passes: Chunk[][] = [];
  let tokens = 0;
  for (const chunk of chunks) {
    const size = chunk.tokenEnd - chunk.tokenStart;
    if (passes.length === 0 || tokensPerPass === 0 || tokens + size > tokensPerPass) {
      passes.push([]);
      tokens = 0;
    }
    passes[passes.length - 1].push(chunk);
    tokens += size;
  }
  return passes;
}

function encodePrompts(
  prompts: Prompt[],
  tokenizer: PromptTokenizer,
  config: ModelConfig,
  file: string,
  options: { bos: boolean; maxPromptTokens?: number },
): EncodedPrompts {
  const limit = config.maxPositionEmbeddings;
  if (options.maxPromptTokens !== undefined && (!Number.isInteger(options.maxPromptTokens) || options.maxPromptTokens < 1 || options.maxPromptTokens > limit)) {
    throw new InputError(`invalid --max-prompt-tokens: ${options.maxPromptTokens} (expected 1 to max_position_embeddings ${limit})`, 'usage-max-prompt-tokens');
  }
  const encoded: EncodedPrompts = { ids: [], spans: [], bytes: [], truncated: 0 };
  const encoder = new TextEncoder();
  prompts.forEach((prompt) => {
    let { ids, byteSpans } = tokenizer.encode(prompt.text, { addBos: options.bos });
    let bytes = encoder.encode(prompt.text);
    if (ids.length > (options.maxPromptTokens ?? limit)) {
      if (options.maxPromptTokens === undefined) {
        throw fileError(file, 'prompt-too-long', `the prompt on line ${prompt.line} has ${ids.length} tokens, more than the model's max_position_embeddings ${limit} (add --max-prompt-tokens N to truncate)`);
      }
      ids = ids.slice(0, options.maxPromptTokens);
      byteSpans = byteSpans.slice(0, options.maxPromptTokens);
      // The prompt's text becomes the bytes its kept tokens cover, so its tokens still concatenate to its text.
      bytes = bytes.subarray(0, byteSpans.reduce((end, [, spanEnd]) => Math.max(end, spanEnd), 0));
      encoded.truncated++;
    }
    encoded.ids.push(Int32Array.from(ids));
    encoded.spans.push(byteSpans);
    encoded.bytes.push(bytes);
  });
  return encoded;
}

/** The bytes each token covers, concatenated in token order (empty for an added BOS). */
function tokenText(encoded: EncodedPrompts): { bytes: Uint8Array; offsets: number[] } {
  const parts: Uint8Array[] = [];
  const offsets = [0];
  encoded.spans.forEach((spans, p) => {
    for (const [start, end] of spans) {
      parts.push(encoded.bytes[p].subarray(start, end));
      offsets.push(offsets[offsets.length - 1] + end - start);
    }
  });
  return { bytes: concat(parts, (n) => new Uint8Array(n)), offsets };
}

function runFingerprint(promptsFile: string, model: string, checkpoint: Checkpoint, options: Record<string, number | boolean | null>): RunFingerprint {
  const hash = (data: Uint8Array | string) => crypto.createHash('sha256').update(data).digest('hex');
  return {
    tool_version: version,
    prompts_sha256: hash(fs.readFileSync(promptsFile)),
    config_sha256: hash(fs.readFileSync(path.join(model, 'config.json'))),
    // Name, size and modification time: a re-synthesized or re-downloaded shard of the same size still counts as new,
    // without reading (and hashing) hundreds of GB.
    weights: checkpoint.shards
      .map((shard) => {
        const { size, mtimeMs } = fs.statSync(shard);
        return `${path.basename(shard)}:${size}:${Math.trunc(mtimeMs)}`;
      })
      .join(','),
    ...options,
  };
}

/** Reads chunk by chunk as the trace writer asks, so the whole trace is never in memory. */
function* eachChunk<T>(chunks: Chunk[], read: (index: number) => T): Iterable<T> {
  for (const chunk of chunks) yield read(chunk.index);
}

function sumScoreSums(work: WorkDir, chunks: Chunk[], size: number): Float64Array {
  const total = new Float64Array(size);
  for (const chunk of chunks) work.read(chunk.index, 'score_sum').forEach((v, i) => (total[i] += v));
  return total;
}

function labelsOf(prompts: Prompt[]): string[] {
  return [...new Set(prompts.flatMap((p) => (p.label === undefined ? [] : [p.label])))];
}

function promptLabels(prompts: Prompt[]): Int32Array | undefined {
  const labels = labelsOf(prompts);
  if (labels.length === 0) return undefined;
  return Int32Array.from(prompts, (p) => (p.label === undefined ? -1 : labels.indexOf(p.label)));
}

function cumulative(lengths: number[]): number[] {
  const offsets = [0];
  for (const length of lengths) offsets.push(offsets[offsets.length - 1] + length);
  return offsets;
}

/** Joins typed arrays end to end. */
function concat<T extends Int32Array | Uint8Array>(parts: T[], make: (length: number) => T): T {
  const out = make(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
