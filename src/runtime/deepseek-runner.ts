/**
 * Runs DeepSeekMoE layers with onnxruntime on packed chunks of prompts and returns what the router chose.
 * One session per graph kind (attention, dense MLP, MoE) serves every layer; weights are fed as inputs.
 */
import fs from 'node:fs';
import ort from 'onnxruntime-node';
import type { Checkpoint } from '../loaders/checkpoint.js';
import { toFloat32, dtypeBytes } from '../loaders/dtypes.js';
import { fileError } from '../errors.js';
import type { ModelConfig } from '../models/config.js';
import { buildAttentionGraph, buildDenseMlpGraph, buildMoeGraph } from '../models/deepseek.js';
import { tensorNames } from '../models/tensor-names.js';
import { openSessionFactory, type Device } from './execution-provider.js';
import { LayerWeightLoader } from './layer-weights.js';
import { ropeTables } from '../models/rope.js';

/** Additive mask value for attention between prompts; exp() of it is exactly 0 in fp32. */
const MASKED = -1e30;

/** The packed tokens of a chunk of whole prompts, and their hidden state as it moves through the layers. */
export interface ChunkActivations {
  /** Token count T. */
  tokens: number;
  /** Position of each token inside its prompt, (1, T). */
  positions: ort.Tensor;
  /** Block-diagonal causal mask, (T, T): token i sees token j iff both are in one prompt and j <= i. */
  mask: ort.Tensor;
  /** Residual stream h, (T, H). */
  hidden: Float32Array;
}

/** What one MoE layer's router did for the tokens of a chunk. */
export interface LayerRouting {
  /** (T, K), descending score. */
  topkIds: Int32Array;
  /** (T, K) gate weights. */
  topkWeights: Float32Array;
  /** (E) sum over the chunk's tokens of the routing scores. */
  scoreSum: Float32Array;
  /** (T, E) every routing score, only when asked for. */
  scores?: Float32Array;
}

export interface RunnerOptions {
  device: Device;
  saveProbs: boolean;
  /** Keep every layer's fp32 weights loaded (small models) instead of one layer at a time. */
  keepAllWeights: boolean;
  warn?: (line: string) => void;
}

export class DeepseekRunner {
  private readonly weights: LayerWeightLoader;
  private rope: { cos: ort.Tensor; sin: ort.Tensor } | undefined;
  private embeddingScratch = new Uint8Array(0);

  private constructor(
    private readonly checkpoint: Checkpoint,
    private readonly config: ModelConfig,
    private readonly sessions: { attention: ort.InferenceSession; dense: ort.InferenceSession; moe: ort.InferenceSession },
    readonly provider: string,
    keepAllWeights: boolean,
  ) {
    this.weights = new LayerWeightLoader(checkpoint, config, keepAllWeights);
  }

  /**
   * cos/sin tables with at least `tokens` rows: onnxruntime's RotaryEmbedding refuses a table shorter than the
   * sequence it is given, and a packed chunk can be longer than any one prompt's positions.
   */
  private ropeTables(tokens: number): { cos: ort.Tensor; sin: ort.Tensor } {
    const rows = Math.max(tokens, this.config.maxPositionEmbeddings);
    if (!this.rope || this.rope.cos.dims[0] < rows) {
      const { cos, sin } = ropeTables(rows, this.config.rope);
      const dims = [rows, this.config.rope.dim / 2];
      this.rope = { cos: new ort.Tensor('float32', cos, dims), sin: new ort.Tensor('float32', sin, dims) };
    }
    return this.rope;
  }

  static async open(checkpoint: Checkpoint, config: ModelConfig, options: RunnerOptions): Promise<DeepseekRunner> {
    const attentionGraph = buildAttentionGraph(config);
    const factory = await openSessionFactory(options.device, attentionGraph, { warn: options.warn });
    const sessions = {
      attention: await factory.create(attentionGraph),
      dense: await factory.create(buildDenseMlpGraph(config)),
      moe: await factory.create(buildMoeGraph(config, { saveProbs: options.saveProbs })),
    };
    return new DeepseekRunner(checkpoint, config, sessions, factory.provider, options.keepAllWeights);
  }

  /** Packs prompts into one sequence: h = E[token] for every token, with positions and the mask that keeps prompts apart. */
  embed(prompts: Int32Array[]): ChunkActivations {
    const H = this.config.hiddenSize;
    const T = prompts.reduce((sum, p) => sum + p.length, 0);
    const hidden = new Float32Array(T * H);
    const positions = new BigInt64Array(T);
    const mask = new Float32Array(T * T).fill(MASKED);
    this.readEmbeddingRows(prompts, hidden);
    let t = 0;
    for (const prompt of prompts) {
      for (let i = 0; i < prompt.length; i++) {
        positions[t + i] = BigInt(i);
        mask.fill(0, (t + i) * T + t, (t + i) * T + t + i + 1);
      }
      t += prompt.length;
    }
    return {
      tokens: T,
      positions: new ort.Tensor('int64', positions, [1, T]),
      mask: new ort.Tensor('float32', mask, [T, T]),
      hidden,
    };
  }

  /** Loads a layer's weights (a no-op when they are already loaded). */
  loadLayer(layer: number): void {
    this.weights.load(layer);
  }

  /** Runs one layer on a chunk, updating its hidden state; returns the routing for a MoE layer. */
  async runLayer(layer: number, chunk: ChunkActivations): Promise<LayerRouting | undefined> {
    const inputs = this.weights.load(layer);
    const H = this.config.hiddenSize;
    const hiddenTensor = () => new ort.Tensor('float32', chunk.hidden, [chunk.tokens, H]);
    const attended = await this.sessions.attention.run({
      hidden: hiddenTensor(),
      positions: chunk.positions,
      mask: chunk.mask,
      ...this.ropeTables(chunk.tokens),
      ...inputs.attention,
    });
    const ffnInput = { hidden: attended.out, ...inputs.ffn };
    if (inputs.kind === 'dense') {
      chunk.hidden = (await this.sessions.dense.run(ffnInput)).out.data as Float32Array;
      return undefined;
    }
    const result = await this.sessions.moe.run(ffnInput);
    chunk.hidden = result.out.data as Float32Array;
    return {
      topkIds: result.topk_ids.data as Int32Array,
      topkWeights: result.topk_weights.data as Float32Array,
      scoreSum: result.score_sum.data as Float32Array,
      scores: result.scores?.data as Float32Array | undefined,
    };
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.sessions).map((s) => s.release()));
  }

  /** h = E[token] by positioned reads of single rows, so the (V, H) table is never loaded whole. */
  private readEmbeddingRows(prompts: Int32Array[], hidden: Float32Array): void {
    const info = this.checkpoint.info(tensorNames(this.config).embedding);
    const [vocab, width] = info.shape;
    const rowBytes = width * dtypeBytes[info.dtype];
    if (this.embeddingScratch.length < rowBytes) this.embeddingScratch = new Uint8Array(rowBytes);
    const bytes = this.embeddingScratch.subarray(0, rowBytes);
    const fd = fs.openSync(info.file, 'r');
    try {
      let t = 0;
      for (const tokenId of prompts.flatMap((p) => Array.from(p))) {
        if (tokenId < 0 || tokenId >= vocab) {
          throw fileError(info.file, 'token-out-of-range', `token id ${tokenId} is outside the embedding table of ${vocab} rows`);
        }
        fs.readSync(fd, bytes, 0, rowBytes, info.start + tokenId * rowBytes);
        toFloat32(info.dtype, bytes, hidden.subarray(t * width, (t + 1) * width));
        t++;
      }
    } finally {
      fs.closeSync(fd);
    }
  }
}
