/**
 * The attention half of a decoder layer as an ONNX graph, a = h + Attn(RMSNorm_in(h)), evaluated in fp32:
 * standard attention for DeepSeek V1, Mixtral, Qwen2-MoE and OLMoE (architecture.md 4.1 and section 6), and
 * multi-head latent attention for DeepSeek V2/V3 (4.2-4.4).
 *
 * Prompts are packed one after another and every projection runs on the packed tokens; `positions` restart at 0
 * for each prompt. Attention proper runs on a padded batch of the prompts (runtime/attention-groups.ts):
 * `pad_rows` gathers queries, keys and values into (B, S) slots, `mask` keeps each query to its own prompt's
 * causal block, and `unpad_slots` gathers the results back to the packed tokens. Weights are graph inputs, so
 * one session serves every layer. cos/sin come in as tables (models/rope.ts), so YaRN is only a different table.
 */
import { attr, GraphBuilder } from '../runtime/graph-builder.js';
import { TensorType } from '../runtime/onnx-proto.js';
import type { MhaAttention, MlaAttention, ModelConfig } from './config.js';

const { float, int64 } = TensorType;

/** The graph inputs every attention graph shares. */
function commonInputs(g: GraphBuilder, config: ModelConfig) {
  const H = config.hiddenSize;
  return {
    h: g.input('hidden', float, ['T', H]),
    positions: g.input('positions', int64, [1, 'T']),
    padRows: g.input('pad_rows', int64, ['B', 'S']),
    unpadSlots: g.input('unpad_slots', int64, ['T']),
    mask: g.input('mask', float, ['B', 1, 'S', 'S']),
    cos: g.input('cos', float, ['P', config.rope.dim / 2]),
    sin: g.input('sin', float, ['P', config.rope.dim / 2]),
    wNorm: g.input('w_input_norm', float, [H]),
  };
}

export function buildAttentionGraph(config: ModelConfig): Uint8Array {
  return config.attention.kind === 'mla' ? buildMlaGraph(config, config.attention) : buildMhaGraph(config, config.attention);
}

/** Standard attention: per-head q, k, v; grouped-query when there are fewer kv heads; rotate-half RoPE. */
function buildMhaGraph(config: ModelConfig, attention: MhaAttention): Uint8Array {
  const { numHeads, numKvHeads, headDim: D, qkvBias, qkNorm } = attention;
  const H = config.hiddenSize;
  const g = new GraphBuilder('mha_attention');
  const { h, positions, padRows, unpadSlots, mask, cos, sin, wNorm } = commonInputs(g, config);
  const wq = g.input('w_q', float, [numHeads * D, H]);
  const wk = g.input('w_k', float, [numKvHeads * D, H]);
  const wv = g.input('w_v', float, [numKvHeads * D, H]);
  const wo = g.input('w_o', float, [H, numHeads * D]);
  const bias = qkvBias
    ? { q: g.input('b_q', float, [numHeads * D]), k: g.input('b_k', float, [numKvHeads * D]), v: g.input('b_v', float, [numKvHeads * D]) }
    : undefined;
  const norms = qkNorm ? { q: g.input('w_q_norm', float, [numHeads * D]), k: g.input('w_k_norm', float, [numKvHeads * D]) } : undefined;

  // x = RMSNorm_in(h)                                         (T, H)
  const x = g.rmsNorm(h, wNorm, config.rmsNormEps);
  // q, k, v = x Wᵀ (+ b)                                      (T, heads * D)
  let q = g.gemmT(x, wq, bias?.q);
  let k = g.gemmT(x, wk, bias?.k);
  const v = g.gemmT(x, wv, bias?.v);
  // OLMoE normalises q and k over their full width, before heads are split.
  if (norms) {
    q = g.rmsNorm(q, norms.q, config.rmsNormEps);
    k = g.rmsNorm(k, norms.k, config.rmsNormEps);
  }
  // RoPE, rotate-half pairing (i, i + D/2)                    (1, T, heads * D)
  const rope = (t: string, heads: number) =>
    g.node('RotaryEmbedding', [g.reshape(t, [1, -1, heads * D]), cos, sin, positions], { interleaved: attr.int(0), num_heads: attr.int(heads) });
  // softmax(q kᵀ · scale + mask) v per head; kv head j serves query heads j·G .. j·G + G - 1
  addAttentionOutput(g, { h, wo, padRows, unpadSlots, mask, queries: rope(q, numHeads), keys: rope(k, numKvHeads), values: v }, {
    heads: numHeads,
    kvHeads: numKvHeads,
    keyWidth: D,
    valueWidth: D,
    scale: attention.softmaxScale,
    hiddenSize: H,
  });
  return g.build();
}

/**
 * softmax(Q Kᵀ · scale + mask) V per head over the padded batch, back to the packed tokens, then the output
 * `out` = h + heads Woᵀ   (T, H). Queries, keys and values come packed, one row per token.
 */
function addAttentionOutput(
  g: GraphBuilder,
  tensors: { h: string; wo: string; padRows: string; unpadSlots: string; mask: string; queries: string; keys: string; values: string },
  shape: { heads: number; kvHeads: number; keyWidth: number; valueWidth: number; scale: number; hiddenSize: number },
): void {
  // one row per token (T, width) -> slots (B, S, width)
  const padded = (t: string, width: number) => g.node('Gather', [g.reshape(t, [-1, width]), tensors.padRows], { axis: attr.int(0) });
  const { heads, kvHeads, keyWidth, valueWidth } = shape;
  const queries = padded(tensors.queries, heads * keyWidth);
  const keys = padded(tensors.keys, kvHeads * keyWidth);
  const values = padded(tensors.values, kvHeads * valueWidth);
  const attended = g.node('Attention', [queries, keys, values, tensors.mask], {
    q_num_heads: attr.int(shape.heads),
    kv_num_heads: attr.int(shape.kvHeads),
    scale: attr.float(shape.scale),
  });
  const width = heads * valueWidth;
  const packed = g.node('Gather', [g.reshape(attended, [-1, width]), tensors.unpadSlots], { axis: attr.int(0) });
  const a = g.add(tensors.h, g.gemmT(packed, tensors.wo));
  g.output(a, 'out', float, ['T', shape.hiddenSize]);
}

/**
 * Multi-head latent attention (architecture.md 4.2, naive form): q and a compressed kv are projected from x;
 * each head's key is [k_nope_h | RoPE(k_pe)], with one rotated k_pe shared by all heads; RoPE on the rope
 * slices pairs dimensions (2i, 2i+1) (4.3).
 */
function buildMlaGraph(config: ModelConfig, attention: MlaAttention): Uint8Array {
  const { numHeads: nh, qLoraRank, kvLoraRank, qkNopeHeadDim: dn, qkRopeHeadDim: dr, vHeadDim: dv } = attention;
  const H = config.hiddenSize;
  const eps = config.rmsNormEps;
  // q_a_layernorm and kv_a_layernorm keep the RMSNorm constructor's default eps, not rms_norm_eps (architecture.md 1).
  const latentEps = 1e-6;
  const g = new GraphBuilder('mla_attention');
  const { h, positions, padRows, unpadSlots, mask, cos, sin, wNorm } = commonInputs(g, config);
  const q = qLoraRank === null
    ? { w: g.input('w_q', float, [nh * (dn + dr), H]) }
    : { a: g.input('w_q_a', float, [qLoraRank, H]), aNorm: g.input('w_q_a_norm', float, [qLoraRank]), b: g.input('w_q_b', float, [nh * (dn + dr), qLoraRank]) };
  const wKvA = g.input('w_kv_a', float, [kvLoraRank + dr, H]);
  const wKvANorm = g.input('w_kv_a_norm', float, [kvLoraRank]);
  const wKvB = g.input('w_kv_b', float, [nh * (dn + dv), kvLoraRank]);
  const wo = g.input('w_o', float, [H, nh * dv]);
  const split = (t: string, axis: number, sizes: number[]) => g.multiNode('Split', [t, g.int64s(sizes)], sizes.length, { axis: attr.int(axis) });
  const rope = (t: string, heads: number) =>
    g.node('RotaryEmbedding', [g.reshape(t, [1, -1, heads * dr]), cos, sin, positions], { interleaved: attr.int(config.rope.interleaved ? 1 : 0), num_heads: attr.int(heads) });

  // x = RMSNorm_in(h)                                         (T, H)
  const x = g.rmsNorm(h, wNorm, eps);
  // q = x W_qᵀ, or RMSNorm(x W_qaᵀ) W_qbᵀ; per head [q_nope | q_pe]      (T, nh, dn + dr)
  const qFlat = q.w ? g.gemmT(x, q.w) : g.gemmT(g.rmsNorm(g.gemmT(x, q.a!), q.aNorm!, latentEps), q.b!);
  const [qNope, qPe] = split(g.reshape(qFlat, [-1, nh, dn + dr]), 2, [dn, dr]);
  // [c_kv | k_pe] = x W_kvaᵀ                                 (T, kv_lora + dr)
  const [cKv, kPe] = split(g.gemmT(x, wKvA), 1, [kvLoraRank, dr]);
  // per head [k_nope | v] = RMSNorm(c_kv) W_kvbᵀ; k_pe is not normalised    (T, nh, dn + dv)
  const [kNope, v] = split(g.reshape(g.gemmT(g.rmsNorm(cKv, wKvANorm, latentEps), wKvB), [-1, nh, dn + dv]), 2, [dn, dv]);
  // RoPE on q_pe of every head and on the one shared k_pe
  const qPeRotated = g.reshape(rope(qPe, nh), [-1, nh, dr]);
  const kPeRotated = g.reshape(rope(kPe, 1), [-1, 1, dr]);
  const kPeEveryHead = g.node('Expand', [kPeRotated, g.int64s([1, nh, 1])]);
  // Q_h = [q_nope_h | RoPE(q_pe_h)], K_h = [k_nope_h | RoPE(k_pe)]      (T, nh, dn + dr)
  const queries = g.node('Concat', [qNope, qPeRotated], { axis: attr.int(2) });
  const keys = g.node('Concat', [kNope, kPeEveryHead], { axis: attr.int(2) });
  // softmax(Q Kᵀ · s + mask) V per head, s with YaRN's mscale² (4.4); a = h + heads Woᵀ
  addAttentionOutput(g, { h, wo, padRows, unpadSlots, mask, queries, keys, values: v }, { heads: nh, kvHeads: nh, keyWidth: dn + dr, valueWidth: dv, scale: attention.softmaxScale, hiddenSize: H });
  return g.build();
}
