/**
 * Runs a model's decoder layers with onnxruntime on packed chunks of prompts and returns what the routers chose.
 * One session per graph kind (attention, dense MLP, MoE, and for streamed MoE layers router and expert) serves
 * every layer; weights are fed as inputs.
 */
import fs from 'node:fs';
import ort from 'onnxruntime-node';
import type { Checkpoint } from '../loaders/checkpoint.js';
import { toFloat32, dtypeBytes } from '../loaders/dtypes.js';
import { fileError } from '../errors.js';
import type { ModelConfig } from '../models/config.js';
import { buildAttentionGraph } from '../models/attention-graphs.js';
import { buildDenseMlpGraph, buildExpertGraph, buildMoeGraph, buildRouterGraph, buildRouterOnlyGraph } from '../models/ffn-graphs.js';
import { ropeTables } from '../models/rope.js';
import { tensorNames } from '../models/tensor-names.js';
import { attentionGroups, type AttentionGroup } from './attention-groups.js';
import { openSessionFactory, type Device } from './execution-provider.js';
import { checkLayerTensors, ffnKindOf, layersToRun, LayerWeightLoader, type FfnKind } from './layer-weights.js';

/** The packed tokens of a chunk of whole prompts, and their hidden state as it moves through the layers. */
export interface ChunkActivations {
  /** Token count T. */
  tokens: number;
  /** The prompts in groups of similar length, whose attention runs as padded batches. */
  groups: AttentionGroup[];
  /** Residual stream h, (T, H). */
  hidden: Float32Array;
  /** With speculate: the FFN input x = RMSNorm_post(a) of the layer last run, (T, H); none before layer 0. */
  ffnInput?: Float32Array;
}

/** What one MoE layer's router did for the tokens of a chunk. */
export interface LayerRouting {
  /** (T, K), descending selection score. */
  topkIds: Int32Array;
  /** (T, K) gate weights. */
  topkWeights: Float32Array;
  /** (E) sum over the chunk's tokens of the routing scores. */
  scoreSum: Float32Array;
  /** (T, E) every routing score, only when asked for. */
  scores?: Float32Array;
  /** (T, K) with speculate: this layer's gate on the previous layer's FFN input; none for layer 0. */
  specTopkIds?: Int32Array;
  /** (T, K) the choice with e_score_correction_bias set to zero; models with the bias only. */
  unbiasedTopkIds?: Int32Array;
}

export interface RunnerOptions {
  device: Device;
  saveProbs: boolean;
  /** Also record each MoE layer's gate applied to the previous layer's FFN input (route --speculate). */
  speculate: boolean;
  /** Keep every layer's fp32 weights loaded (small models) instead of one layer at a time. */
  keepAllWeights: boolean;
  /** MoE layers whose routed experts take more fp32 bytes than this load them one expert at a time. */
  expertBudgetBytes: number;
  warn?: (line: string) => void;
}

interface Sessions {
  attention: ort.InferenceSession;
  dense?: ort.InferenceSession;
  moe?: ort.InferenceSession;
  router?: ort.InferenceSession;
  expert?: ort.InferenceSession;
  routerOnly?: ort.InferenceSession;
}

export class ModelRunner {
  /**
   * Seconds spent loading streamed experts inside runLayer, so callers can tell loading from computing.
   * (onnxruntime-node runs a session on the main thread, so loading cannot overlap computing without a worker.)
   */
  expertLoadSeconds = 0;
  private readonly weights: LayerWeightLoader;
  private rope: { cos: ort.Tensor; sin: ort.Tensor } | undefined;
  private embeddingScratch = new Uint8Array(0);

  private constructor(
    private readonly checkpoint: Checkpoint,
    private readonly config: ModelConfig,
    private readonly sessions: Sessions,
    readonly provider: string,
    private readonly speculate: boolean,
    keepAllWeights: boolean,
    kindOf: (layer: number) => FfnKind,
  ) {
    this.weights = new LayerWeightLoader(checkpoint, config, keepAllWeights, kindOf);
  }

  static async open(checkpoint: Checkpoint, config: ModelConfig, options: RunnerOptions): Promise<ModelRunner> {
    checkLayerTensors(checkpoint, config);
    const kindOf = ffnKindOf(config, options.expertBudgetBytes);
    const kinds = new Set(Array.from({ length: layersToRun(config) }, (_, l) => kindOf(l)));
    const attentionGraph = buildAttentionGraph(config);
    const factory = await openSessionFactory(options.device, attentionGraph, { warn: options.warn });
    const sessions: Sessions = { attention: await factory.create(attentionGraph) };
    const graphOptions = { saveProbs: options.saveProbs, speculate: options.speculate };
    if (kinds.has('dense')) sessions.dense = await factory.create(buildDenseMlpGraph(config, graphOptions));
    if (kinds.has('moe')) sessions.moe = await factory.create(buildMoeGraph(config, graphOptions));
    if (kinds.has('moe-streamed')) {
      sessions.router = await factory.create(buildRouterGraph(config, graphOptions));
      sessions.expert = await factory.create(buildExpertGraph(config));
    }
    if (kinds.has('router')) sessions.routerOnly = await factory.create(buildRouterOnlyGraph(config, graphOptions));
    return new ModelRunner(checkpoint, config, sessions, factory.provider, options.speculate, options.keepAllWeights, kindOf);
  }

  /** Packs prompts into one sequence: h = E[token] for every token, with the attention groups that keep prompts apart. */
  embed(prompts: Int32Array[]): ChunkActivations {
    const H = this.config.hiddenSize;
    const T = prompts.reduce((sum, p) => sum + p.length, 0);
    const hidden = new Float32Array(T * H);
    this.readEmbeddingRows(prompts, hidden);
    return { tokens: T, groups: attentionGroups(prompts.map((p) => p.length)), hidden };
  }

  /** Loads a layer's weights (a no-op when they are already loaded). */
  async loadLayer(layer: number): Promise<void> {
    await this.weights.load(layer);
  }

  /**
   * Runs one layer on each chunk of a pass, updating their hidden states; returns each chunk's routing for a
   * MoE layer. A streamed MoE layer loads each expert once for the whole pass; the last MoE layer runs its
   * router only and leaves the hidden states as they were (nothing reads them after it).
   */
  async runLayer(layer: number, chunks: ChunkActivations[]): Promise<Array<LayerRouting | undefined>> {
    const inputs = await this.weights.load(layer);
    const H = this.config.hiddenSize;
    // a = h + Attn(RMSNorm_in(h)) of the tokens of one attention group
    const attendGroup = async (hidden: Float32Array, group: AttentionGroup) =>
      (await this.sessions.attention.run({ hidden: new ort.Tensor('float32', hidden, [group.tokens, H]), ...group.feeds, ...this.ropeTables(group.tokens), ...inputs.attention })).out;
    // ... of one chunk: its groups' rows gathered, attended and put back in place
    const attend = async (chunk: ChunkActivations): Promise<ort.Tensor> => {
      if (chunk.groups.length === 1) return attendGroup(chunk.hidden, chunk.groups[0]);
      const out = new Float32Array(chunk.tokens * H);
      for (const group of chunk.groups) {
        const rows = group.rows!;
        const hidden = new Float32Array(group.tokens * H);
        rows.forEach((r, i) => hidden.set(chunk.hidden.subarray(r * H, (r + 1) * H), i * H));
        const y = (await attendGroup(hidden, group)).data as Float32Array;
        rows.forEach((r, i) => out.set(y.subarray(i * H, (i + 1) * H), r * H));
      }
      return new ort.Tensor('float32', out, [chunk.tokens, H]);
    };
    if (inputs.kind === 'moe-streamed') {
      // Every chunk's attention output is kept, so each expert is loaded once for them all.
      const attended: ort.Tensor[] = [];
      for (const chunk of chunks) attended.push(await attend(chunk));
      return this.runStreamedMoe(layer, chunks, attended, inputs.ffn);
    }
    const routings: Array<LayerRouting | undefined> = [];
    if (inputs.kind === 'router') {
      for (const chunk of chunks) {
        const hadPrevious = chunk.ffnInput !== undefined;
        const result = await this.sessions.routerOnly!.run({ hidden: await attend(chunk), ...this.previousFfnInput(chunk, inputs.kind), ...inputs.ffn });
        routings.push(routingOf(result, hadPrevious));
      }
      return routings;
    }
    for (const chunk of chunks) {
      const session = inputs.kind === 'dense' ? this.sessions.dense! : this.sessions.moe!;
      const hadPrevious = chunk.ffnInput !== undefined;
      const previous = this.previousFfnInput(chunk, inputs.kind);
      const result = await session.run({ hidden: await attend(chunk), ...previous, ...inputs.ffn });
      chunk.hidden = result.out.data as Float32Array;
      routings.push(inputs.kind === 'moe' ? routingOf(result, hadPrevious) : undefined);
      if (this.speculate) chunk.ffnInput = result.x.data as Float32Array;
    }
    return routings;
  }

  /**
   * h' = a + Shared(x) + Σ_j w_j Expert_idx_j(x), the routed sum built expert by expert: each expert's weights
   * are loaded once and run on the rows of every chunk that chose it, scaled by their gate weights.
   */
  private async runStreamedMoe(layer: number, chunks: ChunkActivations[], attended: ort.Tensor[], ffn: Record<string, ort.Tensor>): Promise<LayerRouting[]> {
    const { hiddenSize: H, nRoutedExperts: E, topK: K } = this.config;
    const routed: Array<{ x: Float32Array; out: Float32Array; routing: LayerRouting }> = [];
    for (const [c, a] of attended.entries()) {
      const result = await this.sessions.router!.run({ hidden: a, ...this.previousFfnInput(chunks[c], 'moe-streamed'), ...ffn });
      routed.push({ x: result.x.data as Float32Array, out: result.base.data as Float32Array, routing: routingOf(result, chunks[c].ffnInput !== undefined) });
    }
    // The (chunk, row, weight) triples that go to each expert.
    const assignments: Array<Array<{ chunk: number; row: number; weight: number }>> = Array.from({ length: E }, () => []);
    routed.forEach(({ routing }, chunk) => routing.topkIds.forEach((e, i) => assignments[e].push({ chunk, row: Math.floor(i / K), weight: routing.topkWeights[i] })));

    for (const [e, rows] of assignments.entries()) {
      if (rows.length === 0) continue;
      const loading = performance.now();
      const expert = await this.weights.loadExpert(layer, e);
      this.expertLoadSeconds += (performance.now() - loading) / 1000;
      const gathered = new Float32Array(rows.length * H);
      rows.forEach(({ chunk, row }, j) => gathered.set(routed[chunk].x.subarray(row * H, (row + 1) * H), j * H));
      const y = (await this.sessions.expert!.run({ x: new ort.Tensor('float32', gathered, [rows.length, H]), ...expert })).y.data as Float32Array;
      rows.forEach(({ chunk, row, weight }, j) => {
        const out = routed[chunk].out;
        for (let d = 0; d < H; d++) out[row * H + d] += weight * y[j * H + d];
      });
    }
    routed.forEach(({ x, out }, c) => {
      chunks[c].hidden = out;
      if (this.speculate) chunks[c].ffnInput = x;
    });
    return routed.map(({ routing }) => routing);
  }

  /**
   * The `x_previous` input of a speculating MoE graph. Layer 0 has no previous FFN input: zeros stand in, and
   * what the gate makes of them is dropped (routingOf), so one graph serves every layer.
   */
  private previousFfnInput(chunk: ChunkActivations, kind: FfnKind): { x_previous?: ort.Tensor } {
    if (!this.speculate || kind === 'dense') return {};
    const H = this.config.hiddenSize;
    return { x_previous: new ort.Tensor('float32', chunk.ffnInput ?? new Float32Array(chunk.tokens * H), [chunk.tokens, H]) };
  }

  async close(): Promise<void> {
    await Promise.all([...Object.values(this.sessions).map((s) => s.release()), this.weights.close()]);
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

  /** h = E[token] by positioned reads of single rows, so the (V, H) table is never loaded whole. */
  private readEmbeddingRows(prompts: Int32Array[], hidden: Float32Array): void {
    const info = this.checkpoint.info(tensorNames(this.config).embedding);
    const [vocab, width] = info.shape;
    // Rows are converted one by one without block scales; the releases keep the embedding BF16 anyway.
    if (info.dtype === 'F8_E4M3') throw fileError(info.file, 'embedding-dtype', `tensor "${info.name}" is FP8: an FP8 embedding table is not supported`);
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

/** `hadPrevious`: the graph's x_previous was a real previous layer's FFN input, so its spec_topk_ids count. */
function routingOf(result: ort.InferenceSession.ReturnType, hadPrevious: boolean): LayerRouting {
  return {
    topkIds: result.topk_ids.data as Int32Array,
    topkWeights: result.topk_weights.data as Float32Array,
    scoreSum: result.score_sum.data as Float32Array,
    scores: result.scores?.data as Float32Array | undefined,
    specTopkIds: hadPrevious ? (result.spec_topk_ids?.data as Int32Array | undefined) : undefined,
    unbiasedTopkIds: result.unbiased_topk_ids?.data as Int32Array | undefined,
  };
}
