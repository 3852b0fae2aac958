/**
 * `moe-inspect synth`: writes a random checkpoint in the Hugging Face layout (config.json, sharded
 * safetensors with model.safetensors.index.json, tokenizer.json, tokenizer_config.json).
 *
 * Every tensor draws from its own seeded stream (seed + tensor name), so `--layers` and `--perturb` change
 * nothing else. `--planted` plants a known specialization (see plantSpecialization below), recorded in
 * config.json under `moe_inspect_synth.planted` so analyses have an answer to be checked against.
 */
import fs from 'node:fs';
import path from 'node:path';
import { assetPath } from '../assets.js';
import { fileError, InputError } from '../errors.js';
import { float32ToBf16, type DType } from '../loaders/dtypes.js';
import { SafetensorsWriter, type TensorSpec } from '../loaders/safetensors-writer.js';
import { isMoeLayer, parseModelConfig, type ModelConfig } from '../models/config.js';
import { checkpointTensors, tensorNames } from '../models/tensor-names.js';
import { writeAtomically } from '../files.js';
import { trainByteLevelBpe } from './bpe-trainer.js';
import { findPreset } from './presets.js';
import { tensorStream, unitVector } from './random.js';

export interface SynthOptions {
  preset: string;
  out: string;
  seed?: number;
  dtype?: 'f32' | 'bf16';
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

export const synthDefaults = { seed: 0, dtype: 'bf16', planted: false } as const;

/** What `--planted` plants: token classes, the experts each prefers, and the first MoE layer that prefers them. */
export interface PlantedSpecialization {
  fromLayer: number;
  experts: Record<TokenClass, number[]>;
}
type TokenClass = 'digit' | 'punct';

export interface SynthResult {
  dir: string;
  config: ModelConfig;
  shards: string[];
  bytes: number;
  planted?: PlantedSpecialization;
}

/** Values generated and written per step, so memory stays small whatever the tensor size. */
const rowsPerPart = (cols: number) => Math.max(1, Math.floor((8 << 20) / cols));

export async function synthesize(options: SynthOptions): Promise<SynthResult> {
  const { preset: presetName, out, seed = synthDefaults.seed, dtype = synthDefaults.dtype, planted = synthDefaults.planted, perturb = [], force = false } = options;
  const preset = findPreset(presetName);
  const rawConfig = preset.config();

  if (options.layers !== undefined) {
    const available = rawConfig.num_hidden_layers as number;
    if (!Number.isInteger(options.layers) || options.layers < 1 || options.layers > available) {
      throw new InputError(`invalid --layers: ${options.layers} (preset ${preset.name} has 1 to ${available} layers)`, 'usage-layers');
    }
    rawConfig.num_hidden_layers = options.layers;
  }

  const corpus = fs.readFileSync(assetPath('prompts', 'demo.txt'), 'utf8');
  const { tokenizer, tokenizerConfig } = trainByteLevelBpe(corpus, { vocabSize: Math.min(4096, rawConfig.vocab_size as number) });
  const specialIds = specialTokenIds(tokenizer);
  rawConfig.bos_token_id = specialIds.bos;
  rawConfig.eos_token_id = specialIds.eos;

  const config = parseModelConfig(rawConfig, `preset ${preset.name}`);
  for (const p of perturb) checkPerturbation(p, config);
  const plantedSpec = planted ? plantedExperts(config) : undefined;
  rawConfig.moe_inspect_synth = { preset: preset.name, seed, dtype, planted: plantedSpec ?? null, perturb };

  const stored: DType = dtype === 'f32' ? 'F32' : 'BF16';
  const specs = checkpointTensors(config).map((t) => ({ ...t, dtype: stored }));
  const shards = assignShards(specs, preset.shardBytes);
  const totalBytes = specs.reduce((sum, s) => sum + tensorBytes(s), 0);
  const classDirections = plantedSpec ? plantDirections(config, seed) : undefined;
  const tokenClasses = plantedSpec ? classifyTokens(tokenizer) : undefined;

  prepareOutput(out, force);
  await writeAtomically(out, (tmpDir) => {
    fs.mkdirSync(tmpDir, { recursive: true });
    let written = 0;
    for (const shard of shards) {
      const writer = SafetensorsWriter.create(path.join(tmpDir, shard.file), shard.specs, { format: 'pt' });
      try {
        for (const spec of shard.specs) {
          const [rows, cols] = spec.shape.length === 1 ? [1, spec.shape[0]] : spec.shape;
          const stream = tensorStream(seed, spec.name);
          const init = initializer(config, spec.name);
          for (let row = 0; row < rows; row += rowsPerPart(cols)) {
            const count = Math.min(rowsPerPart(cols), rows - row);
            const values = new Float32Array(count * cols);
            for (let i = 0; i < values.length; i++) values[i] = init.mean + init.std * stream();
            if (plantedSpec) plantSpecialization(config, plantedSpec, classDirections!, tokenClasses!, spec.name, row, cols, values);
            for (const p of perturb) if (isPerturbed(config, spec.name, p)) values.forEach((v, i) => (values[i] = v * p.scale));
            writer.write(spec.name, stored === 'F32' ? values : float32ToBf16(values));
            written += values.length * (stored === 'F32' ? 4 : 2);
            options.onProgress?.(written, totalBytes);
          }
        }
        writer.finish();
      } catch (error) {
        writer.abort();
        throw error;
      }
    }
    if (shards.length > 1) {
      const weightMap = Object.fromEntries(shards.flatMap((s) => s.specs.map((t) => [t.name, s.file])));
      writeJson(path.join(tmpDir, 'model.safetensors.index.json'), { metadata: { total_size: totalBytes }, weight_map: weightMap });
    }
    writeJson(path.join(tmpDir, 'config.json'), rawConfig);
    writeJson(path.join(tmpDir, 'tokenizer.json'), tokenizer);
    writeJson(path.join(tmpDir, 'tokenizer_config.json'), tokenizerConfig);
  });
  return { dir: out, config, shards: shards.map((s) => s.file), bytes: totalBytes, planted: plantedSpec };
}

/**
 * Scales chosen so activations keep unit size through the layers and router logits have a spread of about 1,
 * which gives varied, non-degenerate routing. Draws are uniform with the given mean and standard deviation.
 */
function initializer(config: ModelConfig, name: string): { mean: number; std: number } {
  const { hiddenSize: H, intermediateSize: I, moeIntermediateSize: Im, sharedIntermediateSize: S, attention } = config;
  const names = tensorNames(config);
  const attentionWidth = attention.kind === 'mha' ? attention.numHeads * attention.headDim : attention.numHeads * attention.vHeadDim;
  if (name.endsWith('layernorm.weight') || name === names.finalNorm) return { mean: 1, std: 0.1 };
  if (name === names.embedding) return { mean: 0, std: 1 };
  if (name.endsWith('o_proj.weight')) return { mean: 0, std: 0.5 / Math.sqrt(attentionWidth) };
  if (name.includes('shared_experts.down_proj')) return { mean: 0, std: 0.5 / Math.sqrt(S) };
  if (name.includes('experts.') && name.endsWith('down_proj.weight')) return { mean: 0, std: 0.5 / Math.sqrt(Im) };
  if (name.endsWith('mlp.down_proj.weight')) return { mean: 0, std: 0.5 / Math.sqrt(I) };
  return { mean: 0, std: 1 / Math.sqrt(H) };
}

/** Digits go to experts 0 and 1, punctuation to 2 and 3, from the second MoE layer on. */
function plantedExperts(config: ModelConfig): PlantedSpecialization {
  if (config.nRoutedExperts < 4 || config.topK < 2) {
    throw new InputError(`--planted needs at least 4 routed experts and top-2 routing (preset has ${config.nRoutedExperts}, top-${config.topK})`, 'usage-planted');
  }
  const moe = Array.from({ length: config.numLayers }, (_, l) => l).filter((l) => isMoeLayer(config, l));
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

/** Token classes from the byte-level vocabulary (printable ASCII maps to itself there; "Ġ" marks a leading space). */
function classifyTokens(tokenizer: { model: { vocab: Record<string, number> } }): Map<number, TokenClass> {
  const classes = new Map<number, TokenClass>();
  for (const [token, id] of Object.entries(tokenizer.model.vocab)) {
    const text = token.replace(/^Ġ/, '');
    if (/^[0-9]+$/.test(text)) classes.set(id, 'digit');
    else if (/^[!-/:-@[-`{-~]+$/.test(text)) classes.set(id, 'punct');
  }
  return classes;
}

function specialTokenIds(tokenizer: { added_tokens: Array<{ id: number; content: string }> }): { bos: number; eos: number } {
  const find = (content: string) => tokenizer.added_tokens.find((t) => t.content === content)?.id;
  const bos = find('<｜begin▁of▁sentence｜>');
  const eos = find('<｜end▁of▁sentence｜>');
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
  const n = tensorNames(config).layer(p.layer);
  return name === n.expertGate(p.expert) || name === n.expertUp(p.expert) || name === n.expertDown(p.expert);
}

function assignShards(specs: TensorSpec[], shardBytes: number): Array<{ file: string; specs: TensorSpec[] }> {
  const groups: TensorSpec[][] = [[]];
  let size = 0;
  for (const spec of specs) {
    const bytes = tensorBytes(spec);
    if (size > 0 && size + bytes > shardBytes) {
      groups.push([]);
      size = 0;
    }
    groups[groups.length - 1].push(spec);
    size += bytes;
  }
  if (groups.length === 1) return [{ file: 'model.safetensors', specs: groups[0] }];
  const pad = (n: number) => String(n).padStart(5, '0');
  return groups.map((g, i) => ({ file: `model-${pad(i + 1)}-of-${pad(groups.length)}.safetensors`, specs: g }));
}

function tensorBytes(spec: TensorSpec): number {
  return spec.shape.reduce((a, b) => a * b, 1) * (spec.dtype === 'F32' ? 4 : 2);
}

function prepareOutput(out: string, force: boolean): void {
  if (!fs.existsSync(out)) return;
  if (!fs.statSync(out).isDirectory()) throw fileError(out, 'output-exists', 'exists and is not a folder');
  if (fs.readdirSync(out).length > 0 && !force) throw fileError(out, 'output-exists', 'folder exists and is not empty (use --force to replace it)');
  fs.rmSync(out, { recursive: true, force: true });
}

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}
