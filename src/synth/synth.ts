/**
 * `moe-inspect synth`: writes a random checkpoint in the Hugging Face layout (config.json, sharded
 * safetensors with model.safetensors.index.json, tokenizer.json, tokenizer_config.json).
 *
 * Every tensor draws from its own seeded stream (seed + tensor name), so `--layers` and `--perturb` change
 * nothing else, and the f32, bf16 and fp8 checkpoints of one seed store the same values at three precisions.
 * `--planted` plants a known specialization (see plantSpecialization below), recorded in config.json under
 * `moe_inspect_synth.planted` so analyses have an answer to be checked against.
 */
import fs from 'node:fs';
import path from 'node:path';
import { assetPath } from '../assets.js';
import { fileError, InputError } from '../errors.js';
import { defaults as checkpointDefaults } from '../loaders/checkpoint.js';
import { dtypeBytes, float32ToBf16, quantizeFp8Blocks } from '../loaders/dtypes.js';
import { SafetensorsWriter, type TensorSpec } from '../loaders/safetensors-writer.js';
import { isMoeLayer, moeLayers, parseModelConfig, type ModelConfig } from '../models/config.js';
import { attentionTensors, checkpointTensors, expertTensors, ffnTensors, tensorNames } from '../models/tensor-names.js';
import { checkOutputFolder, writeAtomically } from '../files.js';
import { yieldToSignals } from '../signals.js';
import { trainByteLevelBpe } from './bpe-trainer.js';
import { trainMetaspaceBpe } from './metaspace-bpe-trainer.js';
import { findPreset, type Preset } from './presets.js';
import { tensorStream, unitVector } from '../random.js';
import { plantedClass, type PlantedClass } from '../analysis/token-classes.js';

export interface SynthOptions {
  preset: string;
  out: string;
  seed?: number;
  dtype?: SynthDtype;
  /** Keep only the first N decoder layers. */
  layers?: number;
  planted?: boolean;
  perturb?: Perturbation[];
  /** Replace an existing non-empty output folder. */
  force?: boolean;
  onProgress?: (bytesWritten: number, totalBytes: number) => void;
}

export interface Perturbation {
  layer: number;
  expert: number;
  scale: number;
}

/** How weights are stored: fp8 is DeepSeek-V3's F8_E4M3 with per-block scales (architecture.md 3.2, 3.3). */
export const synthDtypes = ['f32', 'bf16', 'fp8'] as const;
export type SynthDtype = (typeof synthDtypes)[number];

export const synthDefaults = { seed: 0, dtype: 'bf16', planted: false } as const;

/** What `--planted` plants: token classes, the experts each prefers, and the first MoE layer that prefers them. */
export interface PlantedSpecialization {
  fromLayer: number;
  experts: Record<TokenClass, number[]>;
}
type TokenClass = PlantedClass;

export interface SynthResult {
  dir: string;
  config: ModelConfig;
  shards: string[];
  bytes: number;
  planted?: PlantedSpecialization;
}

/** About this many values are generated and written per step, so memory stays small whatever the tensor size. */
const valuesPerPart = 8 << 20;

/**
 * Rows generated per step for a tensor `cols` wide, a multiple of `rowMultiple`. FP8 tensors pass their block
 * height, so each part holds whole block rows and every block is quantised from its exact values at once.
 */
const rowsPerPart = (cols: number, rowMultiple: number) => Math.max(1, Math.floor(valuesPerPart / cols / rowMultiple)) * rowMultiple;

/** A tensor to write, with the dtype it is stored in. */
export interface PlannedTensor extends TensorSpec {
  /** FP8 weights only: their F32 block scales, stored right after them as `<name>_scale_inv`. */
  scaleInv?: TensorSpec;
}

/**
 * Every tensor synth writes for `config` at `dtype`, in file order. With fp8, as in the DeepSeek-V3 releases,
 * the 2-D linear weights of attention, dense MLP, routed and shared experts are F8_E4M3, each with an F32
 * `<name>_scale_inv` of [ceil(out/b0), ceil(in/b1)] for config.json's weight_block_size [b0, b1]; the router,
 * norms, embedding and lm_head stay BF16. V3's e_score_correction_bias is F32 whatever the dtype: its
 * precision decides near-tie routing (architecture.md 5.3).
 */
export function plannedTensors(config: ModelConfig, dtype: SynthDtype): PlannedTensor[] {
  const { fp8Weights, routerBiases } = tensorRoles(config);
  const block = config.fp8BlockSize;
  if (dtype === 'fp8' && !block) throw new Error('plannedTensors: fp8 needs the config\'s quantization_config.weight_block_size');
  return checkpointTensors(config).map(({ name, shape }): PlannedTensor => {
    if (routerBiases.has(name)) return { name, shape, dtype: 'F32' };
    if (dtype === 'fp8' && fp8Weights.has(name)) {
      const [rows, cols] = shape;
      const scaleShape = [Math.ceil(rows / block![0]), Math.ceil(cols / block![1])];
      return { name, shape, dtype: 'F8_E4M3', scaleInv: { name: `${name}_scale_inv`, shape: scaleShape, dtype: 'F32' } };
    }
    return { name, shape, dtype: dtype === 'f32' ? 'F32' : 'BF16' };
  });
}

/**
 * Names of the tensors whose dtype differs from the rest: FP8-quantisable linear weights (every layer matrix but the
 * router and Qwen's shared-expert gate, as in the V3 releases) and V3 router biases.
 */
function tensorRoles(config: ModelConfig): { fp8Weights: Set<string>; routerBiases: Set<string> } {
  const fp8Weights = new Set<string>();
  const routerBiases = new Set<string>();
  for (let l = 0; l < config.numLayers; l++) {
    const n = tensorNames(config).layer(l);
    for (const { name, shape } of [...attentionTensors(config, l), ...ffnTensors(config, l)]) {
      if (name === n.routerBias) routerBiases.add(name);
      else if (shape.length === 2 && name !== n.router && name !== n.sharedExpertGate) fp8Weights.add(name);
    }
  }
  return { fp8Weights, routerBiases };
}

export async function synthesize(options: SynthOptions): Promise<SynthResult> {
  const { preset: presetName, out, seed = synthDefaults.seed, dtype = synthDefaults.dtype, planted = synthDefaults.planted, perturb = [], force = false } = options;
  const preset = findPreset(presetName);
  const rawConfig = preset.config();

  if (options.layers !== undefined) {
    const available = rawConfig.num_hidden_layers as number;
    if (!Number.isInteger(options.layers) || options.layers < 1 || options.layers > available) {
      throw new InputError(`invalid --layers: ${options.layers} (preset ${preset.name} has 1 to ${available} layers)`, 'usage-layers');
    }
    // A model without a MoE layer has no routing to record: refused here rather than by route later.
    const firstMoe = moeLayers(parseModelConfig(preset.config(), `preset ${preset.name}`))[0];
    if (options.layers <= firstMoe) {
      throw new InputError(`invalid --layers: ${options.layers} leaves no MoE layer (the first MoE layer of preset ${preset.name} is layer ${firstMoe}; use --layers ${firstMoe + 1} or more)`, 'usage-layers');
    }
    rawConfig.num_hidden_layers = options.layers;
  }

  const corpus = fs.readFileSync(assetPath('prompts', 'demo.txt'), 'utf8');
  const { tokenizer, tokenizerConfig } = tokenizerTrainers[preset.tokenizer](corpus, { vocabSize: Math.min(4096, rawConfig.vocab_size as number) });
  const specialIds = specialTokenIds(tokenizer, tokenizerConfig);
  rawConfig.bos_token_id = specialIds.bos;
  rawConfig.eos_token_id = specialIds.eos;
  describeStorage(rawConfig, dtype);

  const config = parseModelConfig(rawConfig, `preset ${preset.name}`);
  for (const p of perturb) checkPerturbation(p, config);
  const plantedSpec = planted ? plantedExperts(config) : undefined;
  rawConfig.moe_inspect_synth = { preset: preset.name, seed, dtype, planted: plantedSpec ?? null, perturb };

  const plan = plannedTensors(config, dtype);
  const shards = assignShards(plan, preset.shardBytes);
  const totalBytes = plan.reduce((sum, t) => sum + storedBytes(t), 0);
  const draw: DrawContext = { config, seed, perturb, planted: plantedSpec && { spec: plantedSpec, directions: plantDirections(config, seed), tokenClasses: classifyTokens(tokenizer) } };

  prepareOutput(out, force);
  checkFreeSpace(out, totalBytes, preset.name);
  await writeAtomically(out, async (tmpDir) => {
    fs.mkdirSync(tmpDir, { recursive: true });
    let written = 0;
    const onBytes = (bytes: number) => {
      written += bytes;
      options.onProgress?.(written, totalBytes);
    };
    for (const shard of shards) {
      const writer = SafetensorsWriter.create(path.join(tmpDir, shard.file), shard.tensors.flatMap(fileEntries), { format: 'pt' });
      try {
        for (const tensor of shard.tensors) await writeTensor(writer, tensor, draw, config.fp8BlockSize, onBytes);
        writer.finish();
      } catch (error) {
        writer.abort();
        throw error;
      }
    }
    if (shards.length > 1) {
      const weightMap = Object.fromEntries(shards.flatMap((s) => s.tensors.flatMap(fileEntries).map((t) => [t.name, s.file])));
      writeJson(path.join(tmpDir, 'model.safetensors.index.json'), { metadata: { total_size: totalBytes }, weight_map: weightMap });
    }
    writeJson(path.join(tmpDir, 'config.json'), rawConfig);
    writeJson(path.join(tmpDir, 'tokenizer.json'), tokenizer);
    writeJson(path.join(tmpDir, 'tokenizer_config.json'), tokenizerConfig);
  });
  return { dir: out, config, shards: shards.map((s) => s.file), bytes: totalBytes, planted: plantedSpec };
}

/** The tokenizer trainer for each pre-tokenizer a preset can ask for. */
const tokenizerTrainers: Record<Preset['tokenizer'], typeof trainByteLevelBpe> = {
  'byte-level': trainByteLevelBpe,
  metaspace: trainMetaspaceBpe,
};

/**
 * config.json's quantization_config describes the stored weights, so it is there exactly when they are FP8.
 * A preset's own quantization_config chooses the block size; otherwise DeepSeek-V3's 128x128.
 */
function describeStorage(rawConfig: Record<string, unknown>, dtype: SynthDtype): void {
  const presetQuantization = rawConfig.quantization_config as { weight_block_size?: unknown } | undefined;
  delete rawConfig.quantization_config;
  if (dtype !== 'fp8') return;
  rawConfig.quantization_config = {
    activation_scheme: 'dynamic',
    fmt: 'e4m3',
    quant_method: 'fp8',
    weight_block_size: presetQuantization?.weight_block_size ?? checkpointDefaults.fp8BlockSize,
  };
}

/** The tensors a planned tensor puts in its shard file: itself, then its scales when it has them. */
function fileEntries({ name, shape, dtype, scaleInv }: PlannedTensor): TensorSpec[] {
  const weight = { name, shape, dtype };
  return scaleInv ? [weight, scaleInv] : [weight];
}

/** Bytes a planned tensor takes on disk, its scales included. */
function storedBytes(tensor: PlannedTensor): number {
  return fileEntries(tensor).reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1) * dtypeBytes[t.dtype], 0);
}

/** What drawing a tensor's values depends on besides its name. */
interface DrawContext {
  config: ModelConfig;
  seed: number;
  perturb: Perturbation[];
  planted?: { spec: PlantedSpecialization; directions: Record<TokenClass, Float32Array>; tokenClasses: Map<number, TokenClass> };
}

/**
 * Generates one tensor in row parts and writes each part in its stored dtype. FP8 parts are whole block rows;
 * their scales are gathered (they are small) and written after the weight, as the released shards order them.
 */
async function writeTensor(writer: SafetensorsWriter, tensor: PlannedTensor, draw: DrawContext, fp8Block: [number, number] | null, onBytes: (bytes: number) => void): Promise<void> {
  const [rows, cols] = tensor.shape.length === 1 ? [1, tensor.shape[0]] : tensor.shape;
  const fp8 = tensor.dtype === 'F8_E4M3' ? { block: fp8Block!, scaleInv: new Float32Array(tensor.scaleInv!.shape[0] * tensor.scaleInv!.shape[1]) } : undefined;
  const partRows = rowsPerPart(cols, fp8 ? fp8.block[0] : 1);
  const stream = tensorStream(draw.seed, tensor.name);
  const init = initializer(draw.config, tensor.name);
  for (let row = 0; row < rows; row += partRows) {
    const count = Math.min(partRows, rows - row);
    const values = new Float32Array(count * cols);
    for (let i = 0; i < values.length; i++) values[i] = init.mean + init.std * stream();
    if (draw.planted) plantSpecialization(draw.config, draw.planted.spec, draw.planted.directions, draw.planted.tokenClasses, tensor.name, row, cols, values);
    for (const p of draw.perturb) if (isPerturbed(draw.config, tensor.name, p)) values.forEach((v, i) => (values[i] = v * p.scale));
    let stored: ArrayBufferView;
    if (fp8) {
      const { codes, scaleInv } = quantizeFp8Blocks(values, count, cols, fp8.block);
      fp8.scaleInv.set(scaleInv, (row / fp8.block[0]) * tensor.scaleInv!.shape[1]);
      stored = codes;
    } else {
      stored = tensor.dtype === 'F32' ? values : float32ToBf16(values);
    }
    writer.write(tensor.name, stored);
    onBytes(stored.byteLength);
    // Gigabytes take a while: a Ctrl-C meanwhile is handled here (writeAtomically then removes the temporary folder).
    await yieldToSignals();
  }
  if (fp8) {
    writer.write(tensor.scaleInv!.name, fp8.scaleInv);
    onBytes(fp8.scaleInv.byteLength);
  }
}

/**
 * Scales chosen so activations keep unit size through the layers and router logits have a spread of about 1,
 * which gives varied, non-degenerate routing. Draws are uniform with the given mean and standard deviation.
 * A matrix reading a unit-size input gets std 1/sqrt(fan-in), so its outputs are of unit size too; matrices
 * that write into the residual stream (o_proj, down projections) get half that, so the stream grows slowly.
 */
function initializer(config: ModelConfig, name: string): { mean: number; std: number } {
  const { hiddenSize: H, intermediateSize: I, moeIntermediateSize: Im, sharedIntermediateSize: S, attention } = config;
  const names = tensorNames(config);
  const norm = { mean: 1, std: 0.1 };
  const reading = (fanIn: number) => ({ mean: 0, std: 1 / Math.sqrt(fanIn) });
  const writingResidual = (fanIn: number) => ({ mean: 0, std: 0.5 / Math.sqrt(fanIn) });
  if (name === names.embedding) return { mean: 0, std: 1 };
  if (name === names.finalNorm) return norm;
  const layer = /^model\.layers\.(\d+)\./.exec(name);
  if (!layer) return reading(H); // lm_head
  const n = names.layer(Number(layer[1]));
  const attentionWidth = attention.kind === 'mha' ? attention.numHeads * attention.headDim : attention.numHeads * attention.vHeadDim;
  switch (name) {
    case n.inputNorm: case n.postNorm: case n.qANorm: case n.kvANorm: case n.qNorm: case n.kNorm:
      return norm;
    case n.qBias: case n.kBias: case n.vBias:
      return { mean: 0, std: 0.1 };
    // Positive like the released biases, so biased sigmoid scores stay > 0; the spread shifts some choices.
    case n.routerBias:
      return { mean: 1, std: 0.05 };
    case n.qB:
      return reading(attention.kind === 'mla' && attention.qLoraRank !== null ? attention.qLoraRank : H);
    case n.kvB:
      return reading(attention.kind === 'mla' ? attention.kvLoraRank : H);
    case n.o:
      return writingResidual(attentionWidth);
    case n.denseDown:
      return writingResidual(I);
    case n.sharedDown:
      return writingResidual(S);
  }
  const expert = /experts\.(\d+)\./.exec(name);
  if (expert && name === n.expertDown(Number(expert[1]))) return writingResidual(Im);
  return reading(H);
}

/** Digits go to experts 0 and 1, punctuation to 2 and 3, from the second MoE layer on. */
function plantedExperts(config: ModelConfig): PlantedSpecialization {
  if (config.nRoutedExperts < 4 || config.topK < 2) {
    throw new InputError(`--planted needs at least 4 routed experts and top-2 routing (preset has ${config.nRoutedExperts}, top-${config.topK})`, 'usage-planted');
  }
  const moe = moeLayers(config);
  if (moe.length < 2) throw new InputError('--planted needs at least 2 MoE layers (raise --layers)', 'usage-planted');
  return { fromLayer: moe[1], experts: { digit: [0, 1], punct: [2, 3] } };
}

function plantDirections(config: ModelConfig, seed: number): Record<TokenClass, Float32Array> {
  return { digit: unitVector(seed, 'planted:digit', config.hiddenSize), punct: unitVector(seed, 'planted:punct', config.hiddenSize) };
}

/**
 * The mechanism: a class's tokens get embeddings that point mostly along a class direction u, and from
 * `fromLayer` on the router rows of that class's experts get +6/sqrt(H) * u. RMSNorm keeps x·u near sqrt(H)
 * for those tokens, so their logits for the planted experts rise by about 6, while for other tokens x·u is
 * about N(0, 1) and the rise stays small.
 */
function plantSpecialization(
  config: ModelConfig,
  planted: PlantedSpecialization,
  directions: Record<TokenClass, Float32Array>,
  tokenClasses: Map<number, TokenClass>,
  name: string,
  firstRow: number,
  cols: number,
  values: Float32Array,
): void {
  const H = config.hiddenSize;
  const rows = values.length / cols;
  if (name === tensorNames(config).embedding) {
    for (let r = 0; r < rows; r++) {
      const cls = tokenClasses.get(firstRow + r);
      if (!cls) continue;
      for (let i = 0; i < H; i++) values[r * H + i] = 0.6 * values[r * H + i] + 2 * Math.sqrt(H) * directions[cls][i];
    }
    return;
  }
  for (let l = planted.fromLayer; l < config.numLayers; l++) {
    if (!isMoeLayer(config, l) || name !== tensorNames(config).layer(l).router) continue;
    for (const cls of Object.keys(planted.experts) as TokenClass[]) {
      for (const expert of planted.experts[cls]) {
        const r = expert - firstRow;
        if (r < 0 || r >= rows) continue;
        for (let i = 0; i < H; i++) values[r * H + i] += (6 / Math.sqrt(H)) * directions[cls][i];
      }
    }
  }
}

/** Token classes from the vocabulary (printable ASCII spells itself in both the byte-level and the SentencePiece alphabet). */
function classifyTokens(tokenizer: { model: { vocab: Record<string, number> } }): Map<number, TokenClass> {
  const classes = new Map<number, TokenClass>();
  for (const [token, id] of Object.entries(tokenizer.model.vocab)) {
    // A leading space is "Ġ" in byte-level vocabularies and "▁" in SentencePiece ones.
    const cls = plantedClass(token.replace(/^[Ġ▁]/, ' '));
    if (cls) classes.set(id, cls);
  }
  return classes;
}

function specialTokenIds(tokenizer: { added_tokens: Array<{ id: number; content: string }> }, tokenizerConfig: { bos_token: string; eos_token: string }): { bos: number; eos: number } {
  const find = (content: string) => tokenizer.added_tokens.find((t) => t.content === content)?.id;
  const bos = find(tokenizerConfig.bos_token);
  const eos = find(tokenizerConfig.eos_token);
  if (bos === undefined || eos === undefined) throw new Error('synth: the trained tokenizer lacks BOS/EOS added tokens');
  return { bos, eos };
}

export function parsePerturbation(text: string): Perturbation {
  const match = /^(\d+):(\d+):([0-9.eE+-]+)$/.exec(text);
  const scale = match ? Number(match[3]) : NaN;
  if (!match || !Number.isFinite(scale)) throw new InputError(`invalid --perturb: ${text} (expected LAYER:EXPERT:SCALE, e.g. 2:5:1.5)`, 'usage-perturb');
  return { layer: Number(match[1]), expert: Number(match[2]), scale };
}

function checkPerturbation(p: Perturbation, config: ModelConfig): void {
  if (p.layer >= config.numLayers || !isMoeLayer(config, p.layer)) {
    throw new InputError(`invalid --perturb: layer ${p.layer} is not a MoE layer of this model`, 'usage-perturb');
  }
  if (p.expert >= config.nRoutedExperts) {
    throw new InputError(`invalid --perturb: expert ${p.expert} is out of range (model has ${config.nRoutedExperts} routed experts)`, 'usage-perturb');
  }
}

function isPerturbed(config: ModelConfig, name: string, p: Perturbation): boolean {
  return expertTensors(config, p.layer, p.expert).some((t) => t.name === name);
}

/** Fills shards in plan order up to `shardBytes` each; a weight and its scales always share a shard. */
function assignShards(plan: PlannedTensor[], shardBytes: number): Array<{ file: string; tensors: PlannedTensor[] }> {
  const groups: PlannedTensor[][] = [[]];
  let size = 0;
  for (const tensor of plan) {
    const bytes = storedBytes(tensor);
    if (size > 0 && size + bytes > shardBytes) {
      groups.push([]);
      size = 0;
    }
    groups[groups.length - 1].push(tensor);
    size += bytes;
  }
  if (groups.length === 1) return [{ file: 'model.safetensors', tensors: groups[0] }];
  const pad = (n: number) => String(n).padStart(5, '0');
  return groups.map((g, i) => ({ file: `model-${pad(i + 1)}-of-${pad(groups.length)}.safetensors`, tensors: g }));
}

/** Refuses up front a checkpoint that cannot fit (a full deepseek-v3 is 673 GB), rather than failing hours in. */
function checkFreeSpace(out: string, bytes: number, presetName: string): void {
  let parent = path.dirname(path.resolve(out));
  while (!fs.existsSync(parent)) parent = path.dirname(parent);
  const { bavail, bsize } = fs.statfsSync(parent);
  const free = bavail * bsize;
  if (bytes > free) {
    const gb = (n: number) => `${(n / 1e9).toFixed(1)} GB`;
    throw fileError(out, 'disk-full', `preset ${presetName} needs ${gb(bytes)} and ${parent} has ${gb(free)} free (--layers N writes fewer layers)`);
  }
}

function prepareOutput(out: string, force: boolean): void {
  if (!fs.existsSync(out)) {
    checkOutputFolder(out); // a new folder: refuse an empty path or one below a file before writing anything
    return;
  }
  if (!fs.statSync(out).isDirectory()) throw fileError(out, 'output-exists', 'exists and is not a folder');
  if (fs.readdirSync(out).length > 0 && !force) throw fileError(out, 'output-exists', 'folder exists and is not empty (use --force to replace it)');
  fs.rmSync(out, { recursive: true, force: true });
}

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}
