/**
 * The correctness reference: the forward pass of every family architecture.md describes (DeepSeek V1, V2, V3/R1,
 * Mixtral, Qwen2-MoE, OLMoE) in plain TypeScript, float64, one prompt at a time. It is written straight from the
 * spec (sections 1, 4, 5 and 6) and shares nothing with the ONNX graphs or with src/models/rope.ts, so tests can
 * hold the fast path to it. Slow and simple on purpose: it reads top to bottom, one named step of math at a time.
 */
import type { MhaAttention, MlaAttention, ModelConfig, RopeSettings } from '../models/config.js';
import { isMoeLayer } from '../models/config.js';
import { tensorNames } from '../models/tensor-names.js';
import { gate, gateWeights, sigmoid, softmax, type GateDecision } from './moe-routing.js';

/** Reads a tensor as float64 by name (the Checkpoint's readFloat64, or an in-memory map in tests). */
export type WeightSource = (name: string) => Float64Array;

/** The gate's decision for one token at one MoE layer; with an override, ids and weights are the override's. */
export interface ReferenceRouting extends GateDecision {
  /** Model layer index of the MoE layer. */
  layer: number;
  /**
   * The speculative gate (analyses.md "Expert caching and prefetch"): this layer's gate applied to the previous
   * decoder layer's FFN input, RMSNorm_post of that layer, dense or MoE. None for layer 0.
   */
  speculative?: GateDecision;
  /** With e_score_correction_bias: the gate's decision with the bias set to zero (analyses.md). */
  unbiased?: GateDecision;
}

export interface ReferenceOptions {
  /** Lets a test follow another implementation's choice at a near-tie, so one tie does not spread to later layers. */
  overrideChoice?: (layer: number, position: number, decision: GateDecision) => number[] | undefined;
}

/**
 * q_a_layernorm and kv_a_layernorm are built with the RMSNorm constructor's default eps, not rms_norm_eps
 * (architecture.md section 1); every released DeepSeek config happens to set rms_norm_eps to the same 1e-6.
 */
const LATENT_NORM_EPS = 1e-6;

/** Routes one prompt; returns, per token, its routing at every MoE layer in layer order. */
export function referenceRoute(config: ModelConfig, weight: WeightSource, tokenIds: number[], options: ReferenceOptions = {}): ReferenceRouting[][] {
  const { hiddenSize: H, rmsNormEps: eps } = config;
  const names = tensorNames(config);
  // h_t = E[token_t]: a plain row gather, no scaling.
  const embedding = weight(names.embedding);
  let hidden: Float64Array[] = tokenIds.map((id) => embedding.slice(id * H, (id + 1) * H));
  const routing: ReferenceRouting[][] = tokenIds.map(() => []);
  // Each token's FFN input at the previous layer, for the speculative gate.
  let previousFfnInput: Float64Array[] | undefined;

  for (let l = 0; l < config.numLayers; l++) {
    const layer = names.layer(l);
    // a = h + Attn(RMSNorm_in(h))
    const attentionInput = hidden.map((h) => rmsNorm(h, weight(layer.inputNorm), eps));
    const attended = referenceAttention(config, weight, l, attentionInput);
    const afterAttention = hidden.map((h, t) => add(h, attended[t]));
    // h = a + FFN_l(RMSNorm_post(a))
    const ffnInput = afterAttention.map((a) => rmsNorm(a, weight(layer.postNorm), eps));
    hidden = afterAttention.map((a, t) => {
      const x = ffnInput[t];
      if (!isMoeLayer(config, l)) return add(a, gatedMlp(x, weight(layer.denseGate), weight(layer.denseUp), weight(layer.denseDown), config.intermediateSize));
      const route = routeToken(config, weight, l, t, x, options);
      if (previousFfnInput) route.speculative = gateOf(config, weight, l, previousFfnInput[t]);
      routing[t].push(route);
      return add(a, moeFeedForward(config, weight, l, x, route));
    });
    previousFfnInput = ffnInput;
  }
  return routing;
}

/** architecture.md 5.1-5.3 and section 6: router logits, then the gate the config names. */
function routeToken(config: ModelConfig, weight: WeightSource, layer: number, position: number, x: Float64Array, options: ReferenceOptions): ReferenceRouting {
  const decision = gateOf(config, weight, layer, x);
  const override = options.overrideChoice?.(layer, position, decision);
  const ids = override ?? decision.ids;
  const weights = override ? gateWeights(override, decision.scores, config) : decision.weights;
  // The counterfactual without the balancing bias: the same scores, groups and experts chosen from them alone.
  const unbiased = config.topkMethod === 'noaux_tc' ? gateOf(config, weight, layer, x, { biasSetToZero: true }) : undefined;
  return { ...decision, layer, ids, weights, unbiased };
}

/** Layer `layer`'s router logits for x, then its gate (with e_score_correction_bias, or with it set to zero). */
function gateOf(config: ModelConfig, weight: WeightSource, layer: number, x: Float64Array, { biasSetToZero = false } = {}): GateDecision {
  const names = tensorNames(config).layer(layer);
  const logits = matVec(weight(names.router), x, config.nRoutedExperts);
  // V3's e_score_correction_bias steers which experts are chosen, never their weights; it is stored F32, so
  // reading it as float64 keeps it exact (architecture.md 5.3 step 2).
  const bias = config.topkMethod !== 'noaux_tc' ? undefined : biasSetToZero ? new Float64Array(config.nRoutedExperts) : weight(names.routerBias);
  return gate(logits, config, bias);
}

/**
 * architecture.md 5.4: y = Σ_j w_j · Expert_{ids_j}(x) + Shared(x). DeepSeek adds its shared experts unweighted;
 * Qwen2-MoE scales its one shared expert by a learned gate, sigmoid(x · w_shared_expert_gate).
 */
function moeFeedForward(config: ModelConfig, weight: WeightSource, layer: number, x: Float64Array, route: ReferenceRouting): Float64Array {
  const names = tensorNames(config).layer(layer);
  const y = new Float64Array(config.hiddenSize);
  route.ids.forEach((e, j) => {
    const expertOut = gatedMlp(x, weight(names.expertGate(e)), weight(names.expertUp(e)), weight(names.expertDown(e)), config.moeIntermediateSize);
    addScaled(y, route.weights[j], expertOut);
  });
  if (config.sharedIntermediateSize > 0) {
    const sharedOut = gatedMlp(x, weight(names.sharedGate), weight(names.sharedUp), weight(names.sharedDown), config.sharedIntermediateSize);
    const sharedWeight = config.sharedExpertGate ? sigmoid(dot(weight(names.sharedExpertGate), x)) : 1;
    addScaled(y, sharedWeight, sharedOut);
  }
  return y;
}

/**
 * Attn(x) of one layer over a whole prompt, causally: x holds the attention input (after RMSNorm_in) of every
 * token; returns the o_proj output, width H, of every token.
 */
export function referenceAttention(config: ModelConfig, weight: WeightSource, layer: number, x: Float64Array[]): Float64Array[] {
  return config.attention.kind === 'mla' ? latentAttention(config, config.attention, weight, layer, x) : standardAttention(config, config.attention, weight, layer, x);
}

/**
 * Standard attention (architecture.md 4.1 and section 6): q/k/v projections, optional biases (Qwen2-MoE),
 * optional RMSNorm over the whole projected q and k (OLMoE), RoPE, and grouped-query sharing of kv heads.
 */
function standardAttention(config: ModelConfig, attention: MhaAttention, weight: WeightSource, layer: number, x: Float64Array[]): Float64Array[] {
  const { numHeads, numKvHeads, headDim: D, qkvBias, qkNorm } = attention;
  const names = tensorNames(config).layer(layer);
  const project = (xt: Float64Array, w: string, bias: string, rows: number) => {
    const y = matVec(weight(w), xt, rows);
    return qkvBias ? add(y, weight(bias)) : y;
  };
  // OLMoE normalises the full projection, all heads together, before it is split into heads and rotated.
  const normaliseIfAsked = (y: Float64Array, norm: string) => (qkNorm ? rmsNorm(y, weight(norm), config.rmsNormEps) : y);

  const queries = x.map((xt, position) => {
    const q = normaliseIfAsked(project(xt, names.q, names.qBias, numHeads * D), names.qNorm);
    return splitHeads(q, numHeads, D).map((head) => applyRope(head, position, config.rope));
  });
  const kvKeys = x.map((xt, position) => {
    const k = normaliseIfAsked(project(xt, names.k, names.kBias, numKvHeads * D), names.kNorm);
    return splitHeads(k, numKvHeads, D).map((head) => applyRope(head, position, config.rope));
  });
  const kvValues = x.map((xt) => splitHeads(project(xt, names.v, names.vBias, numKvHeads * D), numKvHeads, D));

  // Grouped-query attention: each run of numHeads / numKvHeads consecutive query heads shares one kv head.
  const headsPerKvHead = numHeads / numKvHeads;
  const kvHeadOf = (head: number) => Math.floor(head / headsPerKvHead);
  const keys = kvKeys.map((perKvHead) => range(numHeads).map((head) => perKvHead[kvHeadOf(head)]));
  const values = kvValues.map((perKvHead) => range(numHeads).map((head) => perKvHead[kvHeadOf(head)]));

  const heads = causalAttention(queries, keys, values, attention.softmaxScale);
  return heads.map((concatenated) => matVec(weight(names.o), concatenated, config.hiddenSize));
}

/**
 * Multi-head latent attention of DeepSeek V2/V3 in its naive form (architecture.md 4.2): every head gets a full
 * key and value expanded from the shared latent c_kv, plus one rotated key part k_pe shared by all heads.
 */
function latentAttention(config: ModelConfig, attention: MlaAttention, weight: WeightSource, layer: number, x: Float64Array[]): Float64Array[] {
  const { numHeads, qLoraRank, kvLoraRank, qkNopeHeadDim: dn, qkRopeHeadDim: dr, vHeadDim: dv } = attention;
  const names = tensorNames(config).layer(layer);
  const queries: Float64Array[][] = [];
  const keys: Float64Array[][] = [];
  const values: Float64Array[][] = [];

  x.forEach((xt, position) => {
    // 1. Query: straight from q_proj (V2-Lite), or through the low-rank bottleneck c_q = RMSNorm(x · W_qaᵀ).
    const q = qLoraRank === null
      ? matVec(weight(names.q), xt, numHeads * (dn + dr))
      : matVec(weight(names.qB), rmsNorm(matVec(weight(names.qA), xt, qLoraRank), weight(names.qANorm), LATENT_NORM_EPS), numHeads * (dn + dr));

    // 2. Compressed KV: rows of kv_a are [latent c_kv | rope key k_pe]; only the latent is normalised and expanded.
    const compressed = matVec(weight(names.kvA), xt, kvLoraRank + dr);
    const latent = compressed.subarray(0, kvLoraRank);
    const kv = matVec(weight(names.kvB), rmsNorm(latent, weight(names.kvANorm), LATENT_NORM_EPS), numHeads * (dn + dv));

    // 3. Shared rope key: k_pe is rotated once, as it is, and every head uses the same one.
    const sharedRopeKey = applyRope(compressed.subarray(kvLoraRank), position, config.rope);

    // 4. Head assembly, rows head-major and nope first: Q_h = [q_nope_h | RoPE(q_pe_h)], K_h = [k_nope_h | RoPE(k_pe)].
    const queryHeads = splitHeads(q, numHeads, dn + dr);
    const kvHeads = splitHeads(kv, numHeads, dn + dv);
    queries.push(queryHeads.map((head) => concat(head.subarray(0, dn), applyRope(head.subarray(dn), position, config.rope))));
    keys.push(kvHeads.map((head) => concat(head.subarray(0, dn), sharedRopeKey)));
    values.push(kvHeads.map((head) => head.slice(dn)));
  });

  // 5. Causal softmax attention per head; the scale already carries YaRN's mscale² factor (architecture.md 4.4).
  const heads = causalAttention(queries, keys, values, attention.softmaxScale);
  return heads.map((concatenated) => matVec(weight(names.o), concatenated, config.hiddenSize));
}

/**
 * softmax(q_h · k_h,s · scale) over the keys s <= t, then the weighted sum of v_h,s. Inputs are per token, per head;
 * the output is per token, with the heads concatenated in head order (the layout o_proj reads).
 */
function causalAttention(queries: Float64Array[][], keys: Float64Array[][], values: Float64Array[][], scale: number): Float64Array[] {
  return queries.map((queryHeads, t) =>
    concat(
      ...queryHeads.map((q, head) => {
        const visible = range(t + 1);
        const attentionWeights = softmax(Float64Array.from(visible, (s) => dot(q, keys[s][head]) * scale));
        const out = new Float64Array(values[t][head].length);
        for (const s of visible) addScaled(out, attentionWeights[s], values[s][head]);
        return out;
      }),
    ),
  );
}

/**
 * RoPE on one head's rotated slice at a position, pairing dimensions the way the checkpoint stores them
 * (architecture.md 4.3): DeepSeek V2/V3 rope slices hold interleaved pairs, every other model rotate-half pairs.
 */
function applyRope(slice: Float64Array, position: number, rope: RopeSettings): Float64Array {
  const angles = ropeAngles(rope, position);
  return rope.interleaved ? rotateInterleavedPairs(slice, angles) : rotateHalf(slice, angles);
}

/** cos and sin of position · inv_freq_i for i < dim/2, each times YaRN's amplitude. */
export interface RopeAngles {
  cos: Float64Array;
  sin: Float64Array;
}

export function ropeAngles(rope: RopeSettings, position: number): RopeAngles {
  const inverseFrequencies = referenceInverseFrequencies(rope);
  const amplitude = ropeAmplitude(rope);
  return {
    cos: inverseFrequencies.map((f) => amplitude * Math.cos(position * f)),
    sin: inverseFrequencies.map((f) => amplitude * Math.sin(position * f)),
  };
}

/** Pairs (2i, 2i+1) rotated as the complex number x_2i + i·x_2i+1 (DeepSeek V2/V3, architecture.md 4.3). */
export function rotateInterleavedPairs(x: Float64Array, { cos, sin }: RopeAngles): Float64Array {
  checkRopeWidth(x, cos);
  const out = new Float64Array(x.length);
  for (let i = 0; i < cos.length; i++) {
    const [even, odd] = [x[2 * i], x[2 * i + 1]];
    out[2 * i] = even * cos[i] - odd * sin[i];
    out[2 * i + 1] = even * sin[i] + odd * cos[i];
  }
  return out;
}

/** Pairs (i, i + d/2), the HF "rotate-half" form (architecture.md 4.1). */
export function rotateHalf(x: Float64Array, { cos, sin }: RopeAngles): Float64Array {
  checkRopeWidth(x, cos);
  const half = cos.length;
  const out = new Float64Array(x.length);
  for (let i = 0; i < half; i++) {
    const [first, second] = [x[i], x[i + half]];
    out[i] = first * cos[i] - second * sin[i];
    out[i + half] = first * sin[i] + second * cos[i];
  }
  return out;
}

/** A head whose width differs from config.rope.dim would be rotated at the wrong frequencies; refuse it. */
function checkRopeWidth(x: Float64Array, cos: Float64Array): void {
  if (x.length !== 2 * cos.length) throw new Error(`reference: RoPE over ${x.length} dims, but rope.dim is ${2 * cos.length}`);
}

/**
 * inv_freq_i for i < dim/2 (architecture.md 4.4): theta^(-2i/dim), and with YaRN, blended towards that divided by
 * the factor. Dimensions that turn many times within the pre-training context L0 already generalise and keep their
 * frequency; those that turn less than once are interpolated by the full factor; a linear ramp joins the two.
 */
export function referenceInverseFrequencies(rope: RopeSettings): Float64Array {
  const { dim: d, theta, yarn } = rope;
  const plain = Float64Array.from({ length: d / 2 }, (_, i) => Math.pow(theta, (-2 * i) / d));
  if (yarn === null) return plain;

  // corr(r): the dimension index whose wavelength fits r times into L0, d · ln(L0 / (2π r)) / (2 ln theta).
  const correctionDim = (rotations: number) => (d * Math.log(yarn.originalMaxPositionEmbeddings / (2 * Math.PI * rotations))) / (2 * Math.log(theta));
  const clampToDims = (v: number) => Math.min(Math.max(v, 0), d - 1);
  const low = clampToDims(Math.floor(correctionDim(yarn.betaFast)));
  const high = clampToDims(Math.ceil(correctionDim(yarn.betaSlow)));
  return plain.map((f, i) => {
    const ramp = linearRamp(i, low, high);
    return f * (1 - ramp) + (f / yarn.factor) * ramp;
  });
}

/** clamp((i - low) / (high - low), 0, 1). An empty range is a step after `low`, as HF's widening of it by 0.001 gives. */
function linearRamp(i: number, low: number, high: number): number {
  if (high === low) return i > low ? 1 : 0;
  return Math.min(Math.max((i - low) / (high - low), 0), 1);
}

/** YaRN's amplitude on cos and sin, g(factor, mscale) / g(factor, mscale_all_dim), with g(s, m) = 0.1 · m · ln s + 1. */
function ropeAmplitude(rope: RopeSettings): number {
  if (rope.yarn === null) return 1;
  const { factor, mscale, mscaleAllDim } = rope.yarn;
  // g is 1 when the context is not stretched at all.
  const g = (m: number) => (factor <= 1 ? 1 : 0.1 * m * Math.log(factor) + 1);
  return g(mscale) / g(mscaleAllDim);
}

/** y = W_down (SiLU(W_gate x) ⊙ W_up x), W stored [out, in], SiLU(z) = z · σ(z). */
function gatedMlp(x: Float64Array, wGate: Float64Array, wUp: Float64Array, wDown: Float64Array, width: number): Float64Array {
  const gateOut = matVec(wGate, x, width);
  const upOut = matVec(wUp, x, width);
  const inner = gateOut.map((g, i) => g * sigmoid(g) * upOut[i]);
  return matVec(wDown, inner, x.length);
}

/** W (rows, n) @ x (n,) -> (rows,); checkpoints store every Linear as [out, in]. */
function matVec(w: Float64Array, x: Float64Array, rows: number): Float64Array {
  const n = x.length;
  if (w.length !== rows * n) throw new Error(`reference: a [${rows}, ${n}] weight has ${w.length} values`);
  return Float64Array.from({ length: rows }, (_, r) => dot(w.subarray(r * n, (r + 1) * n), x));
}

/** x / sqrt(mean(x²) + eps) ⊙ w */
function rmsNorm(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  const inverseRms = 1 / Math.sqrt(dot(x, x) / x.length + eps);
  return x.map((v, i) => v * inverseRms * w[i]);
}

/** Cuts a head-major vector into `heads` consecutive slices of `width`. */
function splitHeads(vector: Float64Array, heads: number, width: number): Float64Array[] {
  return range(heads).map((h) => vector.subarray(h * width, (h + 1) * width));
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function add(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((v, i) => v + b[i]);
}

/** y += scale · x, in place. */
function addScaled(y: Float64Array, scale: number, x: Float64Array): void {
  for (let i = 0; i < y.length; i++) y[i] += scale * x[i];
}

function concat(...parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
