/**
 * A layer's weights as fp32 graph inputs. Stored bf16/f16/FP8 tensors are converted exactly to fp32 (the
 * only precision the CPU provider computes in), on two threads, straight into buffers that are reused from
 * layer to layer, so memory holds one layer's weights at a time however deep the model is. The tensors each
 * graph input takes come from models/tensor-names.ts, the one list of what a layer holds.
 */
import ort from 'onnxruntime-node';
import type { Checkpoint } from '../loaders/checkpoint.js';
import { isMoeLayer, moeLayers, type ModelConfig } from '../models/config.js';
import { attentionTensors, expertTensors, ffnTensors, type TensorShape } from '../models/tensor-names.js';
import { fileError } from '../errors.js';
import { ParallelConversion } from './parallel-conversion.js';
import type { ConversionJob } from './weight-conversion.js';

/**
 * How a layer's feed-forward part runs: a dense MLP; a MoE layer whose routed experts are all loaded at once
 * (`moe`); one whose experts are loaded one at a time (`moe-streamed`), for layers too large for memory; or
 * the router alone (`router`), for the last MoE layer, after whose routing decision nothing is needed.
 */
export type FfnKind = 'dense' | 'moe' | 'moe-streamed' | 'router';

/** The inputs of the router-only graph (models/ffn-graphs.ts buildRouterOnlyGraph). */
const routerInputs = new Set(['w_post_norm', 'w_router', 'w_router_bias']);

export interface LayerInputs {
  kind: FfnKind;
  attention: Record<string, ort.Tensor>;
  ffn: Record<string, ort.Tensor>;
}

/** One routed expert's weights, as the expert graph takes them. */
export interface ExpertInputs {
  w_gate: ort.Tensor;
  w_up: ort.Tensor;
  w_down: ort.Tensor;
}

/** The whole-MoE graph's two inputs holding every routed expert, in com.microsoft.MoE's layout. */
function allExpertsShapes(config: ModelConfig): Record<string, number[]> {
  const { hiddenSize: H, moeIntermediateSize: Im, nRoutedExperts: E } = config;
  return { w_experts_gate_up: [E, 2 * Im, H], w_experts_down: [E, H, Im] };
}

/** Graph inputs of a layer with their shapes: every tensor that feeds an input, plus the packed experts. */
function inputShapes(config: ModelConfig, layer: number, kind: FfnKind): { attention: Record<string, number[]>; ffn: Record<string, number[]> } {
  const byInput = (tensors: TensorShape[]) => Object.fromEntries(tensors.filter((t) => t.input).map((t) => [t.input!, t.shape]));
  const ffn = byInput(ffnTensors(config, layer).filter((t) => kind !== 'router' || routerInputs.has(t.input!)));
  return { attention: byInput(attentionTensors(config, layer)), ffn: kind === 'moe' ? { ...ffn, ...allExpertsShapes(config) } : ffn };
}

/** fp32 bytes of a layer's graph-input weights when run as `kind` (streamed experts not counted). */
export function layerWeightBytes(config: ModelConfig, layer: number, kind: FfnKind): number {
  const { attention, ffn } = inputShapes(config, layer, kind);
  return 4 * [...Object.values(attention), ...Object.values(ffn)].reduce((sum, shape) => sum + product(shape), 0);
}

/** Weight values of one MoE layer's routed experts: E experts of gate, up and down matrices. */
export function routedExpertValues(config: ModelConfig): number {
  return config.nRoutedExperts * 3 * config.moeIntermediateSize * config.hiddenSize;
}

/**
 * How each layer's feed-forward part runs: MoE layers whose routed experts exceed the budget in fp32 are
 * streamed; the last MoE layer runs its router only. Layers after it are not run at all (layersToRun).
 */
export function ffnKindOf(config: ModelConfig, expertBudgetBytes: number): (layer: number) => FfnKind {
  const moeKind = 4 * routedExpertValues(config) > expertBudgetBytes ? 'moe-streamed' : 'moe';
  const last = lastMoeLayer(config);
  return (layer) => (layer === last ? 'router' : isMoeLayer(config, layer) ? moeKind : 'dense');
}

/** Layers routing runs: up to the last MoE layer (nothing later changes a recorded routing). */
export function layersToRun(config: ModelConfig): number {
  return lastMoeLayer(config) + 1;
}

function lastMoeLayer(config: ModelConfig): number {
  const layers = moeLayers(config);
  return layers[layers.length - 1] ?? -1;
}

/**
 * Loads layers into fp32 buffers. With `keepAll`, every layer gets buffers of its own and stays loaded (small
 * models: each chunk can then run through all layers without reloading); otherwise one set of buffers per layer
 * kind is overwritten by each load, and only the layer loaded last is remembered, so asking for it again reads
 * nothing. Tensors are read without checking their shapes again: checkLayerTensors did, from the headers,
 * before the runner was made.
 */
export class LayerWeightLoader {
  private readonly pools = new Map<string, Map<string, Float32Array>>();
  private readonly loaded = new Map<number, LayerInputs>();
  private expertPool: Map<string, Float32Array> | undefined;
  private readonly conversion = new ParallelConversion();

  constructor(
    private readonly checkpoint: Checkpoint,
    private readonly config: ModelConfig,
    private readonly keepAll: boolean,
    private readonly kindOf: (layer: number) => FfnKind,
  ) {}

  async load(layer: number): Promise<LayerInputs> {
    const cached = this.loaded.get(layer);
    if (cached) return cached;
    // A shared buffer set is about to be overwritten: whatever layer it held is gone.
    if (!this.keepAll) this.loaded.clear();
    const kind = this.kindOf(layer);
    const shapes = inputShapes(this.config, layer, kind);
    const inputs: LayerInputs = { kind, attention: {}, ffn: {} };
    // Both parts in one conversion, so the two threads share the whole layer's work.
    const pools = {
      // Every layer's attention has the same inputs; a dense and a MoE layer's feed-forward parts do not.
      attention: this.buffersFor(this.keepAll ? `layer${layer}:attention` : 'attention', shapes.attention),
      ffn: this.buffersFor(this.keepAll ? `layer${layer}:ffn` : `${kind}:ffn`, shapes.ffn),
    };
    const parts = ['attention', 'ffn'] as const;
    const targets = new Map(parts.flatMap((part) => [...pools[part]].map(([input, buffer]) => [`${part}/${input}`, buffer] as const)));
    const jobs = parts.flatMap((part) => Object.keys(shapes[part]).flatMap((input) => this.jobsFor(layer, input, `${part}/${input}`)));
    await this.conversion.convert(targets, jobs);
    for (const part of parts) {
      for (const [input, shape] of Object.entries(shapes[part])) {
        const buffer = targets.get(`${part}/${input}`)!;
        pools[part].set(input, buffer);
        inputs[part][input] = new ort.Tensor('float32', buffer, shape);
      }
    }
    this.loaded.set(layer, inputs);
    return inputs;
  }

  /** Expert e of a streamed layer, in buffers reused from expert to expert. */
  async loadExpert(layer: number, e: number): Promise<ExpertInputs> {
    const [gate, up, down] = expertTensors(this.config, layer, e);
    this.expertPool ??= new Map([gate, up, down].map((t, i) => [expertInputNames[i], new Float32Array(product(t.shape))]));
    await this.conversion.convert(this.expertPool, [gate, up, down].map((t, i) => this.job(t.name, expertInputNames[i], 0, t.shape[1])));
    const tensor = (i: number) => new ort.Tensor('float32', this.expertPool!.get(expertInputNames[i])!, [gate, up, down][i].shape);
    return { w_gate: tensor(0), w_up: tensor(1), w_down: tensor(2) };
  }

  async close(): Promise<void> {
    await this.conversion.close();
  }

  private buffersFor(key: string, shapes: Record<string, number[]>): Map<string, Float32Array> {
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Map(Object.entries(shapes).map(([name, shape]) => [name, new Float32Array(product(shape))]));
      this.pools.set(key, pool);
    }
    return pool;
  }

  /**
   * The stored tensors that fill graph input `input` of a layer. The packed experts are com.microsoft.MoE's
   * layout, written in place: fc1 row 2i of expert e is gate row i, row 2i + 1 is up row i; fc2 is down.
   */
  private jobsFor(layer: number, input: string, target: string): ConversionJob[] {
    const { hiddenSize: H, moeIntermediateSize: Im, nRoutedExperts: E } = this.config;
    if (input === 'w_experts_gate_up' || input === 'w_experts_down') {
      return Array.from({ length: E }, (_, e) => {
        const [gate, up, down] = expertTensors(this.config, layer, e);
        return input === 'w_experts_gate_up'
          ? [this.job(gate.name, target, e * 2 * Im * H, 2 * H), this.job(up.name, target, e * 2 * Im * H + H, 2 * H)]
          : [this.job(down.name, target, e * H * Im, Im)];
      }).flat();
    }
    const tensor = [...attentionTensors(this.config, layer), ...ffnTensors(this.config, layer)].find((t) => t.input === input)!;
    return [this.job(tensor.name, target, 0, tensor.shape[tensor.shape.length - 1])];
  }

  private job(name: string, target: string, offset: number, rowStride: number): ConversionJob {
    const { tensor, scales } = this.checkpoint.stored(name);
    const stored = (t: typeof tensor) => ({ file: t.file, start: t.start, byteLength: t.byteLength, dtype: t.dtype, shape: t.shape });
    return { target, tensor: stored(tensor), scales: scales && { tensor: stored(scales.tensor), block: scales.block }, offset, rowStride };
  }
}

const expertInputNames = ['w_gate', 'w_up', 'w_down'] as const;

/**
 * Checks, from the headers only, that every tensor the decoder layers read is there with the shape config.json
 * implies (and its FP8 scales where the weights are block-quantised), so a broken checkpoint fails before any work.
 */
export function checkLayerTensors(checkpoint: Checkpoint, config: ModelConfig): void {
  for (let l = 0; l < config.numLayers; l++) {
    for (const tensor of [...attentionTensors(config, l), ...ffnTensors(config, l)]) {
      if (!checkpoint.has(tensor.name)) throw fileError(checkpoint.dir, 'tensor-missing', `checkpoint has no tensor "${tensor.name}" (layer ${l} as config.json describes it)`);
      const info = checkpoint.info(tensor.name);
      if (info.shape.length !== tensor.shape.length || info.shape.some((d, i) => d !== tensor.shape[i])) {
        throw fileError(info.file, 'tensor-shape', `tensor "${tensor.name}" has shape [${info.shape}], config.json implies [${tensor.shape}]`);
      }
      const scale = `${tensor.name}_scale_inv`;
      if (info.dtype === 'F8_E4M3' && config.fp8BlockSize && !checkpoint.has(scale)) {
        throw fileError(info.file, 'fp8-scale-missing', `tensor "${tensor.name}" is FP8 but its "${scale}" is missing (config.json declares block-quantised weights)`);
      }
    }
  }
}

function product(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
