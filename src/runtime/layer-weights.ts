/**
 * A layer's weights as fp32 graph inputs. Stored bf16/f16/FP8 tensors are converted exactly to fp32 (the
 * only precision the CPU provider computes in) into buffers that are reused from layer to layer, so memory
 * holds one layer's weights at a time however deep the model is. The tensors each graph input takes come from
 * models/tensor-names.ts, the one list of what a layer holds.
 */
import ort from 'onnxruntime-node';
import type { Checkpoint } from '../loaders/checkpoint.js';
import { isMoeLayer, type ModelConfig } from '../models/config.js';
import { attentionTensors, expertTensors, ffnTensors, type TensorShape } from '../models/tensor-names.js';
import { fileError } from '../errors.js';

/**
 * How a layer's feed-forward part runs: a dense MLP; a MoE layer whose routed experts are all loaded at once
 * (`moe`); or one whose experts are loaded one at a time (`moe-streamed`), for layers too large for memory.
 */
export type FfnKind = 'dense' | 'moe' | 'moe-streamed';

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
  const ffn = byInput(ffnTensors(config, layer));
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

/** How each layer's feed-forward part runs: MoE layers whose routed experts exceed the budget in fp32 are streamed. */
export function ffnKindOf(config: ModelConfig, expertBudgetBytes: number): (layer: number) => FfnKind {
  const moeKind = 4 * routedExpertValues(config) > expertBudgetBytes ? 'moe-streamed' : 'moe';
  return (layer) => (isMoeLayer(config, layer) ? moeKind : 'dense');
}

/**
 * Loads layers into fp32 buffers. With `keepAll`, every layer gets buffers of its own and stays loaded (small
 * models: each chunk can then run through all layers without reloading); otherwise one set of buffers per layer
 * kind is overwritten by each load. Tensors are read without checking their shapes again: checkLayerTensors did,
 * from the headers, before the runner was made.
 */
export class LayerWeightLoader {
  private readonly pools = new Map<string, Map<string, Float32Array>>();
  private readonly loaded = new Map<number, LayerInputs>();
  private readonly scratch: { gate?: Float32Array; up?: Float32Array; expert?: ExpertInputs } = {};

  constructor(
    private readonly checkpoint: Checkpoint,
    private readonly config: ModelConfig,
    private readonly keepAll: boolean,
    private readonly kindOf: (layer: number) => FfnKind,
  ) {}

  load(layer: number): LayerInputs {
    const cached = this.loaded.get(layer);
    if (cached) return cached;
    const kind = this.kindOf(layer);
    const shapes = inputShapes(this.config, layer, kind);
    const inputs: LayerInputs = { kind, attention: {}, ffn: {} };
    for (const part of ['attention', 'ffn'] as const) {
      // Every layer's attention has the same inputs; a dense and a MoE layer's feed-forward parts do not.
      const shared = part === 'attention' ? part : `${kind}:${part}`;
      const buffers = this.buffersFor(this.keepAll ? `layer${layer}:${part}` : shared, shapes[part]);
      for (const [input, shape] of Object.entries(shapes[part])) inputs[part][input] = new ort.Tensor('float32', buffers.get(input)!, shape);
    }
    const tensors = [...attentionTensors(this.config, layer), ...ffnTensors(this.config, layer)];
    for (const tensor of tensors) {
      if (!tensor.input) continue;
      const part = tensor.input in inputs.attention ? 'attention' : 'ffn';
      this.checkpoint.readFloat32(tensor.name, inputs[part][tensor.input].data as Float32Array);
    }
    if (kind === 'moe') this.packExperts(layer, inputs.ffn);
    // A shared buffer set is overwritten by the next load, so only a layer with buffers of its own is remembered.
    if (this.keepAll) this.loaded.set(layer, inputs);
    else this.loaded.clear();
    return inputs;
  }

  /** Expert e of a streamed layer, in buffers reused from expert to expert. */
  loadExpert(layer: number, e: number): ExpertInputs {
    const [gate, up, down] = expertTensors(this.config, layer, e);
    const expert = (this.scratch.expert ??= {
      w_gate: new ort.Tensor('float32', new Float32Array(product(gate.shape)), gate.shape),
      w_up: new ort.Tensor('float32', new Float32Array(product(up.shape)), up.shape),
      w_down: new ort.Tensor('float32', new Float32Array(product(down.shape)), down.shape),
    });
    this.checkpoint.readFloat32(gate.name, expert.w_gate.data as Float32Array);
    this.checkpoint.readFloat32(up.name, expert.w_up.data as Float32Array);
    this.checkpoint.readFloat32(down.name, expert.w_down.data as Float32Array);
    return expert;
  }

  private buffersFor(key: string, shapes: Record<string, number[]>): Map<string, Float32Array> {
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Map(Object.entries(shapes).map(([name, shape]) => [name, new Float32Array(product(shape))]));
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Every routed expert into com.microsoft.MoE's inputs: interleaved SwiGLU rows (2i gate i, 2i+1 up i), then down. */
  private packExperts(layer: number, ffn: Record<string, ort.Tensor>): void {
    const { hiddenSize: H, moeIntermediateSize: Im, nRoutedExperts: E } = this.config;
    const gateUp = ffn.w_experts_gate_up.data as Float32Array;
    const down = ffn.w_experts_down.data as Float32Array;
    const gate = (this.scratch.gate ??= new Float32Array(Im * H));
    const up = (this.scratch.up ??= new Float32Array(Im * H));
    for (let e = 0; e < E; e++) {
      const [gateTensor, upTensor, downTensor] = expertTensors(this.config, layer, e);
      this.checkpoint.readFloat32(gateTensor.name, gate);
      this.checkpoint.readFloat32(upTensor.name, up);
      const expertBase = e * 2 * Im * H;
      for (let i = 0; i < Im; i++) {
        gateUp.set(gate.subarray(i * H, (i + 1) * H), expertBase + 2 * i * H);
        gateUp.set(up.subarray(i * H, (i + 1) * H), expertBase + (2 * i + 1) * H);
      }
      this.checkpoint.readFloat32(downTensor.name, down.subarray(e * H * Im, (e + 1) * H * Im));
    }
  }
}

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
