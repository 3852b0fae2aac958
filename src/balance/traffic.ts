import { rebalanceExperts, checkPlacementShape } from '../analysis/eplb.js';
import { fileError } from '../errors.js';
import { loadMatrixFromTrace, type LoadMatrix } from '../loaders/load-matrix.js';
import type { Trace } from '../trace.js';
import type { Cluster } from './simulate.js';

/**
 * Dispatch traffic of expert parallelism (analyses.md, "Serving what-ifs"), from a trace: each token starts
 * on a source GPU and is sent once to every other GPU that holds a replica it uses; the combine sends the
 * results back. Per MoE layer and placement policy: the GPU x GPU matrix of tokens sent, bytes per GPU,
 * the hottest pair, nodes per token, and the time the busiest GPU needs at the given bandwidths.
 */
export interface Bandwidth {
  /** Intra-node GB/s (1e9 bytes/s) per GPU. */
  nvlinkGBps: number;
  /** Inter-node GB/s per GPU. */
  rdmaGBps: number;
  /** Bytes per hidden value dispatched: 1 (FP8, plus one fp32 scale per 128 values) or 2 (BF16). */
  dispatchBytes: number;
}

/**
 * DeepEP's README (github deepseek-ai/DeepEP, "Normal kernels with NVLink and RDMA forwarding"): H800
 * with ~160 GB/s NVLink maximum bandwidth, each GPU with a CX7 InfiniBand 400 Gb/s RDMA NIC (~50 GB/s);
 * FP8 dispatch and BF16 combine, as DeepSeek-V3 serves.
 */
export const defaultBandwidth: Bandwidth = { nvlinkGBps: 160, rdmaGBps: 50, dispatchBytes: 1 };
export const bandwidthSource = "DeepEP's README: H800 NVLink ~160 GB/s, CX7 InfiniBand 400 Gb/s RDMA ~50 GB/s per GPU; FP8 dispatch, BF16 combine";

export type TokenSource = 'token' | 'prompt';

export interface LayerTraffic {
  layer: number;
  policy: 'hierarchical' | 'global';
  /** matrix[src][dst]: tokens GPU src sent to GPU dst (0 on the diagonal). */
  matrix: number[][];
  max_bytes_per_gpu: number;
  mean_bytes_per_gpu: number;
  /** The ordered pair with the most tokens (the first in row order on a tie). */
  hottest_pair: [number, number];
  time_s: number;
  nodes_per_token: { mean: number; histogram: number[] };
}

export interface TrafficReport {
  per_layer: LayerTraffic[];
  bandwidth: Bandwidth & { hidden_size: number; bytes_per_token_dispatch: number; bytes_per_token_combine: number; token_source: TokenSource; source: string };
  /** Things to tell the user (a policy left out). */
  notes: string[];
}

/** Bytes of one token copy: dispatched at `dispatchBytes` per value (FP8 carries its scales), combined in BF16. */
export function tokenBytes(hiddenSize: number, dispatchBytes: number): { dispatch: number; combine: number } {
  const scales = dispatchBytes === 1 ? Math.ceil(hiddenSize / 128) * 4 : 0;
  return { dispatch: hiddenSize * dispatchBytes + scales, combine: hiddenSize * 2 };
}

/**
 * Per layer: for the hierarchical policy (when groups % nodes == 0) and the global one, EPLB's plan made from
 * the trace's own load (counted here unless `load`, the same trace's, is given), and the traffic it causes.
 */
export function dispatchTraffic(trace: Trace, cluster: Cluster, options: { tokenSource: TokenSource; bandwidth: Bandwidth; load?: LoadMatrix }): TrafficReport {
  const { bandwidth, tokenSource } = options;
  const hiddenSize = Number(trace.modelConfig().hidden_size);
  if (!Number.isSafeInteger(hiddenSize) || hiddenSize < 1) throw fileError(trace.file, 'traffic-hidden-size', "the trace's model_config has no hidden_size, so a token's bytes are unknown");
  const load = options.load ?? loadMatrixFromTrace(trace.file);
  const layers = load.moeLayers;
  const weights = layers.map((layer) => load.counts[layer]);
  const experts = trace.nExperts;
  const notes: string[] = [];
  const policies: Array<{ policy: 'hierarchical' | 'global'; groups: number; nodes: number }> = [];
  if (checkPlacementShape({ experts, ...cluster }) === 'hierarchical') policies.push({ policy: 'hierarchical', groups: cluster.groups, nodes: cluster.nodes });
  else notes.push(`--groups ${cluster.groups} is not a multiple of --nodes ${cluster.nodes}, so only the global policy applies`);
  policies.push({ policy: 'global', groups: 1, nodes: 1 });

  const routes = policies.map(({ policy, groups, nodes }) => {
    const plan = rebalanceExperts(weights, cluster.replicas, groups, nodes, cluster.gpus);
    return { policy, layers: plan.phy2log.map((phy2log) => new ReplicaRoute(phy2log, experts, cluster)) };
  });
  const sources = sourceGpus(trace, tokenSource, cluster.gpus);
  const bytes = tokenBytes(hiddenSize, bandwidth.dispatchBytes);
  const traceLayer = layers.map((layer) => trace.layers.indexOf(layer));

  const counters = routes.map(() => layers.map(() => new LayerCounter(cluster.gpus, cluster.nodes)));
  const chunk = 16384;
  const { k } = trace;
  const stride = trace.layers.length * k;
  for (let start = 0; start < trace.nTokens; start += chunk) {
    const end = Math.min(trace.nTokens, start + chunk);
    const ids = trace.readTopkIds(start, end);
    // Layer by layer over the chunk, so one layer's replica tables stay in cache.
    routes.forEach((route, r) => layers.forEach((_, i) => counters[r][i].addTokens(ids, start, end, stride, traceLayer[i] * k, k, sources, route.layers[i])));
  }
  const perLayer = routes.flatMap((route, r) => layers.map((layer, i) => counters[r][i].result(layer, route.policy, bytes, bandwidth)));
  // Side by side: per layer, the policies next to each other.
  perLayer.sort((a, b) => a.layer - b.layer);
  return {
    per_layer: perLayer,
    bandwidth: { ...bandwidth, hidden_size: hiddenSize, bytes_per_token_dispatch: bytes.dispatch, bytes_per_token_combine: bytes.combine, token_source: tokenSource, source: bandwidthSource },
    notes,
  };
}

/** Source GPU of each token: t mod D (data-parallel attention), or its prompt's index mod D. */
function sourceGpus(trace: Trace, tokenSource: TokenSource, gpus: number): Int32Array {
  const sources = new Int32Array(trace.nTokens);
  if (tokenSource === 'token') sources.forEach((_, t) => (sources[t] = t % gpus));
  else for (let p = 0; p < trace.nPrompts; p++) sources.fill(p % gpus, trace.promptOffsets[p], trace.promptOffsets[p + 1]);
  return sources;
}

/**
 * Which GPU serves expert e for a token from GPU `source` (analyses.md, replica choice): a replica on the
 * source GPU, else the lowest slot on the source node, else the replicas in turn by trace index.
 */
export class ReplicaRoute {
  /** [expert * gpus + source]: the GPU chosen without round robin, -1 where the round robin decides. */
  private readonly local: Int32Array;
  /** Per expert, the GPUs of its replicas by slot, flattened: expert e's are flatGpus[start[e] .. start[e+1]-1]. */
  private readonly flatGpus: Int32Array;
  private readonly start: Int32Array;

  constructor(phy2log: number[], experts: number, cluster: { gpus: number; nodes: number }) {
    const { gpus, nodes } = cluster;
    const slotsPerGpu = phy2log.length / gpus;
    const gpusPerNode = gpus / nodes;
    const replicaGpus: number[][] = Array.from({ length: experts }, () => []);
    phy2log.forEach((expert, slot) => replicaGpus[expert].push(Math.floor(slot / slotsPerGpu)));
    this.start = new Int32Array(experts + 1);
    replicaGpus.forEach((replicas, expert) => (this.start[expert + 1] = this.start[expert] + replicas.length));
    this.flatGpus = Int32Array.from(replicaGpus.flat());
    this.local = new Int32Array(experts * gpus).fill(-1);
    replicaGpus.forEach((replicas, expert) => {
      for (let source = 0; source < gpus; source++) {
        const node = Math.floor(source / gpusPerNode);
        const choice = replicas.includes(source) ? source : replicas.find((gpu) => Math.floor(gpu / gpusPerNode) === node);
        if (choice !== undefined) this.local[expert * gpus + source] = choice;
      }
    });
  }

  gpuFor(expert: number, source: number, token: number, gpus: number): number {
    const local = this.local[expert * gpus + source];
    if (local >= 0) return local;
    const first = this.start[expert];
    return this.flatGpus[first + (token % (this.start[expert + 1] - first))];
  }
}

/** Accumulates one layer's matrix and nodes-per-token histogram, token by token. */
export class LayerCounter {
  private readonly matrix: Float64Array;
  private readonly histogram: Float64Array;
  private readonly seenGpu: Int32Array;
  private readonly seenNode: Int32Array;
  private tokens = 0;
  private readonly gpusPerNode: number;

  constructor(
    private readonly gpus: number,
    private readonly nodes: number,
  ) {
    this.matrix = new Float64Array(gpus * gpus);
    this.histogram = new Float64Array(nodes + 1);
    this.seenGpu = new Int32Array(gpus).fill(-1);
    this.seenNode = new Int32Array(nodes).fill(-1);
    this.gpusPerNode = gpus / nodes;
  }

  /** Tokens start..end-1 of a [tokens, layers, k] chunk that begins at token `chunkStart`; this layer's ids sit at `layerOffset`. */
  addTokens(ids: Int32Array, chunkStart: number, end: number, stride: number, layerOffset: number, k: number, sources: Int32Array, route: ReplicaRoute): void {
    for (let t = chunkStart; t < end; t++) this.addToken(ids, (t - chunkStart) * stride + layerOffset, k, sources[t], t, route);
  }

  addToken(ids: Int32Array, offset: number, k: number, source: number, token: number, route: ReplicaRoute): void {
    let nodesTouched = 0;
    for (let j = 0; j < k; j++) {
      const gpu = route.gpuFor(ids[offset + j], source, token, this.gpus);
      if (this.seenGpu[gpu] === token) continue;
      this.seenGpu[gpu] = token;
      if (gpu !== source) this.matrix[source * this.gpus + gpu] += 1;
      const node = Math.floor(gpu / this.gpusPerNode);
      if (this.seenNode[node] !== token) {
        this.seenNode[node] = token;
        nodesTouched += 1;
      }
    }
    this.histogram[nodesTouched] += 1;
    this.tokens += 1;
  }

  result(layer: number, policy: 'hierarchical' | 'global', bytes: { dispatch: number; combine: number }, bandwidth: Bandwidth): LayerTraffic {
    const { gpus } = this;
    const perCopy = bytes.dispatch + bytes.combine;
    const intra = new Float64Array(gpus);
    const inter = new Float64Array(gpus);
    let hottest: [number, number] = [0, 1 % gpus];
    for (let src = 0; src < gpus; src++) {
      for (let dst = 0; dst < gpus; dst++) {
        const copies = this.matrix[src * gpus + dst];
        if (copies > this.matrix[hottest[0] * gpus + hottest[1]]) hottest = [src, dst];
        const sameNode = Math.floor(src / this.gpusPerNode) === Math.floor(dst / this.gpusPerNode);
        const target = sameNode ? intra : inter;
        // Dispatch src -> dst and combine dst -> src: each copy counts at both ends.
        target[src] += copies * perCopy;
        target[dst] += copies * perCopy;
      }
    }
    const total = Array.from(intra, (value, g) => value + inter[g]);
    const time = Math.max(...Array.from(intra, (value, g) => inter[g] / (bandwidth.rdmaGBps * 1e9) + value / (bandwidth.nvlinkGBps * 1e9)));
    const histogram = Array.from(this.histogram);
    return {
      layer,
      policy,
      matrix: Array.from({ length: gpus }, (_, src) => Array.from(this.matrix.subarray(src * gpus, (src + 1) * gpus))),
      max_bytes_per_gpu: Math.max(...total),
      mean_bytes_per_gpu: total.reduce((a, b) => a + b, 0) / gpus,
      hottest_pair: hottest,
      time_s: time,
      nodes_per_token: { mean: histogram.reduce((sum, count, n) => sum + count * n, 0) / Math.max(1, this.tokens), histogram },
    };
  }
}
