/**
 * Checkpoint tensor names of every family (architecture.md 3.2 and section 6). Each family names the same
 * parts differently; the runtime, the reference and `synth` all look names up here.
 */
import { familyOf, type ModelConfig, type ModelType } from './config.js';

export interface LayerTensorNames {
  inputNorm: string;
  postNorm: string;
  /** Standard attention (V1, Mixtral, Qwen2-MoE, OLMoE); MLA V2-Lite's q_proj too. */
  q: string;
  k: string;
  v: string;
  o: string;
  /** Qwen2-MoE biases. */
  qBias: string;
  kBias: string;
  vBias: string;
  /** OLMoE q/k norms. */
  qNorm: string;
  kNorm: string;
  /** MLA (V2/V3). */
  qA: string;
  qANorm: string;
  qB: string;
  kvA: string;
  kvANorm: string;
  kvB: string;
  denseGate: string;
  denseUp: string;
  denseDown: string;
  router: string;
  /** V3 e_score_correction_bias, stored F32. */
  routerBias: string;
  expertGate(e: number): string;
  expertUp(e: number): string;
  expertDown(e: number): string;
  sharedGate: string;
  sharedUp: string;
  sharedDown: string;
  /** Qwen2-MoE shared_expert_gate [1, H]. */
  sharedExpertGate: string;
}

export interface TensorNames {
  embedding: string;
  finalNorm: string;
  lmHead: string;
  layer(l: number): LayerTensorNames;
}

export function tensorNames(config: ModelConfig | ModelType): TensorNames {
  const family = familyOf(typeof config === 'string' ? config : config.modelType);
  return {
    embedding: 'model.embed_tokens.weight',
    finalNorm: 'model.norm.weight',
    lmHead: 'lm_head.weight',
    layer(l: number): LayerTensorNames {
      const p = `model.layers.${l}.`;
      const a = `${p}self_attn.`;
      // Mixtral keeps its MoE block under block_sparse_moe with experts w1 (gate), w3 (up), w2 (down).
      const moe = family === 'mixtral' ? `${p}block_sparse_moe.` : `${p}mlp.`;
      const expert = (e: number, part: 'gate' | 'up' | 'down') =>
        family === 'mixtral' ? `${moe}experts.${e}.${{ gate: 'w1', up: 'w3', down: 'w2' }[part]}.weight` : `${moe}experts.${e}.${part}_proj.weight`;
      const shared = family === 'qwen2_moe' ? `${p}mlp.shared_expert.` : `${p}mlp.shared_experts.`;
      return {
        inputNorm: `${p}input_layernorm.weight`,
        postNorm: `${p}post_attention_layernorm.weight`,
        q: `${a}q_proj.weight`,
        k: `${a}k_proj.weight`,
        v: `${a}v_proj.weight`,
        o: `${a}o_proj.weight`,
        qBias: `${a}q_proj.bias`,
        kBias: `${a}k_proj.bias`,
        vBias: `${a}v_proj.bias`,
        qNorm: `${a}q_norm.weight`,
        kNorm: `${a}k_norm.weight`,
        qA: `${a}q_a_proj.weight`,
        qANorm: `${a}q_a_layernorm.weight`,
        qB: `${a}q_b_proj.weight`,
        kvA: `${a}kv_a_proj_with_mqa.weight`,
        kvANorm: `${a}kv_a_layernorm.weight`,
        kvB: `${a}kv_b_proj.weight`,
        denseGate: `${p}mlp.gate_proj.weight`,
        denseUp: `${p}mlp.up_proj.weight`,
        denseDown: `${p}mlp.down_proj.weight`,
        router: `${moe}gate.weight`,
        routerBias: `${moe}gate.e_score_correction_bias`,
        expertGate: (e) => expert(e, 'gate'),
        expertUp: (e) => expert(e, 'up'),
        expertDown: (e) => expert(e, 'down'),
        sharedGate: `${shared}gate_proj.weight`,
        sharedUp: `${shared}up_proj.weight`,
        sharedDown: `${shared}down_proj.weight`,
        sharedExpertGate: `${p}mlp.shared_expert_gate.weight`,
      };
    },
  };
}

/** A tensor the checkpoint must hold, with the shape config.json implies. */
export interface TensorShape {
  name: string;
  shape: number[];
  /** The graph input it feeds (runtime/layer-weights.ts); routed experts are fed another way. */
  input?: string;
}

/** The attention tensors of layer l (input norm first), with their shapes (architecture.md 3.2). */
export function attentionTensors(config: ModelConfig, l: number): TensorShape[] {
  const n = tensorNames(config).layer(l);
  const H = config.hiddenSize;
  const att = config.attention;
  const norm: TensorShape = { name: n.inputNorm, shape: [H], input: 'w_input_norm' };
  if (att.kind === 'mla') {
    const { numHeads: nh, qLoraRank, kvLoraRank, qkNopeHeadDim: dn, qkRopeHeadDim: dr, vHeadDim: dv } = att;
    const q: TensorShape[] = qLoraRank === null
      ? [{ name: n.q, shape: [nh * (dn + dr), H], input: 'w_q' }]
      : [
          { name: n.qA, shape: [qLoraRank, H], input: 'w_q_a' },
          { name: n.qANorm, shape: [qLoraRank], input: 'w_q_a_norm' },
          { name: n.qB, shape: [nh * (dn + dr), qLoraRank], input: 'w_q_b' },
        ];
    return [
      norm,
      ...q,
      { name: n.kvA, shape: [kvLoraRank + dr, H], input: 'w_kv_a' },
      { name: n.kvANorm, shape: [kvLoraRank], input: 'w_kv_a_norm' },
      { name: n.kvB, shape: [nh * (dn + dv), kvLoraRank], input: 'w_kv_b' },
      { name: n.o, shape: [H, nh * dv], input: 'w_o' },
    ];
  }
  const { numHeads, numKvHeads, headDim: D } = att;
  const tensors: TensorShape[] = [
    norm,
    { name: n.q, shape: [numHeads * D, H], input: 'w_q' },
    { name: n.k, shape: [numKvHeads * D, H], input: 'w_k' },
    { name: n.v, shape: [numKvHeads * D, H], input: 'w_v' },
  ];
  if (att.qkvBias) {
    tensors.push({ name: n.qBias, shape: [numHeads * D], input: 'b_q' }, { name: n.kBias, shape: [numKvHeads * D], input: 'b_k' }, { name: n.vBias, shape: [numKvHeads * D], input: 'b_v' });
  }
  tensors.push({ name: n.o, shape: [H, numHeads * D], input: 'w_o' });
  if (att.qkNorm) tensors.push({ name: n.qNorm, shape: [numHeads * D], input: 'w_q_norm' }, { name: n.kNorm, shape: [numKvHeads * D], input: 'w_k_norm' });
  return tensors;
}

/** The feed-forward tensors of layer l (post-attention norm first): a dense MLP, or router, experts and shared expert. */
export function ffnTensors(config: ModelConfig, l: number): TensorShape[] {
  const n = tensorNames(config).layer(l);
  const { hiddenSize: H, intermediateSize: I, nRoutedExperts: E, sharedIntermediateSize: S } = config;
  const norm: TensorShape = { name: n.postNorm, shape: [H], input: 'w_post_norm' };
  if (config.layerKinds[l] === 'dense') {
    return [norm, { name: n.denseGate, shape: [I, H], input: 'w_gate' }, { name: n.denseUp, shape: [I, H], input: 'w_up' }, { name: n.denseDown, shape: [H, I], input: 'w_down' }];
  }
  const tensors: TensorShape[] = [norm, { name: n.router, shape: [E, H], input: 'w_router' }];
  if (config.topkMethod === 'noaux_tc') tensors.push({ name: n.routerBias, shape: [E], input: 'w_router_bias' });
  for (let e = 0; e < E; e++) tensors.push(...expertTensors(config, l, e));
  if (S > 0) {
    tensors.push({ name: n.sharedGate, shape: [S, H], input: 'w_shared_gate' }, { name: n.sharedUp, shape: [S, H], input: 'w_shared_up' }, { name: n.sharedDown, shape: [H, S], input: 'w_shared_down' });
  }
  if (config.sharedExpertGate) tensors.push({ name: n.sharedExpertGate, shape: [1, H], input: 'w_shared_expert_gate' });
  return tensors;
}

/** Routed expert e of layer l: its gate, up and down matrices, in that order. */
export function expertTensors(config: ModelConfig, l: number, e: number): [TensorShape, TensorShape, TensorShape] {
  const n = tensorNames(config).layer(l);
  const { hiddenSize: H, moeIntermediateSize: Im } = config;
  return [
    { name: n.expertGate(e), shape: [Im, H] },
    { name: n.expertUp(e), shape: [Im, H] },
    { name: n.expertDown(e), shape: [H, Im] },
  ];
}

/** Every tensor of the checkpoint, in the order the released indexes list them. */
export function checkpointTensors(config: ModelConfig): TensorShape[] {
  const names = tensorNames(config);
  const { hiddenSize: H, vocabSize: V } = config;
  const tensors: TensorShape[] = [{ name: names.embedding, shape: [V, H] }];
  for (let l = 0; l < config.numLayers; l++) {
    tensors.push(...attentionTensors(config, l), ...ffnTensors(config, l));
  }
  tensors.push({ name: names.finalNorm, shape: [H] }, { name: names.lmHead, shape: [V, H] });
  return tensors;
}
