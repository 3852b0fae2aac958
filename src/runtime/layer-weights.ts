/**
 * A layer's weights as fp32 graph inputs. Stored bf16/f16/FP8 tensors are converted exactly to fp32 (the
 * only precision the CPU provider computes in) into buffers that are reused from layer to layer, so memory
 * holds one layer's weights at a time however deep the model is.
 */
import ort from 'onnxruntime-node';
import type { Checkpoint } from '../loaders/checkpoint.js';
import { isMoeLayer, type ModelConfig } from '../models/config.js';
import { tensorNames } from '../models/tensor-names.js';
import { fileError } from '../errors.js';

export interface LayerInputs {
  kind: 'dense' | 'moe';
  attention: Record<string, ort.Tensor>;
  ffn: Record<string, ort.Tensor>;
}

/** Float counts of every graph input holding weights, by layer kind; the runtime sizes its buffers from this. */
export function layerWeightShapes(config: ModelConfig, kind: 'dense' | 'moe'): Record<string, number[]> {
  if (config.attention.kind !== 'mha') throw new Error('layerWeightShapes: standard attention only');
  const { numHeads, numKvHeads, headDim: D } = config.attention;
  const { hiddenSize: H, intermediateSize: I, moeIntermediateSize: Im, nRoutedExperts: E, nSharedExperts: Ns } = config;
  const attention = {
    w_input_norm: [H],
    w_q: [numHeads * D, H],
    w_k: [numKvHeads * D, H],
    w_v: [numKvHeads * D, H],
    w_o: [H, numHeads * D],
  };
  if (kind === 'dense') return { ...attention, w_post_norm: [H], w_gate: [I, H], w_up: [I, H], w_down: [H, I] };
  const shared: Record<string, number[]> = Ns > 0 ? { w_shared_gate: [Ns * Im, H], w_shared_up: [Ns * Im, H], w_shared_down: [H, Ns * Im] } : {};
  return { ...attention, w_post_norm: [H], w_router: [E, H], w_experts_gate_up: [E, 2 * Im, H], w_experts_down: [E, H, Im], ...shared };
}

const attentionInputs = new Set(['w_input_norm', 'w_q', 'w_k', 'w_v', 'w_o']);

export function layerWeightBytes(config: ModelConfig, layer: number): number {
  const shapes = layerWeightShapes(config, isMoeLayer(config, layer) ? 'moe' : 'dense');
  return 4 * Object.values(shapes).reduce((sum, shape) => sum + product(shape), 0);
}

/**
 * Loads layers into fp32 buffers. With `keepAll`, every layer gets buffers of its own and stays loaded
 * (small models: each chunk can then run through all layers without reloading); otherwise one set of
 * buffers per layer kind is overwritten by each load.
 */
export class LayerWeightLoader {
  private readonly pools = new Map<string, Map<string, Float32Array>>();
  private readonly loaded = new Map<number, LayerInputs>();
  private readonly scratch: { gate?: Float32Array; up?: Float32Array } = {};

  constructor(
    private readonly checkpoint: Checkpoint,
    private readonly config: ModelConfig,
    private readonly keepAll: boolean,
  ) {}

  load(layer: number): LayerInputs {
    const cached = this.loaded.get(layer);
    if (cached) return cached;
    const kind = isMoeLayer(this.config, layer) ? 'moe' : 'dense';
    const shapes = layerWeightShapes(this.config, kind);
    const buffers = this.buffersFor(this.keepAll ? `layer${layer}` : kind, shapes);
    this.fill(layer, kind, buffers);

    const inputs: LayerInputs = { kind, attention: {}, ffn: {} };
    for (const [name, shape] of Object.entries(shapes)) {
      const tensor = new ort.Tensor('float32', buffers.get(name)!, shape);
      (attentionInputs.has(name) ? inputs.attention : inputs.ffn)[name] = tensor;
    }
    // A shared buffer set is overwritten by the next load, so only a layer with buffers of its own is remembered.
    if (this.keepAll) this.loaded.set(layer, inputs);
    else this.loaded.clear();
    return inputs;
  }

  private expectShape(tensor: string, expected: number[]): void {
    const info = this.checkpoint.info(tensor);
    if (info.shape.length !== expected.length || info.shape.some((d, i) => d !== expected[i])) {
      throw fileError(info.file, 'tensor-shape', `tensor "${tensor}" has shape [${info.shape}], config.json implies [${expected}]`);
    }
  }

  private buffersFor(key: string, shapes: Record<string, number[]>): Map<string, Float32Array> {
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Map(Object.entries(shapes).map(([name, shape]) => [name, new Float32Array(product(shape))]));
      this.pools.set(key, pool);
    }
    return pool;
  }

  private fill(layer: number, kind: 'dense' | 'moe', buffers: Map<string, Float32Array>): void {
    const names = tensorNames(this.config).layer(layer);
    const shapes = layerWeightShapes(this.config, kind);
    const read = (input: string, tensor: string) => {
      this.expectShape(tensor, shapes[input]);
      this.checkpoint.readFloat32(tensor, buffers.get(input)!);
    };
    read('w_input_norm', names.inputNorm);
    read('w_q', names.q);
    read('w_k', names.k);
    read('w_v', names.v);
    read('w_o', names.o);
    read('w_post_norm', names.postNorm);
    if (kind === 'dense') {
      read('w_gate', names.denseGate);
      read('w_up', names.denseUp);
      read('w_down', names.denseDown);
      return;
    }
    read('w_router', names.router);
    const { hiddenSize: H, moeIntermediateSize: Im, nRoutedExperts: E } = this.config;
    const gateUp = buffers.get('w_experts_gate_up')!;
    const down = buffers.get('w_experts_down')!;
    const gate = (this.scratch.gate ??= new Float32Array(Im * H));
    const up = (this.scratch.up ??= new Float32Array(Im * H));
    for (let e = 0; e < E; e++) {
      this.expectShape(names.expertGate(e), [Im, H]);
      this.expectShape(names.expertUp(e), [Im, H]);
      this.expectShape(names.expertDown(e), [H, Im]);
      this.checkpoint.readFloat32(names.expertGate(e), gate);
      this.checkpoint.readFloat32(names.expertUp(e), up);
      // com.microsoft.MoE's interleaved SwiGLU layout: row 2i is gate row i, row 2i+1 is up row i.
      const expertBase = e * 2 * Im * H;
      for (let i = 0; i < Im; i++) {
        gateUp.set(gate.subarray(i * H, (i + 1) * H), expertBase + 2 * i * H);
        gateUp.set(up.subarray(i * H, (i + 1) * H), expertBase + (2 * i + 1) * H);
      }
      this.checkpoint.readFloat32(names.expertDown(e), down.subarray(e * H * Im, (e + 1) * H * Im));
    }
    if (this.config.nSharedExperts > 0) {
      read('w_shared_gate', names.sharedGate);
      read('w_shared_up', names.sharedUp);
      read('w_shared_down', names.sharedDown);
    }
  }
}

function product(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
