/**
 * The correctness reference: DeepSeekMoE (v1) forward pass in plain TypeScript, float64, one prompt at a time,
 * written straight from architecture.md (sections 1, 4.1, 5.1, 5.4) and independent of the ONNX graphs.
 * Slow and simple on purpose; tests hold `route` to it on small synthetic checkpoints.
 */
import type { ModelConfig } from '../models/config.js';
import { isMoeLayer } from '../models/config.js';
import { tensorNames } from '../models/tensor-names.js';
import { gate, gateWeights } from './moe-routing.js';

/** Reads a tensor as float64 by name (the Checkpoint's readFloat64, or an in-memory map in tests). */
export type WeightSource = (name: string) => Float64Array;

export interface ReferenceRouting {
  /** Model layer index of the MoE layer. */
  layer: number;
  /** Chosen experts, in descending order of score (ties: lower index first). */
  ids: number[];
  /** Gate weights applied to the chosen experts. */
  weights: number[];
  /** Unbiased routing score of every expert (softmax, or sigmoid for V3). */
  scores: Float64Array;
  /** Gap between the K-th and (K+1)-th best selection score; near 0 means a near-tie. */
  margin: number;
}

export interface ReferenceOptions {
  /** Lets a test follow another implementation's choice at a near-tie, so one tie does not spread to later layers. */
  overrideChoice?: (layer: number, position: number, scores: Float64Array) => number[] | undefined;
}

/** Routes one prompt; returns, per token, its routing at every MoE layer in layer order. */
export function referenceRoute(config: ModelConfig, weight: WeightSource, tokenIds: number[], options: ReferenceOptions = {}): ReferenceRouting[][] {
  const { hiddenSize: H, numLayers } = config;
  const T = tokenIds.length;
  const embedding = weight(tensorNames(config).embedding);
  // h[t] = E[token_t]
  const hidden: Float64Array[] = tokenIds.map((id) => embedding.slice(id * H, (id + 1) * H));
  const routing: ReferenceRouting[][] = tokenIds.map(() => []);

  for (let l = 0; l < numLayers; l++) {
    const names = tensorNames(config).layer(l);
    // a = h + Attn(RMSNorm_in(h))
    const normed = hidden.map((h) => rmsNorm(h, weight(names.inputNorm), config.rmsNormEps));
    const attended = attention(config, weight, l, normed);
    const a = hidden.map((h, t) => add(h, attended[t]));
    // h = a + FFN(RMSNorm_post(a))
    for (let t = 0; t < T; t++) {
      const x = rmsNorm(a[t], weight(names.postNorm), config.rmsNormEps);
      let y: Float64Array;
      if (isMoeLayer(config, l)) {
        const route = routeToken(config, weight(names.router), x, l, t, options);
        routing[t].push(route);
        y = new Float64Array(H);
        route.ids.forEach((e, j) => {
          const expertOut = gatedMlp(x, weight(names.expertGate(e)), weight(names.expertUp(e)), weight(names.expertDown(e)), config.moeIntermediateSize);
          for (let i = 0; i < H; i++) y[i] += route.weights[j] * expertOut[i];
        });
        if (config.nSharedExperts > 0) {
          const shared = gatedMlp(x, weight(names.sharedGate), weight(names.sharedUp), weight(names.sharedDown), config.nSharedExperts * config.moeIntermediateSize);
          for (let i = 0; i < H; i++) y[i] += shared[i];
        }
      } else {
        y = gatedMlp(x, weight(names.denseGate), weight(names.denseUp), weight(names.denseDown), config.intermediateSize);
      }
      hidden[t] = add(a[t], y);
    }
  }
  return routing;
}

/** architecture.md 5.1-5.3: the gate the config names (v1: softmax, greedy top-K, raw weights). */
function routeToken(config: ModelConfig, router: Float64Array, x: Float64Array, layer: number, position: number, options: ReferenceOptions): ReferenceRouting {
  const decision = gate(matVec(router, x, config.nRoutedExperts), config);
  const override = options.overrideChoice?.(layer, position, decision.scores);
  const ids = override ?? decision.ids;
  const weights = override ? gateWeights(override, decision.scores, config) : decision.weights;
  return { layer, ids, weights, scores: decision.scores, margin: decision.margin };
}

/** Causal multi-head attention over one prompt, rotate-half RoPE (architecture.md 4.1); returns (x Attn) Woᵀ per token. */
function attention(config: ModelConfig, weight: WeightSource, layer: number, x: Float64Array[]): Float64Array[] {
  const { hiddenSize: H } = config;
  if (config.attention.kind !== 'mha') throw new Error('reference: standard attention only');
  const { numHeads, numKvHeads, headDim: D } = config.attention;
  const names = tensorNames(config).layer(layer);
  const wq = weight(names.q);
  const wk = weight(names.k);
  const wv = weight(names.v);
  const wo = weight(names.o);
  const q = x.map((xt, pos) => rope(matVec(wq, xt, numHeads * D), pos, numHeads, D, config.rope.theta));
  const k = x.map((xt, pos) => rope(matVec(wk, xt, numKvHeads * D), pos, numKvHeads, D, config.rope.theta));
  const v = x.map((xt) => matVec(wv, xt, numKvHeads * D));
  const groupSize = numHeads / numKvHeads;
  const scale = 1 / Math.sqrt(D);
  return x.map((_, t) => {
    const out = new Float64Array(numHeads * D);
    for (let head = 0; head < numHeads; head++) {
      const kvHead = Math.floor(head / groupSize);
      const logits = new Float64Array(t + 1);
      for (let s = 0; s <= t; s++) {
        let dot = 0;
        for (let i = 0; i < D; i++) dot += q[t][head * D + i] * k[s][kvHead * D + i];
        logits[s] = dot * scale;
      }
      const p = softmax(logits);
      for (let s = 0; s <= t; s++) {
        for (let i = 0; i < D; i++) out[head * D + i] += p[s] * v[s][kvHead * D + i];
      }
    }
    return matVec(wo, out, H);
  });
}

/** Rotate-half RoPE on every head: dimension i pairs with i + D/2, angle pos * theta^(-2i/D). */
function rope(vector: Float64Array, position: number, heads: number, D: number, theta: number): Float64Array {
  const out = new Float64Array(vector.length);
  const half = D / 2;
  for (let head = 0; head < heads; head++) {
    const base = head * D;
    for (let i = 0; i < half; i++) {
      const angle = position * Math.pow(theta, (-2 * i) / D);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      const x1 = vector[base + i];
      const x2 = vector[base + i + half];
      out[base + i] = x1 * c - x2 * s;
      out[base + i + half] = x2 * c + x1 * s;
    }
  }
  return out;
}

/** y = W_down (SiLU(W_gate x) ⊙ W_up x), W stored [out, in]. */
function gatedMlp(x: Float64Array, wGate: Float64Array, wUp: Float64Array, wDown: Float64Array, width: number): Float64Array {
  const gate = matVec(wGate, x, width);
  const up = matVec(wUp, x, width);
  const inner = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
  return matVec(wDown, inner, x.length);
}

/** W (rows, n) @ x (n,) -> (rows,) */
function matVec(w: Float64Array, x: Float64Array, rows: number): Float64Array {
  const n = x.length;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    const offset = r * n;
    for (let i = 0; i < n; i++) sum += w[offset + i] * x[i];
    out[r] = sum;
  }
  return out;
}

function rmsNorm(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  let meanSquare = 0;
  for (const v of x) meanSquare += v * v;
  const inv = 1 / Math.sqrt(meanSquare / x.length + eps);
  return x.map((v, i) => v * inv * w[i]);
}

function softmax(logits: Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const exps = logits.map((v) => Math.exp(v - max));
  let sum = 0;
  for (const v of exps) sum += v;
  return exps.map((v) => v / sum);
}

function add(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((v, i) => v + b[i]);
}
