/**
 * DeepSeekMoE (model_type "deepseek", the DeepSeekMoE 16B architecture) as ONNX graphs, following
 * ../shared/docs/architecture.md sections 1, 3, 4.1, 5.1 and 5.4, evaluated in fp32.
 *
 * A decoder layer is two graphs run one after the other on the packed tokens of a chunk of prompts:
 *   attention:  a = h + Attn(RMSNorm_in(h))
 *   ffn:        h' = a + FFN(RMSNorm_post(a)), FFN a dense gated MLP or the MoE block, which also emits the routing.
 * Weights are graph inputs, so one session per graph kind serves every layer: the runtime feeds each layer's
 * weights from a reused fp32 buffer.
 */
import { attr, GraphBuilder } from '../runtime/graph-builder.js';
import { TensorType } from '../runtime/onnx-proto.js';
import type { ModelConfig } from './config.js';
import { addGate } from './moe-gate.js';
import { InputError } from '../errors.js';

const { float, int32, int64 } = TensorType;

/**
 * Attention block, standard multi-head attention with rotate-half RoPE (architecture.md 4.1).
 * Prompts of a chunk are packed one after another; `mask` is the additive block-diagonal causal mask that
 * keeps every prompt to itself, and `positions` restart at 0 for each prompt.
 */
export function buildAttentionGraph(config: ModelConfig): Uint8Array {
  const { hiddenSize: H } = config;
  if (config.attention.kind !== 'mha') throw new Error('buildAttentionGraph: standard attention only');
  const { numHeads, numKvHeads, headDim: D } = config.attention;
  const g = new GraphBuilder('deepseek_attention');
  const h = g.input('hidden', float, ['T', H]);
  const positions = g.input('positions', int64, [1, 'T']);
  const mask = g.input('mask', float, ['T', 'T']);
  const cos = g.input('cos', float, ['P', D / 2]);
  const sin = g.input('sin', float, ['P', D / 2]);
  const wNorm = g.input('w_input_norm', float, [H]);
  const wq = g.input('w_q', float, [numHeads * D, H]);
  const wk = g.input('w_k', float, [numKvHeads * D, H]);
  const wv = g.input('w_v', float, [numKvHeads * D, H]);
  const wo = g.input('w_o', float, [H, numHeads * D]);

  // x = RMSNorm_in(h)                                         (T, H)
  const x = g.rmsNorm(h, wNorm, config.rmsNormEps);
  // q, k, v = x Wqᵀ, x Wkᵀ, x Wvᵀ, as (1, T, heads * D) for the rotary and attention operators
  const q = g.reshape(g.gemmT(x, wq), [1, -1, numHeads * D]);
  const k = g.reshape(g.gemmT(x, wk), [1, -1, numKvHeads * D]);
  const v = g.reshape(g.gemmT(x, wv), [1, -1, numKvHeads * D]);
  // RoPE, rotate-half pairing (i, i + D/2), angle pos * theta^(-2i/D)
  const rope = (t: string, heads: number) =>
    g.node('RotaryEmbedding', [t, cos, sin, positions], { interleaved: attr.int(0), num_heads: attr.int(heads) });
  const qRot = rope(q, numHeads);
  const kRot = rope(k, numKvHeads);
  // softmax(q kᵀ / sqrt(D) + mask) v per head                 (1, T, heads * D)
  const attention = g.node('Attention', [qRot, kRot, v, mask], {
    q_num_heads: attr.int(numHeads),
    kv_num_heads: attr.int(numKvHeads),
    scale: attr.float(1 / Math.sqrt(D)),
  });
  // a = h + attention Woᵀ                                     (T, H)
  const a = g.add(h, g.gemmT(g.reshape(attention, [-1, numHeads * D]), wo));
  g.output(a, 'out', float, ['T', H]);
  return g.build();
}

/** Dense gated MLP layer: h' = a + W_down (SiLU(W_gate x) ⊙ W_up x), x = RMSNorm_post(a). */
export function buildDenseMlpGraph(config: ModelConfig): Uint8Array {
  const { hiddenSize: H, intermediateSize: I } = config;
  const g = new GraphBuilder('deepseek_dense_mlp');
  const a = g.input('hidden', float, ['T', H]);
  const wNorm = g.input('w_post_norm', float, [H]);
  const wGate = g.input('w_gate', float, [I, H]);
  const wUp = g.input('w_up', float, [I, H]);
  const wDown = g.input('w_down', float, [H, I]);
  const x = g.rmsNorm(a, wNorm, config.rmsNormEps);
  const y = g.gemmT(g.mul(g.silu(g.gemmT(x, wGate)), g.gemmT(x, wUp)), wDown);
  g.output(g.add(a, y), 'out', float, ['T', H]);
  return g.build();
}

/**
 * MoE layer with DeepSeekMoE v1 routing (architecture.md 5.1, evaluated in fp32):
 *   scores = softmax(x W_gᵀ); idx, w = topk(scores, K); no normalisation, no scaling
 *   h' = a + Σ_j w_j Expert_idx_j(x) + Shared(x)
 * The routed experts run in com.microsoft.MoE, which takes interleaved gate/up rows (fc1 row 2i = gate_i,
 * row 2i+1 = up_i). MoE picks its own top-k from `router_probs` and softmaxes them; feeding log(w) on our chosen
 * experts and -1e30 elsewhere makes it use exactly our choice with weights w / Σw, and multiplying the output
 * by Σw restores w. So the routing decision is made once, here, by TopK (ties: lower expert index first).
 */
export function buildMoeGraph(config: ModelConfig, options: { saveProbs: boolean }): Uint8Array {
  const { hiddenSize: H, moeIntermediateSize: Im, nRoutedExperts: E, nSharedExperts: Ns, topK: K } = config;
  if (H === Im) {
    // com.microsoft.MoE guesses its weight layout from shapes and takes H == Im for its legacy transposed layout.
    throw new InputError(`hidden_size ${H} equal to moe_intermediate_size is not supported by onnxruntime's MoE operator`, 'config-field');
  }
  const g = new GraphBuilder('deepseek_moe');
  const a = g.input('hidden', float, ['T', H]);
  const wNorm = g.input('w_post_norm', float, [H]);
  const wRouter = g.input('w_router', float, [E, H]);
  const fc1 = g.input('w_experts_gate_up', float, [E, 2 * Im, H]);
  const fc2 = g.input('w_experts_down', float, [E, H, Im]);

  // x = RMSNorm_post(a)                                       (T, H)
  const x = g.rmsNorm(a, wNorm, config.rmsNormEps);
  // scores = softmax(x W_gᵀ)                                  (T, E)
  const logits = g.gemmT(x, wRouter);
  // idx, w = topk(scores, K), in descending order of score    (T, K)
  const { scores, indices, weights } = addGate(g, logits, E, config);
  // routed = Σ_j w_j Expert_idx_j(x)                          (T, H)
  const weightSum = g.reduceSum(weights, [1], true);
  const chosenLogWeights = g.node('Log', [g.node('Max', [weights, g.scalar(1e-37)])]);
  const everywhereMinus = g.node('Expand', [g.scalar(-1e30), g.node('Shape', [logits])]);
  const routerProbs = g.node('ScatterElements', [everywhereMinus, indices, chosenLogWeights], { axis: attr.int(1) });
  // Shared(x), one gated MLP of width Ns * Im, unweighted. Built before the MoE node on purpose: onnxruntime
  // lets MoE write its output over its input x (MayInplace), which zeroed x for any consumer ordered after it.
  let shared = '';
  if (Ns > 0) {
    const wsGate = g.input('w_shared_gate', float, [Ns * Im, H]);
    const wsUp = g.input('w_shared_up', float, [Ns * Im, H]);
    const wsDown = g.input('w_shared_down', float, [H, Ns * Im]);
    shared = g.gemmT(g.mul(g.silu(g.gemmT(x, wsGate)), g.gemmT(x, wsUp)), wsDown);
  }
  const routedNormalised = g.node(
    'MoE',
    [x, routerProbs, fc1, '', fc2],
    { k: attr.int(K), activation_type: attr.string('swiglu'), swiglu_fusion: attr.int(1), normalize_routing_weights: attr.int(0) },
    undefined,
    'com.microsoft',
  );
  const routed = g.mul(routedNormalised, weightSum);
  const y = shared ? g.add(routed, shared) : routed;
  g.output(g.add(a, y), 'out', float, ['T', H]);
  g.output(g.node('Cast', [indices], { to: attr.int(int32) }), 'topk_ids', int32, ['T', K]);
  g.output(weights, 'topk_weights', float, ['T', K]);
  g.output(g.reduceSum(scores, [0], false), 'score_sum', float, [E]);
  if (options.saveProbs) g.output(scores, 'scores', float, ['T', E]);
  return g.build();
}
