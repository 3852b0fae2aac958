/**
 * The feed-forward half of a decoder layer as ONNX graphs, h' = a + FFN(RMSNorm_post(a)), evaluated in fp32
 * (architecture.md sections 1, 5 and 6). A MoE layer runs one of two ways:
 *  - whole: one graph routes every token and runs its experts in com.microsoft.MoE (every expert's weights
 *    are inputs at once);
 *  - streamed, for layers too large to hold in fp32 (V3: 45 GB): a router graph routes and adds the shared
 *    expert, then the runtime runs each routed expert's gated MLP on the tokens that chose it, one expert's
 *    weights at a time (runtime/model-runner.ts).
 * With `speculate` (route --speculate, analyses.md "Expert caching and prefetch"), every FFN graph also outputs
 * its input x = RMSNorm_post(a), and a MoE layer's router graph takes the previous decoder layer's x as
 * `x_previous` and applies its own gate to it too: `spec_topk_ids`, the experts this layer's router would have
 * chosen one layer early.
 */
import { InputError } from '../errors.js';
import { attr, GraphBuilder } from '../runtime/graph-builder.js';
import { TensorType } from '../runtime/onnx-proto.js';
import type { ModelConfig } from './config.js';
import { addGate } from './moe-gate.js';

const { float, int32 } = TensorType;

/** y = W_down (SiLU(W_gate x) ⊙ W_up x) */
function gatedMlp(g: GraphBuilder, x: string, wGate: string, wUp: string, wDown: string): string {
  return g.gemmT(g.mul(g.silu(g.gemmT(x, wGate)), g.gemmT(x, wUp)), wDown);
}

/** What a graph records besides the layer's output. */
export interface FfnGraphOptions {
  /** Output every routing score (T, E). */
  saveProbs: boolean;
  /** Output x and, for MoE layers, the gate applied to `x_previous` (see the top of this file). */
  speculate: boolean;
}

/** Dense gated MLP layer: h' = a + W_down (SiLU(W_gate x) ⊙ W_up x), x = RMSNorm_post(a). */
export function buildDenseMlpGraph(config: ModelConfig, options: Pick<FfnGraphOptions, 'speculate'>): Uint8Array {
  const { hiddenSize: H, intermediateSize: I } = config;
  const g = new GraphBuilder('dense_mlp');
  const a = g.input('hidden', float, ['T', H]);
  const wNorm = g.input('w_post_norm', float, [H]);
  const wGate = g.input('w_gate', float, [I, H]);
  const wUp = g.input('w_up', float, [I, H]);
  const wDown = g.input('w_down', float, [H, I]);
  const x = g.rmsNorm(a, wNorm, config.rmsNormEps);
  g.output(g.add(a, gatedMlp(g, x, wGate, wUp, wDown)), 'out', float, ['T', H]);
  if (options.speculate) g.output(x, 'x', float, ['T', H]);
  return g.build();
}

/** One routed expert on the tokens that chose it, for streamed MoE layers: y = Expert(x). */
export function buildExpertGraph(config: ModelConfig): Uint8Array {
  const { hiddenSize: H, moeIntermediateSize: Im } = config;
  const g = new GraphBuilder('expert_mlp');
  const x = g.input('x', float, ['N', H]);
  const wGate = g.input('w_gate', float, [Im, H]);
  const wUp = g.input('w_up', float, [Im, H]);
  const wDown = g.input('w_down', float, [H, Im]);
  g.output(gatedMlp(g, x, wGate, wUp, wDown), 'y', float, ['N', H]);
  return g.build();
}

/**
 * x = RMSNorm_post(a) and the router, with the routing outputs every MoE graph gives (and, speculating, the gate
 * on x_previous).
 */
function addRouter(g: GraphBuilder, config: ModelConfig, a: string, options: FfnGraphOptions) {
  const { hiddenSize: H, nRoutedExperts: E, topK: K } = config;
  const wNorm = g.input('w_post_norm', float, [H]);
  const wRouter = g.input('w_router', float, [E, H]);
  const bias = config.topkMethod === 'noaux_tc' ? g.input('w_router_bias', float, [E]) : undefined;

  // x = RMSNorm_post(a)                                       (T, H)
  const x = g.rmsNorm(a, wNorm, config.rmsNormEps);
  // logits = x W_gᵀ in fp32; the gate of the config picks idx and w (architecture.md 5)   (T, K)
  const logits = g.gemmT(x, wRouter);
  const gate = addGate(g, logits, E, config, bias);
  g.output(g.node('Cast', [gate.indices], { to: attr.int(int32) }), 'topk_ids', int32, ['T', K]);
  g.output(gate.weights, 'topk_weights', float, ['T', K]);
  if (gate.unbiasedIndices) g.output(g.node('Cast', [gate.unbiasedIndices], { to: attr.int(int32) }), 'unbiased_topk_ids', int32, ['T', K]);
  g.output(g.reduceSum(gate.scores, [0], false), 'score_sum', float, [E]);
  if (options.saveProbs) g.output(gate.scores, 'scores', float, ['T', E]);
  if (options.speculate) {
    // The same gate on the previous decoder layer's FFN input: one more (T, H) x (H, E) product.
    const xPrevious = g.input('x_previous', float, ['T', H]);
    const speculative = addGate(g, g.gemmT(xPrevious, wRouter), E, config, bias);
    g.output(g.node('Cast', [speculative.indices], { to: attr.int(int32) }), 'spec_topk_ids', int32, ['T', K]);
  }
  return { x, logits, gate };
}

/**
 * The parts of a MoE layer outside the routed experts: the router, and the shared expert.
 * Returns the graph's routing outputs and `base` = a + Shared(x), to which the routed experts are added.
 */
function addRouterAndShared(g: GraphBuilder, config: ModelConfig, a: string, options: FfnGraphOptions) {
  const { hiddenSize: H, sharedIntermediateSize: S } = config;
  const { x, logits, gate } = addRouter(g, config, a, options);
  // base = a + Shared(x): unweighted, or times sigmoid(x · w_seg) for Qwen2-MoE
  let base = a;
  if (S > 0) {
    const wsGate = g.input('w_shared_gate', float, [S, H]);
    const wsUp = g.input('w_shared_up', float, [S, H]);
    const wsDown = g.input('w_shared_down', float, [H, S]);
    let shared = gatedMlp(g, x, wsGate, wsUp, wsDown);
    if (config.sharedExpertGate) shared = g.mul(shared, g.node('Sigmoid', [g.gemmT(x, g.input('w_shared_expert_gate', float, [1, H]))]));
    base = g.add(a, shared);
  }
  return { x, logits, gate, base };
}

/**
 * The router alone, for the last MoE layer: nothing after its routing decision (its experts, later layers)
 * changes any recorded routing, so none of it is run.
 */
export function buildRouterOnlyGraph(config: ModelConfig, options: FfnGraphOptions): Uint8Array {
  const g = new GraphBuilder('moe_router_only');
  addRouter(g, config, g.input('hidden', float, ['T', config.hiddenSize]), options);
  return g.build();
}

/** Router and shared expert of a streamed MoE layer: outputs x for the experts and base = a + Shared(x). */
export function buildRouterGraph(config: ModelConfig, options: FfnGraphOptions): Uint8Array {
  const H = config.hiddenSize;
  const g = new GraphBuilder('moe_router');
  const a = g.input('hidden', float, ['T', H]);
  const { x, base } = addRouterAndShared(g, config, a, options);
  g.output(x, 'x', float, ['T', H]);
  g.output(base, 'base', float, ['T', H]);
  return g.build();
}

/**
 * A whole MoE layer: h' = a + Σ_j w_j Expert_idx_j(x) + Shared(x).
 * The routed experts run in com.microsoft.MoE, which takes interleaved gate/up rows (fc1 row 2i = gate_i,
 * row 2i+1 = up_i). MoE picks its own top-k from `router_probs` and softmaxes them; feeding log(w) on our chosen
 * experts and -1e30 elsewhere makes it use exactly our choice with weights w / Σw, and multiplying the output
 * by Σw restores w. So the routing decision is made once, by the gate, whatever the family's rule.
 */
export function buildMoeGraph(config: ModelConfig, options: FfnGraphOptions): Uint8Array {
  const { hiddenSize: H, moeIntermediateSize: Im, nRoutedExperts: E, topK: K } = config;
  if (H === Im) {
    // com.microsoft.MoE guesses its weight layout from shapes and takes H == Im for its legacy transposed layout.
    throw new InputError(`hidden_size ${H} equal to the expert width is not supported by onnxruntime's MoE operator`, 'config-field');
  }
  const g = new GraphBuilder('moe');
  const a = g.input('hidden', float, ['T', H]);
  const fc1 = g.input('w_experts_gate_up', float, [E, 2 * Im, H]);
  const fc2 = g.input('w_experts_down', float, [E, H, Im]);
  const { x, logits, gate, base } = addRouterAndShared(g, config, a, options);

  const weightSum = g.reduceSum(gate.weights, [1], true);
  const chosenLogWeights = g.node('Log', [g.node('Max', [gate.weights, g.scalar(1e-37)])]);
  const everywhereMinus = g.node('Expand', [g.scalar(-1e30), g.node('Shape', [logits])]);
  const routerProbs = g.node('ScatterElements', [everywhereMinus, gate.indices, chosenLogWeights], { axis: attr.int(1) });
  const moeOutput = g.node(
    'MoE',
    [x, routerProbs, fc1, '', fc2],
    { k: attr.int(K), activation_type: attr.string('swiglu'), swiglu_fusion: attr.int(1), normalize_routing_weights: attr.int(0) },
    undefined,
    'com.microsoft',
  );
  // com.microsoft.MoE lets onnxruntime give it x's buffer for its output (MayInplace) when MoE is x's last
  // reader, and its output then comes out all zeros: it clears the output before reading x. Where(true, ·, x)
  // passes the output through unchanged and reads x after MoE, so x's buffer is never handed over.
  const routedNormalised = g.node('Where', [g.constantBool(true), moeOutput, x]);
  g.output(g.add(base, g.mul(routedNormalised, weightSum)), 'out', float, ['T', H]);
  if (options.speculate) g.output(x, 'x', float, ['T', H]);
  return g.build();
}
